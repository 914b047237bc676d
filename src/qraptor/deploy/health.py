"""Health checks of the stack's containers (compose `healthcheck:`), one line and an exit
code each: 0 healthy, 1 not. Cheap enough to run every few seconds: no TensorFlow, no
training imports, a short timeout."""

from __future__ import annotations

import urllib.error
import urllib.request

from qraptor.core.redact import redact_text, redact_uri

TIMEOUT_SECONDS = 3.0


def store_answers(uri: str) -> tuple[bool, str]:
    """The store answers `ping` as the configured user (a wrong password is unhealthy)."""
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    timeout = int(TIMEOUT_SECONDS * 1000)
    try:
        client: MongoClient = MongoClient(
            uri, serverSelectionTimeoutMS=timeout, connectTimeoutMS=timeout
        )
        with client:
            client.admin.command("ping")
            client.admin.command("listDatabases", nameOnly=True)  # needs the login to work
    except PyMongoError as exc:
        return False, f"store {redact_uri(uri)}: {redact_text(str(exc)).splitlines()[0][:200]}"
    return True, f"store {redact_uri(uri)}: answers"


def http_ok(url: str) -> tuple[bool, str]:
    """`url` answers 200 (MLflow's /health, the dashboard's page)."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as reply:
            ok = reply.status == 200
            return ok, f"{url}: HTTP {reply.status}"
    except (urllib.error.URLError, OSError) as exc:
        return False, f"{url}: {exc}"
