"""Log a trained agent as an MLflow pyfunc model that answers market bars, and register it
once per session.

The model is served_policy.py (logged as code), qraptor's source (`code_paths`: the run's
own feature and normalisation code travels with it) and the run folder's config.yaml,
data.json and model zip (its one artifact). Its signature (bars in, labelled decisions
out) and input example (bars of the first evaluation split, params ``decisions``) come
from running it on real bars before it is logged. Requirements are pinned from the
installed versions of qraptor's own dependencies instead of letting MLflow infer them
(that loads the model in a subprocess: seconds per session). `mlflow models serve -m
models:/<name>/<version> --env-manager local` then answers POST /invocations with
``{"dataframe_split": {"columns": ["timestamp", "open", ...], "data": [...]}, "params":
{"decisions": 3}}`` by ``{"predictions": [{"timestamp": ..., "action_name": "long", ...}]}``.
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.models import ModelSignature, infer_signature
from mlflow.models.model import ModelInfo

from qraptor.core import layout
from qraptor.core.errors import DataError
from qraptor.core.log import get_logger
from qraptor.tracking.runs import TrackingError, detach_active, quiet_mlflow

log = get_logger(__name__)
SERVED_CODE = Path(__file__).with_name("served_policy.py")
PACKAGE = Path(__file__).resolve().parents[1]  # src/qraptor: logged as the model's code
MODEL_NAME = "policy"  # the logged model's name inside its run
AGENT_ARTIFACT = "agent"  # the folder artifact: config.yaml, data.json, model.zip
EXAMPLE_DECISIONS = 3
RAW_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume", "vwap", "trades")


def log_policy_model(
    run_dir: Path, model_zip: Path, *, root: Path | None = None, run_id: str | None = None
) -> ModelInfo:
    """Log the agent of run folder `run_dir` (its config and data record, the model
    `model_zip`) to MLflow run `run_id` (default: the active run). MLflow files a logged
    model under the run active in this thread, and its registered versions under that run
    too; a session names its run, so that a run left active by anything else cannot take
    its model. Registering it is a separate step (`register_policy`), taken once the run is
    known to be the session's one finished training."""
    if run_id is not None:
        _make_active(run_id)
    from qraptor.evaluation.serving import as_served
    from qraptor.tracking.served_agent import ServedAgent

    quiet_mlflow()
    with tempfile.TemporaryDirectory(prefix="qraptor-pyfunc-") as tmp, _known_notices_muted():
        agent_dir = Path(tmp) / AGENT_ARTIFACT
        agent_dir.mkdir()
        for name in (layout.CONFIG, layout.DATA_RECORD):
            shutil.copy2(Path(run_dir) / name, agent_dir / name)
        shutil.copy2(model_zip, agent_dir / layout.MODEL)
        code = Path(tmp) / "code" / PACKAGE.name
        shutil.copytree(PACKAGE, code, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        decider = ServedAgent.load(agent_dir)
        bars = example_bars(decider, root)
        params = {"decisions": EXAMPLE_DECISIONS, "start": ""}
        decisions = as_served(decider.decide(bars, decisions=EXAMPLE_DECISIONS))
        inferred = infer_signature(None, decisions, params)
        # no input schema: served_policy.py says why
        signature = ModelSignature(inputs=None, outputs=inferred.outputs, params=inferred.params)
        info = _log_model(bars, agent_dir, code, signature)
    log.info("policy logged as %s (bars in, decisions out)", info.model_uri)
    return info


MUTED_NOTICES = (
    # no type hints on predict on purpose (served_policy.py says why)
    "Add type hints to the `predict` method",
    # the decisions' and the bars' integer columns are never missing
    "Inferred schema contains integer column",
)


@contextlib.contextmanager
def _known_notices_muted() -> Iterator[None]:
    """MLflow's notices that are known and answered here, muted; every other warning still
    shows. Not by `filterwarnings`: MLflow wraps these calls in its own `catch_warnings`
    with `simplefilter("once")`, which goes before any filter of ours, so the notices are
    dropped where warnings are shown."""
    shown = warnings.showwarning

    def show(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        if not any(notice in str(message) for notice in MUTED_NOTICES):
            shown(message, category, *args, **kwargs)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = shown


def _log_model(bars: pd.DataFrame, agent_dir: Path, code: Path, signature: Any) -> ModelInfo:
    return mlflow.pyfunc.log_model(
        name=MODEL_NAME,
        python_model=str(SERVED_CODE),
        artifacts={AGENT_ARTIFACT: str(agent_dir)},
        code_paths=[str(code)],
        signature=signature,
        input_example=(bars, {"decisions": EXAMPLE_DECISIONS}),
        pip_requirements=pinned_requirements(),
    )


def _make_active(run_id: str) -> None:
    """Run `run_id` as this thread's active run (pyfunc logging files the model under the
    active one): another run found active is said and set aside, not ended."""
    active = mlflow.active_run()
    if active is not None and active.info.run_id == run_id:
        return
    if active is not None:
        log.warning(
            "MLflow run %s was active while logging the model of run %s: set aside",
            active.info.run_id, run_id,
        )  # fmt: skip
        detach_active(active.info.run_id)
    mlflow.start_run(run_id=run_id)


def register_policy(
    model_uri: str,
    name: str,
    run_id: str,
    version_tags: Mapping[str, str] | None = None,
    *,
    description: str | None = None,
) -> str:
    """Register `model_uri` as a version of `name`, unless run `run_id` has a version of
    `name` already (an earlier attempt registered, then died): once per run, and so once
    per session. `description` (the model card, cut to MLflow's limit by the caller) is
    set on the version either way: an attempt that died between registering and
    describing leaves it to the next. The version number."""
    client = mlflow.MlflowClient()
    existing = client.search_model_versions(f"name = '{_quoted(name)}' and run_id = '{run_id}'")
    if existing:
        version = str(min(int(v.version) for v in existing))
        log.info("policy already registered as %s v%s", name, version)
    else:
        with contextlib.redirect_stderr(io.StringIO()):  # MLflow prints what the log says next
            registered = mlflow.register_model(model_uri, name, tags=dict(version_tags or {}))
        version = str(registered.version)
        if registered.run_id != run_id:  # filed under the run that logged the model
            raise TrackingError(
                f"{name} v{version} ({model_uri}) was registered under MLflow run "
                f"{registered.run_id}, not {run_id}: the model was logged into another run"
            )
        log.info("policy registered as %s v%s", name, version)
    if description is not None:
        try:
            client.update_model_version(name, version, description=description)
        except Exception as exc:  # the version is registered: a missing text must not undo it
            log.warning("%s v%s: description (model card) not set: %s", name, version, exc)
    return version


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def pinned_requirements() -> list[str]:
    """name==version of qraptor's own dependencies (what its code, logged with the model,
    imports), as installed here; extras left out."""
    pins = []
    for requirement in metadata.requires("qraptor") or []:
        if "extra ==" in requirement:
            continue
        name = re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0]
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pins.append(requirement)
    return pins


def example_bars(decider: Any, root: Path | None = None) -> pd.DataFrame:
    """Bars of the run's first evaluation split, as a client sends them (the raw columns):
    as few as make EXAMPLE_DECISIONS decisions after the features' warm-up."""
    from qraptor.data.split import load_split
    from qraptor.train.config import resolve_dataset

    s = decider.config.session
    frame = load_split(resolve_dataset(s.dataset, root), s.eval.splits[0], s.fold)
    frame = frame[[c for c in RAW_COLUMNS if c in frame.columns]].copy()
    frame["timestamp"] = pd.DatetimeIndex(frame["timestamp"]).strftime("%Y-%m-%dT%H:%M:%SZ")
    count = decider.config.env.window + EXAMPLE_DECISIONS
    while True:  # the warm-up is not known before the features are made: grow until enough
        bars = frame.iloc[:count].reset_index(drop=True)
        try:
            decider.decide(bars, decisions=EXAMPLE_DECISIONS)
            return bars
        except DataError as exc:
            if exc.rule != "too_few_bars" or count >= len(frame):
                raise
            count = min(2 * count, len(frame))
