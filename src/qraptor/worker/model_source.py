"""Where a model to fine-tune from comes from (`session.init_from`), resolved to a local zip.

`train` takes only a path (qraptor.train.fine_tune); this is the layer that knows the
store and MLflow, used by `qraptor train` and the worker before training:

    a path                  a model zip, or a run folder (its model.zip); relative to the
                            project root
    runs:/<run id>/policy   an MLflow model (the pyfunc model a session logs: its SB3 zip is
    models:/<name>/<ver>    the model.zip of its `agent` artifact), downloaded from the
                            tracking server
    <session id>            a session of the store: its model file (the model its
                            session.select picked), downloaded from GridFS

A spec that is none of these fails with a ConfigError naming session.init_from.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from qraptor.core import layout
from qraptor.core.errors import ConfigError, QraptorError
from qraptor.core.log import get_logger
from qraptor.core.redact import redact_text

if TYPE_CHECKING:
    from qraptor.store.config import StoreConfig
    from qraptor.store.store import SessionStore
    from qraptor.tracking.config import TrackingConfig

log = get_logger(__name__)
KEY = "session.init_from"
MLFLOW_SCHEMES = ("runs:/", "models:/")


def resolve_init_from(
    spec: str,
    dest_dir: Path,
    *,
    root: Path | None = None,
    tracking_uri: Callable[[], str] | None = None,
    store: Callable[[], SessionStore] | None = None,
) -> Path:
    """The local model zip `spec` names, downloaded into `dest_dir` when remote.

    `tracking_uri()` and `store()` are called only for an MLflow URI or a session id (so
    a local path needs neither a server nor a database)."""
    spec = spec.strip()
    local = Path(spec).expanduser()
    if not local.is_absolute() and root is not None:
        local = root / local
    if local.exists():
        return local / layout.MODEL if local.is_dir() else local
    if spec.startswith(MLFLOW_SCHEMES):
        if tracking_uri is None:
            raise ConfigError(KEY, f"'{spec}': an MLflow URI, and no tracking server is known")
        return _from_mlflow(spec, dest_dir, tracking_uri())
    if "/" in spec or spec.endswith(".zip"):
        raise ConfigError(KEY, f"'{spec}': no such model zip or run folder ({local})")
    if store is None:
        raise ConfigError(KEY, f"'{spec}': not a file, and no session store to look it up in")
    return _from_session(spec, dest_dir, store())


def resolve_with_config(
    spec: str,
    dest_dir: Path,
    *,
    root: Path | None,
    tracking: TrackingConfig,
    store_cfg: StoreConfig | None,
) -> Path:
    """`resolve_init_from` for a process without a store or server open yet (`qraptor
    train`): the tracking server and the store of these settings, opened only if needed
    (the store closed again after the download)."""
    with contextlib.ExitStack() as stack:

        def open_store() -> SessionStore:
            from qraptor.store.store import SessionStore

            if store_cfg is None:
                raise ConfigError(KEY, f"'{spec}': not a file, and no store section to look in")
            return stack.enter_context(SessionStore.from_config(store_cfg, root))

        return resolve_init_from(
            spec, dest_dir, root=root, tracking_uri=lambda: tracking_uri(tracking, root),
            store=open_store,
        )  # fmt: skip


def tracking_uri(tracking: TrackingConfig, root: Path | None) -> str:
    """The MLflow URI these settings point to (credentials moved to MLflow's variables)."""
    from qraptor.tracking.config import resolve_tracking_uri
    from qraptor.tracking.runs import use_credentials

    return use_credentials(resolve_tracking_uri(tracking, root))


def _from_mlflow(spec: str, dest_dir: Path, uri: str) -> Path:
    import mlflow.artifacts

    try:
        folder = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=spec, dst_path=str(dest_dir), tracking_uri=uri
            )
        )
    except Exception as exc:  # not found, server away: say which, in one line
        first = redact_text(str(exc)).strip().splitlines()
        raise ConfigError(KEY, f"'{spec}': {first[0] if first else type(exc).__name__}") from exc
    if folder.is_dir():  # the served model's agent/model.zip first, else any zip in it
        zips = sorted(folder.rglob(layout.MODEL)) or sorted(folder.rglob("*.zip"))
    else:
        zips = [folder]
    if not zips:
        raise ConfigError(KEY, f"'{spec}' holds no model zip (downloaded to {folder})")
    log.info("init_from %s: %s", spec, zips[0])
    return zips[0]


def _from_session(session_id: str, dest_dir: Path, store: SessionStore) -> Path:
    from qraptor.store.status import FileKind

    dest_dir.mkdir(parents=True, exist_ok=True)
    try:
        path = store.download_file(session_id, FileKind.MODEL, dest_dir)
    except QraptorError as exc:  # no such session, or one without a model yet
        raise ConfigError(KEY, f"'{session_id}': {exc}") from exc
    log.info("init_from session %s: its model, %s", session_id, path)
    return path
