"""Redaction: how a URI, a config or free text is written where people can read it.

A password must not reach logs, MLflow params, error messages or stored session metadata,
whichever layer writes them (the store, tracking, the CLI), so the rules live here, once:
what counts as a secret (`has_secret`, `override_has_secret`, `find_secrets`) and how it is
hidden (`redact_uri`, `redact_text`, `scrub`, `scrub_override`).
"""

from __future__ import annotations

import re
from typing import Any

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


def has_secret(text: str) -> bool:
    """Whether `text` holds something `redact_text` would hide: a URI password
    (``scheme://user:password@``) or a secret URI option (``tlsCertificateKeyFilePassword=``).
    An empty or already masked (``***``) value is no secret."""
    text = _HYDRA_ESCAPE.sub(r"\1", text)
    passwords = (m["pw"] for m in _USERINFO.finditer(text))
    options = (m["value"] for m in _SECRET_QUERY.finditer(text))
    return any(value not in ("", MASK) for value in (*passwords, *options))


def _is_secret_value(key: str, value: str) -> bool:
    if _SECRET_KEY.search(key) and value not in ("", MASK, "null"):
        return True
    return has_secret(value)


def override_has_secret(override: str) -> bool:
    """Whether a Hydra override (``key=value``) or any other command-line argument carries a
    secret: a value `has_secret` finds, or a value for a key that names a secret
    (``+db.password=x``) — what `scrub_override` would mask."""
    key, eq, value = override.partition("=")
    if eq and "://" not in key:
        return _is_secret_value(key.lstrip("+~").rsplit(".", 1)[-1], value)
    return has_secret(override)


def find_secrets(value: Any, path: str = "", key: str = "") -> list[tuple[str, str]]:
    """(dotted path, value) of each string in a config tree (dicts, lists, strings) that
    holds a secret, as `scrub` judges them: ``[("store.uri", "mongodb://u:pw@h/")]``.
    (`key` is the name a value sits under; a list's items sit under the list's.)"""
    if isinstance(value, dict):
        return [
            found
            for k, v in value.items()
            for found in find_secrets(v, f"{path}.{k}" if path else str(k), str(k))
        ]
    if isinstance(value, list | tuple):
        return [
            found for i, v in enumerate(value) for found in find_secrets(v, f"{path}[{i}]", key)
        ]
    if isinstance(value, str) and _is_secret_value(key, value):
        return [(path, value)]
    return []


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
