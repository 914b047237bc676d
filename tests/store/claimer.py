"""A worker process for the reliability tests (run as a script, not collected by pytest).

python claimer.py drain URI DATABASE WORKER_ID SLEEP   claim until the queue is empty,
    "train" SLEEP seconds, complete; prints one JSON line: ids claimed and latencies
python claimer.py hold URI DATABASE WORKER_ID FILE     claim one session, store FILE as
    its checkpoint at 123 steps, print HOLDING <id>, then heartbeat until killed
python claimer.py orphan URI DATABASE WORKER_ID FILE   claim one session, upload FILE as
    its model, then kill itself (SIGKILL) before linking it, in the middle of a second
    upload of FILE whose first chunks are written: an unlinked file and stray chunks
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from qraptor.store import SessionStore, load_store_config

FAST = ["lease_seconds=1.5", "heartbeat_seconds=0.5", "server_selection_timeout_seconds=2"]


def drain(store: SessionStore, worker_id: str, sleep: float) -> None:
    claimed, latencies = [], []
    started = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        session = store.claim(worker_id)
        latencies.append(time.perf_counter() - t0)
        if session is None:
            break
        claimed.append(session.id)
        time.sleep(sleep)
        store.complete(session.claim, {"worker": worker_id})
    wall = time.perf_counter() - started
    print(
        json.dumps({"worker": worker_id, "claimed": claimed, "latencies": latencies, "wall": wall})
    )


def hold(store: SessionStore, worker_id: str, checkpoint: Path) -> None:
    session = store.claim(worker_id)
    assert session is not None, "nothing to claim"
    store.checkpoint(session.claim, checkpoint, 123)
    print(f"HOLDING {session.id}", flush=True)
    while True:
        store.heartbeat(session.claim, {"timesteps": 123, "total_timesteps": 1000})
        time.sleep(0.3)


def orphan(store: SessionStore, worker_id: str, path: Path) -> None:
    from qraptor.store import session_files
    from qraptor.store.status import FileKind

    session = store.claim(worker_id)
    assert session is not None, "nothing to claim"
    conn = store._conn
    ref = session_files._upload(conn, session.id, FileKind.MODEL, path, path.name, None)
    # GridFS sends chunks in batches of up to 48 MB: a model that big, killed mid-upload,
    # leaves chunks without a file document. Batches of 2 KB make that happen with 4 KB.
    from gridfs.synchronous import grid_file

    grid_file._UPLOAD_BUFFER_SIZE = 2048  # type: ignore[attr-defined]
    stream = conn.bucket.open_upload_stream(path.name, chunk_size_bytes=1024)
    stream.write(path.read_bytes()[:4106])  # four chunks written, no file document yet
    print(f"UPLOADED {ref.file_id} {stream._id}", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    mode, uri, database, worker_id, arg = sys.argv[1:6]
    store = SessionStore(uri, database, load_store_config(FAST))
    if mode == "drain":
        drain(store, worker_id, float(arg))
    elif mode == "orphan":
        orphan(store, worker_id, Path(arg))
    else:
        hold(store, worker_id, Path(arg))


if __name__ == "__main__":
    main()
