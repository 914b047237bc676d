"""MLflow runs of sessions and sweeps: connect, find or create, without duplicates.

A session's run is found by the tag ``qraptor.session_id`` when it has one, so a session
resumed by another worker continues its run (one session = one run). A sweep's parent run
is found by ``qraptor.sweep_id``; when none exists yet, several processes may try to create
it at once (joblib jobs, workers on many machines). MLflow has no conditional insert for
runs, but experiment names are unique in every backend: each contender creates a candidate
parent, then tries to create the experiment ``.qraptor-sweep-lock/<experiment>/<sweep>``
carrying the candidate's id as a tag, in one request. Exactly one succeeds; the others read
the winner's id from that experiment and delete their candidates. The winner deletes the
lock experiment at once: a deleted experiment is hidden from the UI and its name stays
taken, so the lock keeps answering late contenders. Submitting a sweep can also create the
parent up front (`ensure_sweep_run`), which avoids the contest altogether.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import requests
from mlflow import MlflowClient
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException

from qraptor.core.errors import QraptorError
from qraptor.core.log import get_logger
from qraptor.core.redact import redact_text, redact_uri

log = get_logger(__name__)

SESSION_TAG = "qraptor.session_id"
SWEEP_TAG = "qraptor.sweep_id"
KIND_TAG = "qraptor.run_kind"  # "sweep" (a parent) or "session"
CANDIDATE_KIND = "sweep-candidate"  # a would-be parent, until it wins the lock
PARENT_TAG = "mlflow.parentRunId"  # what MLflow's UI nests runs by
LOCK_PREFIX = ".qraptor-sweep-lock"
ALREADY_EXISTS = "RESOURCE_ALREADY_EXISTS"
HEALTH_TIMEOUT_SECONDS = 5.0


USERNAME_ENV = "MLFLOW_TRACKING_USERNAME"
PASSWORD_ENV = "MLFLOW_TRACKING_PASSWORD"


# MLflow's own INFO lines that repeat or precede what qraptor says itself (a new database's
# tables, an input example's validation); their warnings and errors still show.
CHATTY_LOGGERS = ("mlflow.store.db.utils", "mlflow.pyfunc", "mlflow.models.model", "alembic")


def quiet_mlflow() -> None:
    """MLflow's INFO chatter off, and its artifact progress bars (drawn even off a terminal,
    where they squash into one line) unless the user asked for them."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in CHATTY_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)


class TrackingError(QraptorError):
    """The tracking server or store cannot be used; the message says which and why."""


def use_credentials(uri: str) -> str:
    """`uri` without ``user:password@``, the credentials moved to MLflow's variables
    (MLFLOW_TRACKING_USERNAME / _PASSWORD, for this process).

    MLflow prints run URLs ("View run ... at: <uri>/#/...") and would print the password
    with them; kept out of the URI, it reaches the server only as HTTP basic auth.
    """
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or "@" not in parts.netloc:
        return uri
    userinfo, _, host = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    os.environ[USERNAME_ENV] = unquote(user)
    if password:
        os.environ[PASSWORD_ENV] = unquote(password)
    return urlunsplit(parts._replace(netloc=host))


def connect(uri: str) -> MlflowClient:
    """A client for `uri`; a server that does not answer fails now, in seconds, with the
    address named (MLflow's own client would retry for minutes before giving up)."""
    quiet_mlflow()
    if uri.startswith(("http://", "https://")):
        health = uri.rstrip("/") + "/health"
        user, password = os.environ.get(USERNAME_ENV), os.environ.get(PASSWORD_ENV)
        auth = (user, password or "") if user else None
        try:
            requests.get(health, timeout=HEALTH_TIMEOUT_SECONDS, auth=auth).raise_for_status()
        except requests.RequestException as exc:
            reason = redact_text(str(exc)) if exc.response is not None else type(exc).__name__
            raise TrackingError(
                f"MLflow tracking server {redact_uri(uri)} does not answer ({reason}); start it, "
                "point QRAPTOR_MLFLOW_URI / tracking.uri elsewhere, or set tracking.enabled=false"
            ) from None
    database = _sqlite_file(uri)
    if database is None:
        return MlflowClient(tracking_uri=uri, registry_uri=uri)
    return _sqlite_client_once(uri, database)


def _sqlite_file(uri: str) -> Path | None:
    if not uri.startswith("sqlite:///"):
        return None
    path = uri.removeprefix("sqlite:///").split("?", 1)[0]
    return None if not path or path == ":memory:" else Path(path).expanduser()


def _sqlite_client_once(uri: str, database: Path) -> MlflowClient:
    """The client of a sqlite store, made under an exclusive file lock: MLflow creates or
    migrates a store's tables when a client is made, and two workers starting together on a
    fresh project's `mlflow.db` raced through its migrations ("table ... already exists",
    "Online migration expected to match one row": sessions failed). One process at a time
    makes its first client here (and touches the registry's tables); later ones find them."""
    import fcntl

    database.parent.mkdir(parents=True, exist_ok=True)
    with open(database.with_name(database.name + ".init-lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            client = MlflowClient(tracking_uri=uri, registry_uri=uri)
            client.search_registered_models(max_results=1)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return client


def experiment_id(client: MlflowClient, name: str, artifact_root: Path | None = None) -> str:
    """The id of experiment `name`, created if needed (a concurrent creator is fine)."""
    found = client.get_experiment_by_name(name)
    if found is None:
        location = str(artifact_root / _slug(name)) if artifact_root is not None else None
        try:
            return client.create_experiment(name, artifact_location=location)
        except MlflowException as exc:
            if exc.error_code != ALREADY_EXISTS:
                raise
            found = client.get_experiment_by_name(name)
    if found is None or found.lifecycle_stage == "deleted":
        raise TrackingError(
            f"MLflow experiment '{name}' was deleted; restore it (`mlflow experiments restore "
            f"--experiment-id {found.experiment_id if found else '?'}`) or choose another "
            "name with tracking.experiment=NAME"
        )
    return found.experiment_id


def find_run(client: MlflowClient, experiment: str, tags: Mapping[str, str]) -> str | None:
    """The oldest live run of `experiment` carrying all `tags`, if any."""
    clauses = " and ".join(f"tags.`{k}` = '{_quoted(v)}'" for k, v in tags.items())
    runs = client.search_runs(
        [experiment], clauses, ViewType.ACTIVE_ONLY, max_results=1, order_by=["start_time ASC"]
    )
    return runs[0].info.run_id if runs else None


def ensure_sweep_run(
    client: MlflowClient,
    experiment: str,
    sweep_id: str,
    tags: Mapping[str, str] | None = None,
) -> str:
    """The parent run of sweep `sweep_id` in `experiment`: found, or created exactly once
    however many processes ask at the same time (see the module docstring)."""
    found = find_run(client, experiment, {SWEEP_TAG: sweep_id, KIND_TAG: "sweep"})
    if found is not None:
        return found
    # a candidate is not a parent until it holds the lock: tagged as one only then, so that
    # a contender's search never finds another's losing candidate (about to be deleted)
    candidate = client.create_run(
        experiment,
        tags={**(tags or {}), SWEEP_TAG: sweep_id, KIND_TAG: CANDIDATE_KIND},
        run_name=sweep_id,
    ).info.run_id
    lock = f"{LOCK_PREFIX}/{experiment}/{sweep_id}"
    try:
        lock_id = client.create_experiment(lock, tags={PARENT_TAG: candidate})
    except MlflowException as exc:
        if exc.error_code != ALREADY_EXISTS:
            client.delete_run(candidate)
            raise
        client.delete_run(candidate)
        return _lock_winner(client, lock)
    client.set_tag(candidate, KIND_TAG, "sweep")
    client.delete_experiment(lock_id)
    log.info("sweep %s: parent run %s", sweep_id, candidate)
    return candidate


def session_run(
    client: MlflowClient,
    experiment: str,
    *,
    session_id: str | None,
    parent_run_id: str | None,
    run_name: str,
    tags: Mapping[str, str],
    known_run_id: str | None = None,
) -> tuple[str, bool]:
    """(run id, resumed): the run of `session_id` if it has one already (`known_run_id`, the
    one the store recorded, when it still exists), else a new run (nested under
    `parent_run_id` when given)."""
    if known_run_id is not None:
        with contextlib.suppress(Exception):  # deleted, or another store: search instead
            run = client.get_run(known_run_id)
            if run.info.lifecycle_stage != "deleted":
                return known_run_id, True
    if session_id is not None:
        found = find_run(client, experiment, {SESSION_TAG: session_id})
        if found is not None:
            return found, True
    all_tags = {**tags, KIND_TAG: "session"}
    if session_id is not None:
        all_tags[SESSION_TAG] = session_id
    if parent_run_id is not None:
        all_tags[PARENT_TAG] = parent_run_id
    return client.create_run(experiment, tags=all_tags, run_name=run_name).info.run_id, False


def _lock_winner(client: MlflowClient, lock: str) -> str:
    """The parent run id the winning contender recorded on the lock experiment."""
    winner = client.get_experiment_by_name(lock)
    run_id = (winner.tags or {}).get(PARENT_TAG) if winner is not None else None
    if not run_id:
        raise TrackingError(f"sweep lock '{lock}' names no parent run; delete it and rerun")
    if client.get_run(run_id).info.lifecycle_stage == "deleted":
        client.restore_run(run_id)  # someone deleted the parent: its sweep still has children
    return run_id


def _quoted(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("'", "\\'")


def _slug(name: str) -> str:
    """A folder name for an experiment's artifacts."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip(".") or "default"


def detach_active(run_id: str | None) -> None:
    """Stop treating `run_id` as this thread's active run without ending it on the server:
    `mlflow.end_run` (and MLflow's own exit handler, which calls it) would end a run that
    belongs to another worker now. MLflow has no public call for this."""
    from mlflow.tracking import fluent

    stack = fluent._active_run_stack.get()
    if stack and stack[-1].info.run_id == run_id:
        stack.pop()
        os.environ.pop("MLFLOW_RUN_ID", None)
