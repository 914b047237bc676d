"""Which MongoDB to talk to, and how to write its URI where people can read it.

Resolution order: ``QRAPTOR_MONGO_URI``, then ``store.uri``, then the local SecantusDB
server under the project (started or reused). Whatever the source, the URI is only ever
shown through `redact_uri` / `redact_text`: a password must not reach logs, MLflow params,
error messages or stored session metadata.
"""

from __future__ import annotations

import os
from pathlib import Path

from qraptor.core.paths import project_root
from qraptor.store.config import StoreConfig

URI_ENV = "QRAPTOR_MONGO_URI"


def local_data_dir(cfg: StoreConfig, root: Path | None = None) -> Path:
    """The local server's data folder: `store.local.dir`, relative to the project root."""
    path = Path(cfg.local.dir).expanduser()
    return path if path.is_absolute() else (root or project_root()) / path


def configured_uri(cfg: StoreConfig) -> str | None:
    """The URI the user configured (environment first), or None for the local server."""
    env = os.environ.get(URI_ENV, "").strip()
    return env or cfg.uri


def resolve_uri(cfg: StoreConfig, start_local: bool = True, root: Path | None = None) -> str:
    """The MongoDB URI to use: $QRAPTOR_MONGO_URI, `store.uri`, else the local server's.

    With `start_local` the local SecantusDB server is started when it is not running;
    without it, a stopped local server is a LocalServerError telling how to start it.
    """
    uri = configured_uri(cfg)
    if uri:
        return uri
    from qraptor.store import local_server  # the server code is only needed here

    data_dir = local_data_dir(cfg, root)
    if start_local:
        return local_server.ensure_server(cfg.local, data_dir).uri
    state = local_server.running_server(data_dir)
    if state is None:
        from qraptor.store.errors import LocalServerError

        raise LocalServerError(
            f"no MongoDB URI configured (store.uri, {URI_ENV}) and the local server for "
            f"{data_dir} is not running: start it with `qraptor db start`"
        )
    return state.uri
