"""Does a dataset hold enough bars for this environment? Checked once, where training starts.

The environment's window and episode length live in conf/env (training's config), so the
data stages cannot check them; the split stage records its bar budget in splits.json, and
this check extends it: one error lists the data steps' bars (feature warm-up, embargoes,
spans) and every split that is too short for the window or the episode, instead of one
failure per split as each environment is made.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qraptor.core.errors import DataError
from qraptor.data.budget import RULE
from qraptor.data.split import read_metadata
from qraptor.env.config import EnvConfig


def check_dataset_fits(
    dataset: Path,
    cfg: EnvConfig,
    train_split: str,
    eval_splits: Sequence[str],
    fold: int | None = None,
) -> None:
    """Raise one DataError naming every split too short for `cfg`'s window and episode."""
    metadata = read_metadata(dataset)
    if fold is None:
        counts = metadata["chrono"]["counts"]
        where = "split.chrono"
    else:
        folds = metadata["walk_forward"]["folds"]
        if not 0 <= fold < len(folds):
            return  # load_market names the missing fold
        counts = folds[fold]["counts"]
        where = f"split.walk_forward fold {fold}"
    problems = []
    train_needed, train_why = _needs(cfg, cfg.episode.mode)
    if counts.get(train_split, 0) < train_needed:
        problems.append(
            f"{where}: the {train_split} split has {counts.get(train_split, 0)} bars; "
            f"training needs {train_needed} ({train_why})"
        )
    eval_needed, eval_why = _needs(cfg, "full")
    for split in eval_splits:
        if split in counts and counts[split] < eval_needed:
            problems.append(
                f"{where}: the {split} split has {counts[split]} bars; a backtest needs "
                f"{eval_needed} ({eval_why})"
            )
    if problems:
        raise DataError(dataset, _message(metadata, counts, where, problems), rule=RULE)


def _needs(cfg: EnvConfig, mode: str) -> tuple[int, str]:
    if mode == "full":
        return cfg.window + 1, f"env.window {cfg.window} + 1 step"
    return (
        cfg.episode.length + cfg.window,
        f"env.episode.length {cfg.episode.length} + env.window {cfg.window}",
    )


def _message(
    metadata: dict[str, Any], counts: dict[str, int], where: str, problems: list[str]
) -> str:
    budget = metadata.get("budget", {})
    lines = []
    if budget:
        lines.append(
            f"bars in: {budget['bars_in']}; features warm-up {budget['warmup_rows']}, "
            f"embargoes {budget['embargo_rows']} (split.embargo {metadata.get('embargo')})"
        )
    lines.append(f"{where}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return (
        f"the series is too short for the environment: {len(problems)} limit(s) broken\n"
        + "".join(f"    {line}\n" for line in lines)
        + "  broken:\n"
        + "".join(f"    - {p}\n" for p in problems)
        + "  use more data, a shorter env.window / env.episode.length, or other split settings"
    )
