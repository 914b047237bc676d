"""Which MongoDB to talk to, and how to write its URI where people can read it.

Resolution order: ``QRAPTOR_MONGO_URI``, then the file named by ``QRAPTOR_MONGO_URI_FILE``
(qraptor.core.credentials), then ``store.uri``, then the local SecantusDB server under the
project (started or reused). A URI that names a user without a password
(``mongodb://qraptor@store:27017/``) takes it from ``QRAPTOR_MONGO_PASSWORD`` or the file
named by ``QRAPTOR_MONGO_PASSWORD_FILE``: a container stack passes the URI in plain sight
and the password as a mounted secret (deploy/compose.yaml). A URI with a password belongs
in the first two: qraptor's commands refuse one on the command line, and `qraptor train` one
in conf/ too
(qraptor.cli.credentials). Whatever the source, the URI is only ever shown through
`redact_uri` / `redact_text`: a password must not reach logs, MLflow params, error messages
or stored session metadata.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from qraptor.core.credentials import STORE_URI_ENV, file_variable, from_environment
from qraptor.core.paths import project_root
from qraptor.store.config import StoreConfig

URI_ENV = STORE_URI_ENV  # "QRAPTOR_MONGO_URI"
URI_FILE_ENV = file_variable(URI_ENV)  # a file holding the URI (a Docker or Kubernetes secret)
PASSWORD_ENV = "QRAPTOR_MONGO_PASSWORD"  # the password of a URI's user, when the URI has none
CONFIG_KEY = "store.uri"


def local_data_dir(cfg: StoreConfig, root: Path | None = None) -> Path:
    """The local server's data folder: `store.local.dir`, relative to the project root."""
    path = Path(cfg.local.dir).expanduser()
    return path if path.is_absolute() else (root or project_root()) / path


def configured(cfg: StoreConfig) -> tuple[str, str] | None:
    """The URI the user configured and where it came from (``$QRAPTOR_MONGO_URI``,
    ``$QRAPTOR_MONGO_URI_FILE (path)`` or ``store.uri``), or None for the local server."""
    found = from_environment(URI_ENV)
    if found is not None:
        return with_password(found.value), found.source
    return (with_password(cfg.uri), CONFIG_KEY) if cfg.uri else None


def with_password(uri: str) -> str:
    """`uri` with the password of its user from $QRAPTOR_MONGO_PASSWORD(_FILE), when it names
    a user without one; otherwise as it is."""
    scheme, sep, rest = uri.partition("://")
    userinfo, at, hosts = rest.partition("@")
    if not sep or not at or "/" in userinfo or ":" in userinfo or not userinfo:
        return uri
    password = from_environment(PASSWORD_ENV)
    if password is None:
        return uri
    return f"{scheme}://{userinfo}:{quote(password.value, safe='')}@{hosts}"


def configured_uri(cfg: StoreConfig) -> str | None:
    """The URI the user configured (environment first), or None for the local server."""
    found = configured(cfg)
    return found[0] if found else None


def resolve_uri(cfg: StoreConfig, start_local: bool = True, root: Path | None = None) -> str:
    """The MongoDB URI to use: $QRAPTOR_MONGO_URI, $QRAPTOR_MONGO_URI_FILE, `store.uri`,
    else the local server's.

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
            f"no MongoDB URI configured ({URI_ENV}, {URI_FILE_ENV}, {CONFIG_KEY}) and the "
            f"local server for {data_dir} is not running: start it with `qraptor db start`"
        )
    return state.uri
