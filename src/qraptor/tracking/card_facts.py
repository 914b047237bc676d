"""The facts a model card states, read from a run folder's files and nothing else.

A card is regenerated from the folder alone (`qraptor card models/agent`, months later, on
another machine), so every figure it prints comes from a file the run left:

    config.yaml                 the resolved config (diffed against the defaults given)
    metrics.json                the session summary: per split the agent, the baselines,
                                the random runs, the verdict; the model selected
    eval/<split>/metrics.json   the same per split (used for a split metrics.json lacks)
    data.json                   source, pipeline settings, spans, dataset version, bars/year
    provenance.json             the git commit and whether the checkout was dirty
    validation.csv              the in-training validation curve (train/validation.py)
    logs/from_*/progress.csv    SB3's training log: the reward curve (tracking.artifacts)

Only config.yaml and metrics.json are required; a missing optional file is a line in the
card saying it was not recorded, never an error.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from qraptor.core import layout
from qraptor.core.errors import DataError, QraptorError
from qraptor.core.log import get_logger
from qraptor.train.validation import read_validation

log = get_logger(__name__)
# Keys left out of the config diff: a path and a label that differ between any two runs
# without changing the model (the card's data section and title show them).
DIFF_NOISE = frozenset({"session.dataset", "session.name"})


@dataclass(frozen=True)
class ConfigChange:
    """One config key whose value differs from the defaults."""

    key: str
    value: Any
    default: Any  # MISSING_KEY when the defaults have no such key

    @property
    def line(self) -> str:
        was = "(not in the defaults)" if self.default is MISSING_KEY else _show(self.default)
        return f"{self.key}: {_show(self.value)} (default {was})"


MISSING_KEY: Any = object()


@dataclass(frozen=True)
class RunFacts:
    """Everything a model card is made from; see the module docstring for the files."""

    run_dir: Path
    config: dict[str, Any]
    summary: dict[str, Any]
    record: dict[str, Any] | None = None
    code: dict[str, Any] | None = None
    validation: list[dict[str, float]] | None = None
    reward: list[tuple[int, float]] = field(default_factory=list)  # (timesteps, mean reward)

    @property
    def splits(self) -> dict[str, dict[str, Any]]:
        return dict(self.summary.get("splits") or {})

    @property
    def session(self) -> dict[str, Any]:
        return dict(self.config.get("session") or {})

    @property
    def validation_metric(self) -> str:
        """What "best" meant in the in-training validation (session.validation.metric)."""
        return str((self.session.get("validation") or {}).get("metric") or "sharpe")

    @property
    def periods_per_year(self) -> float | None:
        value = (self.record or {}).get("periods_per_year")
        return float(value) if isinstance(value, int | float) and value > 0 else None


def read_run_facts(run_dir: str | Path) -> RunFacts:
    """The facts of run folder `run_dir`; a DataError naming the file when the folder or
    one of its required files (config.yaml, metrics.json) is missing or unreadable."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(run_dir, "not a run folder (no such directory)")
    if not (run_dir / layout.CONFIG).is_file() and not (run_dir / layout.METRICS).is_file():
        raise DataError(
            run_dir, f"not a run folder: it has neither {layout.CONFIG} nor {layout.METRICS}"
        )
    summary = _required(run_dir / layout.METRICS, _json)  # written last: the run is finished
    config = _required(run_dir / layout.CONFIG, _yaml)
    splits = dict(summary.get("splits") or {})
    for folder in sorted((run_dir / layout.EVAL_DIR).glob("*/")):
        metrics = folder / layout.METRICS
        if folder.name not in splits and metrics.is_file():
            splits[folder.name] = _required(metrics, _json)
    summary = {**summary, "splits": splits}
    validation = None
    if (run_dir / layout.VALIDATION).is_file():
        try:
            validation = read_validation(run_dir / layout.VALIDATION)
        except (ValueError, OSError) as exc:
            raise DataError(run_dir / layout.VALIDATION, f"unreadable: {exc}") from None
    return RunFacts(
        run_dir=run_dir,
        config=config,
        summary=summary,
        record=_optional(run_dir / layout.DATA_RECORD),
        code=_optional(run_dir / layout.PROVENANCE),
        validation=validation,
        reward=_reward_curve(run_dir),
    )


def config_diff(config: Mapping[str, Any], defaults: Mapping[str, Any]) -> list[ConfigChange]:
    """The keys of `config` (a resolved config, nested) whose values differ from
    `defaults`' (the same shape), in key order; lists compare whole; DIFF_NOISE skipped."""
    ours, theirs = _flat(config), _flat(defaults)
    changes = []
    for key in sorted(ours):
        if key in DIFF_NOISE:
            continue
        default = theirs.get(key, MISSING_KEY)
        if default is MISSING_KEY or not _same(ours[key], default):
            changes.append(ConfigChange(key, ours[key], default))
    return changes


def default_train_config(conf_dir: Path) -> dict[str, Any]:
    """conf/train.yaml composed with no overrides, validated and resolved as a session's
    config.yaml is: what a run's config is diffed against.

    Composes even inside a running Hydra app (`qraptor train` is one, and Hydra allows one
    global instance): the app's instance is set aside for the compose and put back."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.singleton import Singleton

    from qraptor.core.config import compose
    from qraptor.train.config import TRAIN_CONFIG, train_config_from

    running = Singleton._instances.pop(GlobalHydra, None)
    try:
        return train_config_from(compose(TRAIN_CONFIG, [], conf_dir)).to_dict()
    finally:
        if running is not None:
            Singleton._instances[GlobalHydra] = running


def train_defaults(conf_dir: Path | None) -> dict[str, Any] | None:
    """`default_train_config(conf_dir)` for an entry point that trains (`qraptor train`,
    `qraptor worker`): None, with a warning, when there is no conf/ or it does not compose;
    the cards then have no config diff, and training goes on."""
    if conf_dir is None:
        log.warning("model cards without a config diff: no conf/ folder found")
        return None
    try:
        return default_train_config(conf_dir)
    except QraptorError as exc:
        log.warning("model cards without a config diff: %s: %s", conf_dir, exc)
        return None


def _flat(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(_flat(value, f"{name}."))
        else:
            out[name] = value
    return out


def _same(a: Any, b: Any) -> bool:
    """Equal as config values: 1 == 1.0, tuples as lists, NaN equal to NaN."""
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return bool(a == b)


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)


def _yaml(text: str) -> Any:
    return yaml.safe_load(text)


def _json(text: str) -> Any:
    return json.loads(text)


def _required(path: Path, parse: Any) -> dict[str, Any]:
    if not path.is_file():
        raise DataError(path, f"missing: a model card is made from a finished run's {path.name}")
    try:
        loaded = parse(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise DataError(path, f"unreadable: {exc}") from None
    if not isinstance(loaded, dict):
        raise DataError(path, "not a mapping (is this a run folder's file?)")
    return loaded


def _optional(path: Path) -> dict[str, Any] | None:
    return _required(path, _json) if path.is_file() else None


def _reward_curve(run_dir: Path) -> list[tuple[int, float]]:
    """SB3's mean episode reward over timesteps (the same log MLflow's reward plot uses)."""
    from qraptor.tracking.artifacts import REWARD_KEY, TIMESTEPS_KEY, training_curve

    curve = training_curve(run_dir)
    if curve is None or REWARD_KEY not in curve:
        return []
    points = curve[[TIMESTEPS_KEY, REWARD_KEY]].dropna()
    return [
        (int(t), float(r)) for t, r in zip(points[TIMESTEPS_KEY], points[REWARD_KEY], strict=True)
    ]
