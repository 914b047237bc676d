"""Plain HTTP GET for the bulk-dump connector (stdlib only: no extra needed for dumps).

A missing file (HTTP 404) is an answer, not an error here: the caller decides whether a
missing day fails the download. Everything else that is not a 200 is an error that names
the URL and what the server said, after a few retries for the transient kinds.
"""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from qraptor.core.errors import DataError
from qraptor.core.log import get_logger

log = get_logger(__name__)

USER_AGENT = "qraptor-download"
_CHUNK = 1 << 20
_BLOCKED = {
    403: "forbidden: the server refuses this client (often a geo-block or an IP ban)",
    451: "unavailable for legal reasons: the server blocks this country or region",
}


def fetch(url: str, target: Path, *, timeout: float, retries: int) -> bool:
    """Stream `url` into `target`; False when the server has no such file (HTTP 404)."""
    for attempt in range(retries + 1):
        try:
            with _open(url, timeout) as chunks, target.open("wb") as out:
                for chunk in chunks:
                    out.write(chunk)
            return True
        except _Missing:
            return False
        except (_Transient, OSError, http.client.HTTPException) as exc:
            if attempt == retries:
                raise DataError(url, f"download failed after {retries + 1} attempt(s): {exc}",
                                rule="download") from None  # fmt: skip
            wait = 2.0**attempt
            log.warning("%s: %s; retrying in %.0f s", url, exc, wait)
            time.sleep(wait)
    raise AssertionError("unreachable")


def fetch_text(url: str, *, timeout: float, retries: int, target: Path) -> str | None:
    """A small text file (a .CHECKSUM), or None when it is missing."""
    if not fetch(url, target, timeout=timeout, retries=retries):
        return None
    return target.read_text(encoding="utf-8", errors="replace")


class _Missing(Exception):
    pass


class _Transient(Exception):
    pass


def _open(url: str, timeout: float) -> _Chunks:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise _Missing from None
        if exc.code in _BLOCKED:
            raise DataError(url, f"HTTP {exc.code} {_BLOCKED[exc.code]}", rule="download") from None
        if exc.code >= 500 or exc.code == 429:
            raise _Transient(f"HTTP {exc.code} {exc.reason}") from None
        raise DataError(url, f"HTTP {exc.code} {exc.reason}", rule="download") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise _Transient(f"cannot reach the server ({reason})") from None
    return _Chunks(response)


class _Chunks:
    """The response body in chunks, as a context manager that closes the connection."""

    def __init__(self, response) -> None:  # an http.client.HTTPResponse
        self._response = response

    def __enter__(self) -> Iterator[bytes]:
        return iter(lambda: self._response.read(_CHUNK), b"")

    def __exit__(self, *exc: object) -> None:
        self._response.close()
