"""Which MongoDB to talk to, and how to write its URI where people can read it.

Resolution order: ``QRAPTOR_MONGO_URI``, then ``store.uri``, then the local SecantusDB
server under the project (started or reused). Whatever the source, the URI is only ever
shown through `redact_uri` / `redact_text`: a password must not reach logs, MLflow params,
error messages or stored session metadata.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from qraptor.config import find_conf_dir
from qraptor.errors import ConfigError
from qraptor.sessions.config import StoreConfig

URI_ENV = "QRAPTOR_MONGO_URI"
MASK = "***"

# Query options whose values are secrets (pymongo's URI options).
_SECRET_OPTIONS = frozenset(
    {"password", "tlscertificatekeyfilepassword", "authmechanismproperties", "sslpemkeypassword"}
)
# scheme://user:password@host anywhere in a text (mongodb, mongodb+srv, http(s), ...); the
# password runs to the last @ of the word, so unescaped @ / ? in it are hidden too.
_USERINFO = re.compile(
    r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s/@:]*:)(?P<pw>\S*)@(?=[^\s@]*(\s|$))"
)
_SECRET_QUERY = re.compile(
    r"(?P<head>[?&](?:" + "|".join(_SECRET_OPTIONS) + r")=)(?P<value>[^&\s#]*)", re.IGNORECASE
)
# Config keys whose string values are scrubbed whatever they look like.
_SECRET_KEY = re.compile(r"pass(word|wd)?$|secret|token|api_?key", re.IGNORECASE)


def redact_uri(uri: str) -> str:
    """`uri` with its password and secret query options replaced by ``***``.

    The user name stays (it helps to see *who* connects). Works on the raw text, so a
    password with unescaped ``/``, ``?`` or ``@`` (which pymongo would reject anyway) is
    still hidden.
    """
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return redact_text(uri)
    query_at = rest.find("?")
    at = rest.rfind("@", 0, query_at if query_at >= 0 else len(rest))
    if at < 0:
        at = rest.rfind("@")
    if at >= 0 and ":" in rest[:at]:
        user = rest[:at].split(":", 1)[0]
        rest = f"{user}:{MASK}{rest[at:]}"
    return _SECRET_QUERY.sub(lambda m: f"{m['head']}{MASK}", f"{scheme}://{rest}")


_HYDRA_ESCAPE = re.compile(r"\\([:/@=,])")


def redact_text(text: str) -> str:
    """Every URI password and secret URI option in free `text` (an error message, a
    traceback, a Hydra override) replaced by ``***``.

    Hydra's sweepers escape ``:`` in overrides (``mongodb\\://u\\:pw@h``); those escapes are
    undone first, or the password would slip past the URI pattern.
    """
    text = _HYDRA_ESCAPE.sub(r"\1", text)
    text = _USERINFO.sub(lambda m: f"{m['head']}{MASK}@", text)
    return _SECRET_QUERY.sub(lambda m: f"{m['head']}{MASK}", text)


def scrub(value: Any, key: str = "") -> Any:
    """A copy of a config tree (dicts, lists, strings) safe to store or log.

    Strings are passed through `redact_text`; string values under keys that name secrets
    (password, secret, token, api_key) are masked entirely.
    """
    if isinstance(value, dict):
        return {k: scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v, key) for v in value]
    if isinstance(value, str):
        if key and _SECRET_KEY.search(key) and value:
            return MASK
        return redact_text(value)
    return value


def scrub_override(override: str) -> str:
    """A Hydra override safe to store: ``db.password=x`` -> ``db.password=***``, URIs redacted."""
    key, eq, value = override.partition("=")
    last = key.lstrip("+~").rsplit(".", 1)[-1]
    if eq and value and _SECRET_KEY.search(last):
        return f"{key}={MASK}"
    return redact_text(override)


def project_root() -> Path:
    """The folder holding conf/ (the project root), else the current directory."""
    try:
        return find_conf_dir().parent
    except ConfigError:
        return Path.cwd()


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
    from qraptor.sessions import local_server  # the server code is only needed here

    data_dir = local_data_dir(cfg, root)
    if start_local:
        return local_server.ensure_server(cfg.local, data_dir).uri
    state = local_server.running_server(data_dir)
    if state is None:
        from qraptor.sessions.errors import LocalServerError

        raise LocalServerError(
            f"no MongoDB URI configured (store.uri, {URI_ENV}) and the local server for "
            f"{data_dir} is not running: start it with `qraptor db start`"
        )
    return state.uri
