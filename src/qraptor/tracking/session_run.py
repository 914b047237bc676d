"""One MLflow run per training session: the context both the CLI and the worker open.

    with start_session_run(config, session_id=sid, sweep_id=sweep, tags=tags) as tracker:
        result = train_session(cfg, out_dir, tracker.train_hooks(hooks, out_dir))
        tracker.log_result(result, out_dir)

On entry: the experiment (tracking.experiment, else session.name) is found or created,
the sweep's parent run too (runs.py: no duplicates under concurrency), then the session's
run, found again by ``qraptor.session_id`` when a resumed session already has one. Params
(the flattened, scrubbed config) and tags (git commit, data version, session and sweep
ids, worker host...) are logged before training, so a running session is visible. During
training the curves go through `train_hooks`. `log_result` adds the evaluation metrics,
files, plots, the Keras HDF5 export and the pyfunc model. On exit the run ends FINISHED
(the model registered then, once per run), KILLED (stopped early, resumable; Ctrl-C) or
FAILED (any other exception, which propagates, recorded in the tag ``qraptor.error``), and
the sweep's parent is marked finished as of its latest session, carrying the best finished
session's objective and params so far (sweep_parent.py).

A worker passes `guard`, its lease check: it runs before every write to the run (params,
curves, metrics, files, model, registration, the end), and when it raises, the run is left
untouched: the session belongs to another claim now, which reopens the same run, or it
was cancelled and is ended by whoever notices (worker/housekeeping.py).

A tracking server that does not answer fails on entry with a TrackingError, before any
training. With `tracking.enabled: false` the tracker does nothing but the TensorBoard
files (tracking.tensorboard).
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qraptor.core import layout
from qraptor.core.errors import QraptorError, SessionTakenAway
from qraptor.core.extras import require
from qraptor.core.log import get_logger
from qraptor.core.redact import redact_text, redact_uri, scrub
from qraptor.env.portfolio.config import is_portfolio_env
from qraptor.evaluation.metric_names import AGENT, BEATS_RANDOM, OBJECTIVE, metric_key, session_key
from qraptor.tracking.artifacts import log_session_files
from qraptor.tracking.config import (
    TrackingConfig,
    default_artifact_root,
    experiment_name,
    registered_model_name,
    resolve_tracking_uri,
    tracking_config_from,
)
from qraptor.tracking.curves import TENSORBOARD_DIR, CurveLogger
from qraptor.tracking.params import (
    METRICS_PER_BATCH,
    batches,
    evaluation_metrics,
    hparam_values,
    verdict_metrics,
    verdict_tags,
)
from qraptor.train.config import TRAINING_SECTIONS
from qraptor.train.summary import beats_random_share

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.models.model import ModelInfo

    from qraptor.train.callbacks import TrainHooks
    from qraptor.train.result import TrainResult

log = get_logger(__name__)
# An interrupted attempt (Ctrl-C) ends the run KILLED: the attempt that resumes the session
# reopens it. A session taken away (a lost lease) leaves the run alone: not ours to end.
INTERRUPTED = (KeyboardInterrupt,)
# session.select: "final" or "best_val", and the timesteps of the model selected
SELECTED_TAG = "qraptor.selected_model"
SELECTED_TIMESTEPS_TAG = "qraptor.selected_timesteps"


@dataclass
class SessionTracker:
    """What `start_session_run` yields: hooks for training, `log_result` after it."""

    cfg: TrackingConfig
    config: dict[str, Any]  # the session's resolved config (session, algo, env)
    session_id: str | None = None
    sweep_id: str | None = None
    uri: str | None = None  # None: tracking disabled
    client: MlflowClient | None = None
    experiment: str | None = None
    experiment_id: str | None = None
    run_id: str | None = None
    parent_run_id: str | None = None
    resumed: bool = False  # the session's run existed already (a resumed session)
    status: str = "FINISHED"  # how the run ends when the context exits normally
    files: dict[str, Path] = field(default_factory=dict)  # local files made here: keras_h5
    model_info: ModelInfo | None = None  # the logged pyfunc model (and its registration)
    root: Path | None = None  # the project: relative datasets, the default sqlite store
    guard: Callable[[], None] | None = None  # raises when the run may no longer be written
    on_run: Callable[[str], None] | None = None  # told the run id as soon as it exists
    registered_version: str | None = None  # set once the FINISHED run's model is registered
    card: Path | None = None  # the run folder's model card: the registered version's description
    ended: bool = False  # this process ended the run (False: left alone, or not ended yet)
    _curves: CurveLogger | None = None

    def check_guard(self) -> None:
        """Raise (SessionTakenAway) if this process may no longer write to the run."""
        if self.guard is not None:
            self.guard()

    @property
    def enabled(self) -> bool:
        return self.run_id is not None

    def train_hooks(self, hooks: TrainHooks | None, out_dir: Path) -> TrainHooks:
        """`hooks` with `on_log` sending SB3's curves and `on_validation` the eval/* curves
        to MLflow and TensorBoard (hooks already there are kept and called first)."""
        from qraptor.train.callbacks import TrainHooks

        hooks = hooks or TrainHooks()
        tensorboard = Path(out_dir) / TENSORBOARD_DIR if self.cfg.tensorboard else None
        if self._curves is not None:
            self._curves.close()
        self._curves = CurveLogger(
            self.client,
            self.run_id,
            tensorboard,
            self.cfg.curves.every_timesteps,
            self.cfg.curves.flush_seconds,
            self.guard,
            hparams=hparam_values(self.config),
        )
        if self._curves.client is None and tensorboard is None:
            return hooks
        first, first_validation, curves = hooks.on_log, hooks.on_validation, self._curves

        def on_log(values: dict[str, Any], timesteps: int) -> None:
            if first is not None:
                first(values, timesteps)
            curves(values, timesteps)

        def on_validation(metrics: dict[str, float], timesteps: int) -> None:
            if first_validation is not None:
                first_validation(metrics, timesteps)
            curves.validation(metrics, timesteps)

        return dataclasses.replace(hooks, on_log=on_log, on_validation=on_validation)

    def log_result(self, result: TrainResult, out_dir: Path) -> None:
        """Metrics, files, Keras export and pyfunc model of a finished session; a session
        stopped early (resumable) only records where it stopped and ends KILLED."""
        if self._curves is not None:
            self._curves.flush()
        if not self.enabled:
            return
        assert self.client is not None and self.run_id is not None
        self.check_guard()
        if result.stopped_early:
            self.status = "KILLED"
            self.client.set_tag(self.run_id, "qraptor.stopped_at_timesteps", str(result.timesteps))
            return
        out_dir = Path(out_dir)
        card = out_dir / layout.MODEL_CARD
        self.card = card if card.is_file() else None
        self._log_metrics(result, out_dir)
        session = self.config["session"]
        title = f"{session['name']} ({self.config['algo']['name']}, seed {session['seed']})"
        tensorboard = out_dir / TENSORBOARD_DIR if self.cfg.tensorboard else None
        log_session_files(
            self.client, self.run_id, out_dir, result.model_path, list(result.metrics),
            self.cfg.artifacts, tensorboard, title,
        )  # fmt: skip
        if self.cfg.artifacts.keras_h5:
            self.check_guard()
            self._log_keras(_load_policy(self.config["algo"]["name"], result.model_path), out_dir)
        if self.cfg.model.log and is_portfolio_env(self.config["env"]):
            log.warning(
                "a portfolio agent has no served (pyfunc) model yet: nothing is logged or "
                "registered as an MLflow model; its SB3 zip and Keras HDF5 are in the run"
            )
        elif self.cfg.model.log:
            self.check_guard()
            self._log_pyfunc(out_dir, result.model_path)

    def _log_metrics(self, result: TrainResult, out_dir: Path) -> None:
        from mlflow.entities import Metric

        assert self.client is not None and self.run_id is not None  # checked in log_result()
        metrics = evaluation_metrics(result.metrics, result.baselines)
        metrics.update(verdict_metrics(result.verdicts))
        for split, values in result.metrics.items():
            share = beats_random_share(values.get("sharpe"), result.random_sharpes.get(split, []))
            if share is not None:
                metrics[metric_key(split, AGENT, BEATS_RANDOM)] = share
        metrics.update(portfolio_metrics(result.portfolio))
        if result.objective is not None:
            metrics[OBJECTIVE] = result.objective
        metrics[session_key("timesteps")] = float(result.timesteps)
        metrics[session_key("train_seconds")] = result.seconds
        metrics[session_key("timesteps_per_second")] = result.timesteps_per_second
        metrics[session_key("eval_seconds")] = result.eval_seconds
        stamp = int(time.time() * 1000)
        entries = [Metric(k, float(v), stamp, result.timesteps) for k, v in metrics.items()]
        for batch in batches(entries, METRICS_PER_BATCH):
            self.check_guard()
            self.client.log_batch(self.run_id, metrics=batch)
        tags = dict(verdict_tags(result.verdicts))
        if result.selected:  # which model the metrics, files and logged model are of
            tags[SELECTED_TAG] = str(result.selected["model"])
            tags[SELECTED_TIMESTEPS_TAG] = str(result.selected["timesteps"])
        for key, text in tags.items():
            self.check_guard()
            self.client.set_tag(self.run_id, key, text)

    def _log_keras(self, model: Any, out_dir: Path) -> None:
        """The HDF5 export (TensorFlow, imported only here); skipped with a warning when the
        export is not installed or does not support this policy."""
        try:
            from qraptor.tracking.keras_export import export_keras_h5
        except ImportError as exc:
            log.warning("Keras HDF5 export unavailable (%s): skipped", exc)
            return
        path = out_dir / layout.KERAS_H5
        try:
            export_keras_h5(model, path)
        except (NotImplementedError, QraptorError) as exc:  # keras_export.ExportError
            log.warning("Keras HDF5 export of %s skipped: %s", type(model).__name__, exc)
            return
        self.client.log_artifact(self.run_id, str(path), "keras")  # type: ignore[union-attr]
        self.files["keras_h5"] = path

    def _log_pyfunc(self, out_dir: Path, model_zip: Path) -> None:
        """Log the pyfunc model into the run; it is registered when the run ends FINISHED
        (`register_model`), so an attempt that fails or loses its lease registers nothing."""
        from qraptor.tracking.pyfunc import log_policy_model

        self.model_info = log_policy_model(out_dir, model_zip, root=self.root, run_id=self.run_id)

    def register_model(self) -> str | None:
        """Register the logged model (tracking.model.register), once per run: a run that
        has a version of that name already (an attempt that died after registering) keeps
        it. The version, or None when nothing is registered."""
        if self.model_info is None or not self.cfg.model.register or not self.enabled:
            return None
        assert self.run_id is not None
        description = None
        if self.card is not None:
            from qraptor.tracking.model_card import card_description

            artifact = f"runs:/{self.run_id}/{layout.MODEL_CARD}"
            description = card_description(self.card.read_text(encoding="utf-8"), artifact)
        self.registered_version = _register(
            self.cfg, self.config, self.model_info.model_uri, self.run_id, self.session_id,
            self.sweep_id, description,
        )  # fmt: skip
        return self.registered_version


@contextmanager
def start_session_run(
    cfg_dict: Mapping[str, Any],
    *,
    session_id: str | None = None,
    sweep_id: str | None = None,
    tags: Mapping[str, str] | None = None,
    tracking: TrackingConfig | None = None,
    experiment_preset: str | None = None,
    run_name: str | None = None,
    root: Path | None = None,
    guard: Callable[[], None] | None = None,
    run_id: str | None = None,
    on_run: Callable[[str], None] | None = None,
) -> Iterator[SessionTracker]:
    """The MLflow run of one session, open for the duration of the `with` block.

    `cfg_dict`: the session's resolved config (at least session, algo, env; other sections
    are not params). `session_id`: the MongoDB session id (a resumed session reuses its
    run). `sweep_id`: nest the run under that sweep's parent run. `tags`: extra run tags
    (e.g. ``{"qraptor.worker_id": ...}``). `tracking`: the settings, by default
    `cfg_dict["tracking"]` or conf/tracking/default.yaml. `experiment_preset`: the
    `experiment=NAME` preset, recorded as a tag. `run_name`: by default
    ``<session.name>-<algo>-seed<seed>[-fold<k>]``. `root`: the project (where a relative
    dataset and the default sqlite store are; the caller's, default the current one).
    `guard`: called before every write to the run; when it raises, the run is left as it
    is (a worker's lease check, LeaseKeeper.confirm). `run_id`: the session's run as the
    store recorded it (reopened directly, without a search). `on_run(run_id)`: called as
    soon as the run exists, before params are logged (the worker stores it on the session).
    """
    config = {k: v for k, v in dict(cfg_dict).items() if k in TRAINING_SECTIONS}
    cfg = tracking or tracking_config_from(cfg_dict)
    tracker = SessionTracker(
        cfg=cfg, config=config, session_id=session_id, sweep_id=sweep_id, root=root,
        guard=guard, on_run=on_run,
    )  # fmt: skip
    if cfg.enabled:
        require("mlflow", "tracking")
        tracker.check_guard()
        _open(tracker, dict(tags or {}), experiment_preset, run_name, run_id)
    try:
        yield tracker
    except BaseException as exc:
        _close(tracker, "KILLED" if isinstance(exc, INTERRUPTED) else "FAILED", exc)
        raise
    _close(tracker, tracker.status, None)


def create_sweep_run(
    cfg_dict: Mapping[str, Any],
    sweep_id: str,
    *,
    tracking: TrackingConfig | None = None,
    tags: Mapping[str, str] | None = None,
    root: Path | None = None,
) -> str | None:
    """Create (or find) sweep `sweep_id`'s parent run up front, in the experiment its
    sessions will use (`cfg_dict` is any of them); None when tracking is disabled.

    For a submitter queueing a sweep for workers: the parent then exists before any worker
    asks for it. Optional: workers find or create it themselves, without duplicates.
    """
    from qraptor.tracking import runs
    from qraptor.tracking.run_metadata import provenance_tags

    cfg = tracking or tracking_config_from(cfg_dict)
    if not cfg.enabled:
        return None
    require("mlflow", "tracking")
    uri = runs.use_credentials(resolve_tracking_uri(cfg, root))
    client = runs.connect(uri)
    session = cfg_dict["session"]
    experiment = runs.experiment_id(
        client, experiment_name(cfg, str(session["name"])), default_artifact_root(uri)
    )
    provenance = provenance_tags(str(session["dataset"]), root)
    return runs.ensure_sweep_run(client, experiment, sweep_id, {**provenance, **(tags or {})})


def _open(
    tracker: SessionTracker,
    extra_tags: dict[str, str],
    preset: str | None,
    run_name: str | None,
    known_run_id: str | None,
) -> None:
    from qraptor.tracking import runs
    from qraptor.tracking.run_metadata import (
        default_run_name,
        log_params_and_tags,
        provenance_tags,
        session_tags,
    )

    session = tracker.config["session"]
    tracker.uri = uri = runs.use_credentials(resolve_tracking_uri(tracker.cfg, tracker.root))
    try:
        client = tracker.client = runs.connect(uri)
        tracker.experiment = experiment_name(tracker.cfg, str(session["name"]))
        tracker.experiment_id = runs.experiment_id(
            client, tracker.experiment, default_artifact_root(uri)
        )
        provenance = provenance_tags(str(session["dataset"]), tracker.root)
        if tracker.sweep_id:
            tracker.parent_run_id = runs.ensure_sweep_run(
                client, tracker.experiment_id, tracker.sweep_id, tags=provenance
            )
        tags = {
            **provenance,
            **session_tags(tracker.config, tracker.sweep_id, preset),
            **scrub(extra_tags),
        }
        tracker.run_id, tracker.resumed = runs.session_run(
            client,
            tracker.experiment_id,
            session_id=tracker.session_id,
            parent_run_id=tracker.parent_run_id,
            run_name=run_name or default_run_name(tracker.config, tracker.session_id),
            tags=tags,
            known_run_id=known_run_id,
        )
        if tracker.on_run is not None:  # before anything else: whoever ends the session
            tracker.on_run(tracker.run_id)  # must be able to find its run
        log_params_and_tags(client, tracker.run_id, tracker.config, tags, tracker.resumed)
        if tracker.parent_run_id:
            client.update_run(tracker.parent_run_id, status="RUNNING")
        _activate(uri, tracker.run_id)
    except QraptorError:
        raise
    except Exception as exc:  # the server refused: say where, in one line
        raise runs.TrackingError(
            f"MLflow tracking at {redact_uri(uri)} failed: {redact_text(str(exc)).splitlines()[0]}"
        ) from exc
    log.info(
        "MLflow run %s (%s) in experiment '%s' at %s",
        tracker.run_id, "resumed" if tracker.resumed else "new", tracker.experiment,
        redact_uri(uri),
    )  # fmt: skip


def _close(tracker: SessionTracker, status: str, error: BaseException | None) -> None:
    """End the run (and the TensorBoard file) without masking the block's own exception.

    The guard comes first: a process that lost the session leaves the run to its new owner
    (or to housekeeping) instead of ending it, tagging it or registering into it."""
    if tracker._curves is not None:
        with contextlib.suppress(Exception):
            tracker._curves.close()
    if not tracker.enabled:
        return
    from qraptor.tracking.runs import detach_active  # MLflow: only for a tracked session

    try:
        if isinstance(error, SessionTakenAway):
            raise error
        tracker.check_guard()
    except QraptorError as exc:  # SessionTakenAway, or a store that cannot tell
        log.warning("MLflow run %s left as it is: %s", tracker.run_id, exc)
        detach_active(tracker.run_id)
        if error is None:
            raise
        return
    import mlflow

    from qraptor.tracking import runs

    client = tracker.client
    assert client is not None and tracker.run_id is not None
    try:
        if error is not None:
            message = redact_text(f"{type(error).__name__}: {error}")[:5000]
            client.set_tag(tracker.run_id, "qraptor.error", message)
        elif status == "FINISHED":
            tracker.register_model()
            if tracker.resumed:  # an earlier attempt's error does not describe this run
                with contextlib.suppress(Exception):
                    client.delete_tag(tracker.run_id, "qraptor.error")
        active = mlflow.active_run()
        if active is not None and active.info.run_id == tracker.run_id:
            mlflow.end_run(status)
        else:
            client.set_terminated(tracker.run_id, status)
        tracker.ended = True
        if tracker.parent_run_id:
            if status == "FINISHED" and error is None:
                _update_best(client, tracker.experiment_id, tracker.parent_run_id)
            client.set_terminated(tracker.parent_run_id, "FINISHED")
    except Exception as exc:
        if error is None:
            raise runs.TrackingError(f"ending MLflow run {tracker.run_id}: {exc}") from exc
        log.warning("ending MLflow run %s failed too: %s", tracker.run_id, exc)
    finally:
        if not tracker.ended:  # never leave it active: the next run here would end it
            detach_active(tracker.run_id)


def _update_best(client: MlflowClient, experiment_id: str | None, parent_run_id: str) -> None:
    """The sweep parent's best trial, recomputed from its children (sweep_parent.py); a
    failure is logged, not raised: the session itself is done and recorded."""
    from qraptor.tracking.sweep_parent import update_sweep_best

    if experiment_id is None:
        return
    try:
        update_sweep_best(client, experiment_id, parent_run_id)
    except Exception as exc:
        log.warning("sweep parent %s: best trial not updated: %s", parent_run_id, exc)


PORTFOLIO_DIAGNOSTICS = ("mean_turnover", "hhi", "entropy", "share_at_bounds", "cost_log_return")


def portfolio_metrics(portfolio: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """A portfolio session's weights diagnostics as MLflow metrics, per split and policy
    (``test/agent/hhi``, ``test/equal_weight/mean_turnover``), and the agent against 1/N
    and buy-and-hold (``test/agent/psr_vs_equal_weight``, ``.../weight_distance_to_...``)."""
    out: dict[str, float] = {}
    for split, extra in portfolio.items():
        for policy, figures in (extra.get("diagnostics") or {}).items():
            for name in PORTFOLIO_DIAGNOSTICS:
                if figures.get(name) is not None:
                    out[metric_key(split, policy, name)] = float(figures[name])
        for v in extra.get("versus") or []:
            for name, value in (
                (f"psr_vs_{v['baseline']}", v.get("psr_vs_baseline")),
                (f"weight_distance_to_{v['baseline']}", v.get("weight_distance")),
            ):
                if value is not None:
                    out[metric_key(split, AGENT, name)] = float(value)
    return out


def _register(
    cfg: TrackingConfig,
    config: Mapping[str, Any],
    model_uri: str,
    run_id: str,
    session_id: str | None,
    sweep_id: str | None,
    description: str | None = None,
) -> str:
    """Register run `run_id`'s model under the session's registered name, tagged with its
    session and sweep, described by its model card (pyfunc.register_policy: once per
    run). The version."""
    from qraptor.tracking import runs
    from qraptor.tracking.pyfunc import register_policy

    session_name, algo = str(config["session"]["name"]), str(config["algo"]["name"])
    name = registered_model_name(cfg, experiment_name(cfg, session_name), session_name, algo)
    tags = {runs.SESSION_TAG: session_id, runs.SWEEP_TAG: sweep_id}
    return register_policy(
        model_uri, name, run_id, {k: v for k, v in tags.items() if v}, description=description
    )


def _logged_card(client: MlflowClient, run_id: str) -> str | None:
    """The model card logged with run `run_id`, as a version description (None when the
    run has none: a session trained before cards, or one whose upload did not happen)."""
    import tempfile

    from qraptor.tracking.model_card import card_description

    try:
        with tempfile.TemporaryDirectory(prefix="qraptor-card-") as folder:
            path = client.download_artifacts(run_id, layout.MODEL_CARD, folder)
            text = Path(path).read_text(encoding="utf-8")
    except Exception as exc:  # MLflow raises its own, varied errors for a missing file
        log.info("run %s: no model card to describe its version (%s)", run_id, exc)
        return None
    return card_description(text, f"runs:/{run_id}/{layout.MODEL_CARD}")


def _activate(uri: str, run_id: str) -> None:
    """Make the session's run MLflow's active run in this thread (pyfunc logging needs it)."""
    import mlflow

    from qraptor.tracking.runs import detach_active

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    stale = mlflow.active_run()
    if stale is not None:  # left by a run this process did not end: not ours to end now
        log.warning("MLflow run %s was still active here: detached, not ended", stale.info.run_id)
        detach_active(stale.info.run_id)
    mlflow.start_run(run_id=run_id)


def _load_policy(algo: str, model_zip: Path) -> Any:
    from qraptor.train.algos import load_model

    return load_model(algo, model_zip, None, device="cpu")


def end_abandoned_run(
    cfg_dict: Mapping[str, Any],
    run_id: str,
    status: str,
    *,
    session_id: str,
    sweep_id: str | None = None,
    tracking: TrackingConfig | None = None,
    root: Path | None = None,
) -> None:
    """End the MLflow run of a session whose worker is gone (killed on its last attempt,
    or the session cancelled after its worker died): FAILED, KILLED or FINISHED. A
    FINISHED one (the worker died between completing the session and closing its run) gets
    its logged model registered, once, as the worker would have."""
    from qraptor.tracking import runs

    cfg = tracking_config_from(cfg_dict, default=tracking)  # the session's own settings win
    if not cfg.enabled:
        return
    require("mlflow", "tracking")
    uri = runs.use_credentials(resolve_tracking_uri(cfg, root))
    client = runs.connect(uri)
    run = client.get_run(run_id)
    if status == "FINISHED" and cfg.model.register:  # idempotent: once per run
        import mlflow

        mlflow.set_registry_uri(uri)
        logged = client.search_logged_models(
            [run.info.experiment_id], filter_string=f"source_run_id = '{run_id}'"
        )
        if logged:
            description = _logged_card(client, run_id)
            _register(cfg, cfg_dict, logged[0].model_uri, run_id, session_id, sweep_id, description)
    if run.info.status != "RUNNING":
        return
    client.set_terminated(run_id, status)
    parent = run.data.tags.get(runs.PARENT_TAG)
    if parent and status == "FINISHED":
        _update_best(client, run.info.experiment_id, parent)
    log.info("MLflow run %s of session %s ended %s (its worker is gone)", run_id, session_id,
             status)  # fmt: skip
