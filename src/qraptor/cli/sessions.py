"""`qraptor sessions submit|list|show|cancel|retry|export` and `qraptor worker`, as functions.

cli.py parses arguments and calls these; they print to stdout (tables through rich) and
raise QraptorError subclasses for anything the user must fix (printed as one line, exit 2).
Sessions are named by their id or any unique prefix of it.

    qraptor sessions submit experiment=quick session.seed=3 --priority 5 --tag smoke
    qraptor sessions list --status running --sweep sweep-20261125-174749-3fa9c2
    qraptor sessions show 20261125-1747          # a unique prefix is enough
    qraptor sessions export 20261125-1747 --out exports/
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from qraptor.core.atomic import write_json_atomic
from qraptor.core.config import compose
from qraptor.core.formatting import STATUS_STYLES
from qraptor.core.log import console_for_stdout, get_logger
from qraptor.core.paths import project_root
from qraptor.evaluation.metric_names import objective_key
from qraptor.store.config import load_store_config, store_config_from
from qraptor.store.status import FileKind, Status
from qraptor.store.store import SessionStore

log = get_logger(__name__)


PIPED_LIST_WIDTH = 200  # piped, a list keeps one row per line (grep) and paths whole


def stdout(wide: bool = False) -> Console:
    """The terminal's width, as wide as needed with `wide`. Piped, 200 columns rather than
    core.log's 80: the list has ten columns and no way yet to leave some out (compare's
    table does), and at 80 its names shrink to an ellipsis and rows wrap."""
    if wide or sys.stdout.isatty():
        return console_for_stdout(wide)
    return Console(width=PIPED_LIST_WIDTH, highlight=False)


def open_store(overrides: Sequence[str]) -> SessionStore:
    """The store of conf/store with `overrides` (``store.uri=...`` or ``uri=...``)."""
    return SessionStore.from_config(load_store_config(overrides), project_root())


def worker(
    overrides: Sequence[str],
    *,
    once: bool = False,
    max_sessions: int | None = None,
    idle_exit: float | None = None,
    poll: float | None = None,
    worker_id: str | None = None,
) -> int:
    """`qraptor worker`: overrides of conf/qraptor.yaml (``lease_seconds=30`` is the store's,
    ``worker.poll_max_seconds=5``, ``tracking.uri=...``); the number of sessions claimed."""
    from qraptor.core.config import compose_command, find_conf_dir
    from qraptor.tracking.card_facts import train_defaults
    from qraptor.tracking.config import tracking_config_from
    from qraptor.worker.config import worker_config_from
    from qraptor.worker.loop import run_worker

    composed = compose_command("qraptor", overrides, primary="store")
    return run_worker(
        store_config_from(composed.store),
        once=once,
        max_sessions=max_sessions,
        idle_exit=idle_exit,
        worker_id=worker_id,
        poll_seconds=poll,
        worker_cfg=worker_config_from(composed.worker),
        tracking=tracking_config_from(composed),
        root=project_root(),
        card_defaults=train_defaults(find_conf_dir()),  # the model cards' config diff
    )


def submit(
    overrides: Sequence[str],
    *,
    priority: int = 0,
    tags: Sequence[str] = (),
    max_attempts: int | None = None,
) -> str:
    """Compose conf/train.yaml with `overrides`, validate, queue; the session id. The
    queue is the composed `store` section (store.uri=..., or QRAPTOR_MONGO_URI)."""
    from qraptor.train.config import TRAIN_CONFIG  # training's imports: only to submit
    from qraptor.worker.submit import enqueue, session_request

    composed = compose(TRAIN_CONFIG, list(overrides))
    request = session_request(composed, overrides)
    root = project_root()
    with SessionStore.from_config(store_config_from(composed.store), root) as store:
        (session_id,) = enqueue(
            store, [request], priority=priority, tags=tags, max_attempts=max_attempts, root=root
        )
    return session_id


def list_table(
    store: SessionStore,
    *,
    status: str | None = None,
    sweep: str | None = None,
    tag: str | None = None,
    limit: int = 50,
) -> Table:
    """Newest first: id, status, name, priority, attempts, progress, worker, Sharpe, age."""
    docs = store.list(status=status, sweep_id=sweep, tag=tag, limit=limit, with_config=True)
    filters = [f"{k} {v}" for k, v in (("status", status), ("sweep", sweep), ("tag", tag)) if v]
    title = f"{len(docs)} session{'s' * (len(docs) != 1)}" + (
        f" ({', '.join(filters)})" if filters else ""
    )
    table = Table(title=title, title_justify="left")
    for column in ("id", "status", "name", "prio", "tries", "progress", "worker"):
        table.add_column(column, no_wrap=column in ("id", "worker"))
    for split in ("val", "test"):
        table.add_column(f"{split} Sharpe", justify="right")
    table.add_column("age", justify="right")
    now = datetime.now(UTC)
    for doc in docs:
        status_ = Status(doc["status"])
        table.add_row(
            doc["_id"],
            Text(status_.value, style=STATUS_STYLES[status_]),
            escape(str(((doc.get("config") or {}).get("session") or {}).get("name", "?"))),
            str(doc["priority"]),
            f"{doc['attempts']}/{doc['max_attempts']}",
            _progress(doc),
            escape(doc.get("worker_id") or "") if status_ is not Status.QUEUED else "",
            *(_fmt(_agent(doc, split).get("sharpe")) for split in ("val", "test")),
            _age(now - doc["created_at"]),
        )
    return table


def show(store: SessionStore, prefix: str) -> Group:
    """One session: what it trains, where it stands, its history, metrics and files."""
    doc = store.get(store.find_id(prefix))
    status_ = Status(doc["status"])
    session = doc["config"].get("session", {})
    algo = doc["config"].get("algo", {})
    lines = [
        f"[bold]session {doc['_id']}[/]  [{STATUS_STYLES[status_]}]{status_.value}[/]  "
        f"attempt {doc['attempts']}/{doc['max_attempts']}, priority {doc['priority']}",
        _kv(
            name=session.get("name"),
            experiment=doc["experiment"],
            sweep=doc.get("sweep_id"),
            tags=", ".join(doc["tags"]) or None,
        ),
        _kv(
            algo=algo.get("name"),
            seed=session.get("seed"),
            timesteps=f"{session.get('total_timesteps', 0):,}",
            envs=session.get("n_envs"),
            objective=session.get("objective"),
            dataset=session.get("dataset"),
        ),
        _kv(overrides=" ".join(doc["overrides"]) or None),
        _kv(
            created=_when(doc["created_at"]),
            started=_when(doc.get("started_at")),
            finished=_when(doc.get("finished_at")),
            worker=doc.get("worker_id"),
        ),
        _kv(
            progress=_progress(doc) or None,
            git=(doc.get("git_commit") or "")[:12] or None,
            data=_data_version(doc.get("data_version")),
        ),
    ]
    parts: list[Any] = [_markup(line) for line in lines if line]
    for entry in doc.get("errors") or []:
        last = entry["error"].strip().splitlines()[-1] if entry["error"].strip() else ""
        parts.append(
            Text(
                f"attempt {entry['attempt']} ({entry.get('worker_id')}, {_when(entry['at'])}): "
                f"{last}",
                style="red",
            )
        )
    if doc.get("error"):
        parts.append(Text(f"latest error:\n{doc['error']}", style="red"))
    if doc.get("metrics"):
        parts.append(_metrics_table(doc["metrics"]))
    parts.append(_files_table(doc))
    return Group(*parts)


def cancel(store: SessionStore, prefix: str) -> str:
    """Cancel the session, and end its MLflow run KILLED now if one is open (a live worker
    stops at its next heartbeat and leaves the run alone; workers' housekeeping would end
    it later otherwise)."""
    session_id = store.find_id(prefix)
    store.cancel(session_id)
    doc = store.get(session_id)
    run_id = doc.get("mlflow_run_id")
    if not (run_id and doc.get("mlflow_run_open")):
        return f"cancelled {session_id}"
    try:
        from qraptor.tracking.session_run import end_abandoned_run

        end_abandoned_run(
            doc["config"], run_id, "KILLED", session_id=session_id,
            sweep_id=doc.get("sweep_id"), root=project_root(),
        )  # fmt: skip
    except Exception as exc:
        log.warning("MLflow run %s not ended now (%s): workers will end it", run_id, exc)
        return f"cancelled {session_id}"
    store.run_closed(session_id, run_id, status="cancelled")
    return f"cancelled {session_id} (MLflow run {run_id} ended KILLED)"


def retry(store: SessionStore, prefix: str, *, fresh: bool = False) -> str:
    session_id = store.find_id(prefix)
    store.retry(session_id, fresh=fresh)
    how = "from scratch" if fresh else "from its last checkpoint, if any"
    return f"queued {session_id} again ({how})"


def export(store: SessionStore, prefix: str, out: Path, *, checkpoints: bool = False) -> list[Path]:
    """Download the session's files (sha256-verified) into `out`: model, CSVs, metrics,
    data record, model card and the rest it links, by their stored names, plus
    session.json (the document: config, status, metrics, file links)."""
    session_id = store.find_id(prefix)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for ref in store.files(session_id):
        if ref.kind is FileKind.CHECKPOINT and not checkpoints:
            continue
        written.append(store.download_file(session_id, ref, out / ref.name))
    doc = store.get(session_id)
    write_json_atomic(out / "session.json", json.loads(json.dumps(doc, default=str)))
    return [*written, out / "session.json"]


def print_export(paths: list[Path]) -> None:
    console = stdout()
    for path in paths:
        console.print(f"{path.stat().st_size:>12,}  {escape(str(path))}")


def _markup(line: str) -> Text:
    """A line whose markup is ours and whose values are escaped already."""
    return Text.from_markup(line)


def _kv(**fields: Any) -> str:
    shown = [f"[dim]{k}[/] {escape(str(v))}" for k, v in fields.items() if v not in (None, "")]
    return "  " + " · ".join(shown) if shown else ""


def _objective_name(objective: Any) -> str:
    """``val.sharpe`` as MLflow and DVC name it: ``val/agent/sharpe`` (as stored if odd)."""
    try:
        return objective_key(str(objective))
    except ValueError:
        return str(objective)


def _metrics_table(metrics: dict[str, Any]) -> Table:
    resumed = metrics.get("resumed_from_timesteps")
    title = (
        f"objective {_objective_name(metrics.get('objective_metric'))} = "
        f"{_fmt(metrics.get('objective'))}; "
        f"{metrics.get('timesteps', 0):,} timesteps"
        + (f" (resumed at {resumed:,})" if resumed else "")
    )
    splits = metrics.get("splits") or {}
    # here, not at the top: its verdicts load SciPy (~0.9 s), which `sessions list` skips
    from qraptor.evaluation.policy_table import policy_rows, report_caption, rich_table

    return rich_table(policy_rows(splits), title=title, caption=report_caption(splits))


def _files_table(doc: dict[str, Any]) -> Table | Text:
    refs = [*doc.get("files", []), *doc.get("checkpoints", [])]
    if not refs:
        return Text("no files", style="dim")
    table = Table(title=f"{len(refs)} files", title_justify="left")
    for column in ("name", "kind", "size", "sha256", "stored"):
        table.add_column(column, justify="right" if column == "size" else "left")
    for ref in refs:
        table.add_row(
            escape(ref["name"]),
            ref["kind"],
            _size(ref["size"]),
            ref["sha256"][:12],
            _when(ref["created_at"]),
        )
    return table


def _agent(doc: dict[str, Any], split: str) -> dict[str, Any]:
    splits = (doc.get("metrics") or {}).get("splits") or {}
    return (splits.get(split) or {}).get("agent") or {}


def _progress(doc: dict[str, Any]) -> str:
    """Timesteps done of the total: the last heartbeat's, or the result's once finished."""
    progress = dict(doc.get("progress") or {})
    metrics = doc.get("metrics") or {}
    if doc["status"] == Status.SUCCEEDED and "timesteps" in metrics:
        progress["timesteps"] = metrics["timesteps"]
        progress.setdefault("total_timesteps", metrics["timesteps"])
    done, total = progress.get("timesteps"), progress.get("total_timesteps")
    if done is None:
        return ""
    if not total:
        return f"{done:,}"
    return f"{min(done / total, 1.0):.0%} {done:,}/{total:,}"


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def _age(delta) -> str:
    seconds = max(delta.total_seconds(), 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def _when(value: datetime | None) -> str | None:
    return None if value is None else f"{value:%Y-%m-%d %H:%M:%S} UTC"


def _size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _data_version(version: dict[str, Any] | None) -> str | None:
    if not version:
        return None
    return f"{version.get('dataset')} {version.get('method')} {str(version.get('hash'))[:16]}"
