"""The local SecantusDB server qraptor runs when no MongoDB URI is configured.

One server per data folder (WiredTiger locks it), laid out as::

    <dir>/data/            the database (WiredTiger home); with sync_on_commit it survives kill -9
    <dir>/server.json      pid, port, start time of the running server (absent when stopped)
    <dir>/port             the last port used, kept across stops so the URI stays the same
    <dir>/server.log       the server's output, appended across starts
    <dir>/secantusd.toml   its config file, written once, yours to edit (cache, oplog)
    <dir>/server.lock      serialises start/stop between processes
    <dir>/.gitignore       "*": the folder stays out of git wherever it is (.qraptor/ is
                           also in the project's .gitignore)

The server is detached from the terminal that started it (workers come and go, the
database stays) and listens on loopback only, on a free port that is remembered and
reused on the next start so printed URIs stay valid. A pid is only ever signalled after
checking it is still that server (start time and command line), never by name.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import psutil
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from qraptor.core.atomic import write_json_atomic
from qraptor.core.log import get_logger
from qraptor.core.paths import installed_command
from qraptor.store.config import LocalServerConfig
from qraptor.store.errors import LocalServerError

log = get_logger(__name__)

STATE_FILE = "server.json"
PORT_FILE = "port"
LOG_FILE = "server.log"
LOCK_FILE = "server.lock"
TOML_FILE = "secantusd.toml"
DATA_SUBDIR = "data"
_TOML_TEXT = (
    "# SecantusDB settings for qraptor's local server (secantusd-py --config this file).\n"
    "# qraptor passes host, port, storage path, cache size and --sync-on-commit as flags.\n"
    "# Keys: https://pypi.org/project/SecantusDB/ ([server], [oplog], [storage], [tls]).\n"
)
_children: dict[int, subprocess.Popen] = {}  # servers this process started, to reap them


@dataclass(frozen=True)
class ServerState:
    """What server.json records about a running local server."""

    pid: int
    host: str
    port: int
    storage_path: str
    started_at: str  # ISO time, UTC
    create_time: float  # the process's start time: guards against a recycled pid

    @property
    def uri(self) -> str:
        return f"mongodb://{self.host}:{self.port}/?directConnection=true"


@dataclass(frozen=True)
class LocalServerStatus:
    data_dir: Path
    state: ServerState | None  # None: not running
    responding: bool
    size_bytes: int
    log_path: Path

    @property
    def running(self) -> bool:
        return self.state is not None


def ensure_server(local: LocalServerConfig, data_dir: Path) -> ServerState:
    """The running server of `data_dir`, started first if needed (reuse is the norm)."""
    with _locked(data_dir):
        state = _live_state(data_dir)
        if state is not None:
            if not _responds(state.uri, timeout=min(5.0, local.start_timeout_seconds)):
                raise LocalServerError(
                    f"the local server (pid {state.pid}, port {state.port}) for {data_dir} is "
                    "running but does not answer; stop it with `qraptor db stop`"
                )
            return state
        return _start(local, data_dir)


def start_server(local: LocalServerConfig, data_dir: Path) -> ServerState:
    """Start the server of `data_dir`; a LocalServerError if one is already running."""
    with _locked(data_dir):
        state = _live_state(data_dir)
        if state is not None:
            raise LocalServerError(f"a server for {data_dir} already runs: {state.uri}")
        return _start(local, data_dir)


def stop_server(data_dir: Path, timeout: float) -> ServerState | None:
    """Stop the server of `data_dir` (SIGTERM, SIGKILL after `timeout`); the stopped
    server's state, or None if none was running."""
    with _locked(data_dir):
        state = _live_state(data_dir)
        if state is None:
            return None
        _terminate(state, timeout)
        (data_dir / STATE_FILE).unlink(missing_ok=True)
        log.info("stopped the local MongoDB server (pid %d, port %d)", state.pid, state.port)
        return state


def running_server(data_dir: Path) -> ServerState | None:
    """The state of the live server of `data_dir`, or None (stale state files are ignored)."""
    return _live_state(data_dir)


def server_status(data_dir: Path) -> LocalServerStatus:
    state = _live_state(data_dir)
    responding = state is not None and _responds(state.uri, timeout=2.0)
    size = sum(p.stat().st_size for p in (data_dir / DATA_SUBDIR).rglob("*") if p.is_file())
    return LocalServerStatus(data_dir, state, responding, size, data_dir / LOG_FILE)


def free_port(host: str) -> int:
    """A port nobody listens on right now (the server may still lose a race for it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _start(local: LocalServerConfig, data_dir: Path) -> ServerState:
    previous = _last_port(data_dir)
    ports = [local.port] if local.port else []
    if not ports and previous is not None and _port_free(local.host, previous):
        ports.append(previous)  # same URI as before the stop
    ports += [free_port(local.host) for _ in range(3)] if not local.port else []
    problem = ""
    for port in ports:
        state, problem = _launch(local, data_dir, port)
        if state is not None:
            return state
        if "address already in use" not in problem.lower():
            break
    raise LocalServerError(f"could not start the local MongoDB server in {data_dir}: {problem}")


def _launch(local: LocalServerConfig, data_dir: Path, port: int) -> tuple[ServerState | None, str]:
    """Start one server process on `port` and wait until it answers a ping."""
    (data_dir / DATA_SUBDIR).mkdir(parents=True, exist_ok=True)
    ignore = data_dir / ".gitignore"
    if not ignore.exists():  # wherever store.local.dir points, git never sees the database
        ignore.write_text(
            "# qraptor's local MongoDB server: data, logs, pid\n*\n", encoding="utf-8"
        )
    toml = data_dir / TOML_FILE
    if not toml.exists():  # --config also stops secantusd reading a ./secantusd.toml
        toml.write_text(_TOML_TEXT, encoding="utf-8")
    log_path = data_dir / LOG_FILE
    offset = log_path.stat().st_size if log_path.exists() else 0
    cmd = [
        *server_command(),
        *("--config", str(toml), "--host", local.host, "--port", str(port)),
        *("--storage-path", str(data_dir / DATA_SUBDIR), "--cache-size", local.cache_size),
        *(["--sync-on-commit"] if local.sync_on_commit else []),
    ]
    with log_path.open("ab") as out:
        out.write(f"--- qraptor: {' '.join(cmd)}\n".encode())
        out.flush()
        proc = subprocess.Popen(  # detached: outlives the worker or CLI that started it
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    _children[proc.pid] = proc
    uri = f"mongodb://{local.host}:{port}/?directConnection=true"
    deadline = time.monotonic() + local.start_timeout_seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            _children.pop(proc.pid, None)
            return None, f"the server exited ({proc.returncode}): {_log_tail(log_path, offset)}"
        if _responds(uri, timeout=0.3):
            started = datetime.now(UTC).isoformat(timespec="seconds")
            create_time = psutil.Process(proc.pid).create_time()
            state = ServerState(
                proc.pid, local.host, port, str(data_dir / DATA_SUBDIR), started, create_time
            )
            write_json_atomic(data_dir / STATE_FILE, asdict(state))
            (data_dir / PORT_FILE).write_text(f"{port}\n", encoding="utf-8")
            log.info("local MongoDB server (SecantusDB) ready: %s, data in %s", uri, data_dir)
            return state, ""
        time.sleep(0.1)
    _terminate_process(proc.pid, 5.0)
    return (
        None,
        f"no answer within {local.start_timeout_seconds:g} s: {_log_tail(log_path, offset)}",
    )


def server_command() -> list[str]:
    """secantusd-py next to this interpreter (the venv), else on PATH."""
    found = installed_command("secantusd-py")
    if found:
        return [found]
    raise LocalServerError(
        "secantusd-py (package SecantusDB) is not installed in this environment: "
        "pip install 'qraptor[store]', or set QRAPTOR_MONGO_URI to a MongoDB server"
    )


def _read_state(data_dir: Path) -> ServerState | None:
    try:
        return ServerState(**json.loads((data_dir / STATE_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def _last_port(data_dir: Path) -> int | None:
    try:
        return int((data_dir / PORT_FILE).read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None


def _live_state(data_dir: Path) -> ServerState | None:
    """server.json's state if that process is still the server it describes."""
    state = _read_state(data_dir)
    if state is None or not _is_our_server(state):
        return None
    return state


def _is_our_server(state: ServerState) -> bool:
    try:
        proc = psutil.Process(state.pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            _reap(state.pid)
            return False
        same_start = abs(proc.create_time() - state.create_time) < 1.0
        return same_start and state.storage_path in proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _terminate(state: ServerState, timeout: float) -> None:
    if not _is_our_server(state):
        return
    _terminate_process(state.pid, timeout)


def _terminate_process(pid: int, timeout: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not _wait_gone(pid, timeout):
        log.warning(
            "the local server (pid %d) ignored SIGTERM for %.0f s: killing it", pid, timeout
        )
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _wait_gone(pid, 10.0)


def _wait_gone(pid: int, timeout: float) -> bool:
    proc = _children.get(pid)
    if proc is not None:
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        _children.pop(pid, None)
        return True
    # Not our child: poll. A zombie counts as gone (its parent, e.g. a worker that started
    # the server, reaps it later); waiting for it would hang `qraptor db stop`.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def _reap(pid: int) -> None:
    proc = _children.pop(pid, None)
    if proc is not None:
        proc.wait()


def _responds(uri: str, timeout: float) -> bool:
    ms = max(int(timeout * 1000), 50)
    client: MongoClient = MongoClient(uri, serverSelectionTimeoutMS=ms, connectTimeoutMS=ms)
    try:
        client.admin.command("ping")
        return True
    except PyMongoError:
        return False
    finally:
        client.close()


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _log_tail(path: Path, offset: int, lines: int = 5) -> str:
    try:
        with path.open("rb") as f:
            f.seek(offset)
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return "(no server log)"
    tail = [line for line in text.splitlines() if line.strip() and not line.startswith("---")]
    return " | ".join(tail[-lines:]) or f"(nothing in {path})"


@contextlib.contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    """Hold <dir>/server.lock: two processes must not start two servers on one folder."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / LOCK_FILE).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
