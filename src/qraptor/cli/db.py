"""`qraptor db start|status|stop`: the local SecantusDB server, as printable results.

The CLI wires these in (compose conf/store, call, print the returned text). With a URI
configured (QRAPTOR_MONGO_URI[_FILE] or store.uri) qraptor manages nothing: start and stop say
so, status reports on that database with its password hidden.
"""

from __future__ import annotations

from pathlib import Path

from qraptor.store import local_server  # first: it says which extra brings pymongo

# ruff: noqa: I001 - the store package (its extra check) is imported before pymongo
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from qraptor.core.redact import redact_uri
from qraptor.store.config import StoreConfig
from qraptor.store.retry import short_cause
from qraptor.store.uri import configured, local_data_dir


def db_start(cfg: StoreConfig, root: Path | None = None) -> str:
    """Start the local server (or find it running); what happened, with its URI."""
    external = _external(cfg)
    if external:
        return external
    data_dir = local_data_dir(cfg, root)
    before = local_server.running_server(data_dir)
    state = local_server.ensure_server(cfg.local, data_dir)
    verb = "already running" if before is not None else "started"
    return (
        f"local MongoDB server {verb}: {state.uri}\n"
        f"  pid {state.pid}, data in {data_dir}, since {state.started_at}"
    )


def db_stop(cfg: StoreConfig, root: Path | None = None) -> str:
    """Stop the local server; what happened."""
    external = _external(cfg)
    if external:
        return external
    data_dir = local_data_dir(cfg, root)
    state = local_server.stop_server(data_dir, cfg.local.stop_timeout_seconds)
    if state is None:
        return f"no local MongoDB server running for {data_dir}"
    return (
        f"stopped the local MongoDB server (pid {state.pid}, port {state.port}); "
        f"data kept in {data_dir}"
    )


def db_status(cfg: StoreConfig, root: Path | None = None) -> tuple[str, bool]:
    """Which database sessions go to, whether it answers, and its sessions per status; and
    whether it answers (`qraptor db status` exits 3 when not, as `systemctl status` does)."""
    found = configured(cfg)
    if found:
        uri, source = found
        lines = [f"MongoDB from {source}: {redact_uri(uri)}"]
    else:
        data_dir = local_data_dir(cfg, root)
        status = local_server.server_status(data_dir)
        if status.state is None:
            return (
                f"local MongoDB server: stopped (data folder {data_dir}, "
                f"{status.size_bytes / 1e6:.1f} MB)\n  start it with `qraptor db start`"
            ), False
        state = status.state
        uri = state.uri
        lines = [
            f"local MongoDB server: running, {uri}",
            f"  pid {state.pid}, since {state.started_at}, data {status.size_bytes / 1e6:.1f} MB "
            f"in {data_dir}, log {status.log_path}",
        ]
    more, answering = _database_lines(uri, cfg)
    return "\n".join([*lines, *more]), answering


def _database_lines(uri: str, cfg: StoreConfig) -> tuple[list[str], bool]:
    timeout_ms = int(cfg.server_selection_timeout_seconds * 1000)
    client: MongoClient = MongoClient(uri, serverSelectionTimeoutMS=timeout_ms)
    try:
        build = client.admin.command("buildInfo")
        collection = client[cfg.database][cfg.collection]
        rows = collection.aggregate([{"$group": {"_id": "$status", "n": {"$sum": 1}}}])
        counts = ", ".join(f"{r['_id']} {r['n']}" for r in sorted(rows, key=lambda r: r["_id"]))
    except PyMongoError as exc:
        return [f"  not answering: {short_cause(exc)}"], False
    finally:
        client.close()
    return [
        f"  server version {build.get('version', '?')}",
        f"  sessions in {cfg.database}.{cfg.collection}: {counts or 'none'}",
    ], True


def _external(cfg: StoreConfig) -> str | None:
    found = configured(cfg)
    if not found:
        return None
    uri, source = found
    return (
        f"sessions use {redact_uri(uri)} (from {source}): qraptor does not start "
        "or stop that server; unset the URI to use the local one"
    )


__all__ = ["db_start", "db_status", "db_stop"]
