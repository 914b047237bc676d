"""A worker process for the reliability tests (run as a script, not collected by pytest).

python claimer.py drain URI DATABASE WORKER_ID SLEEP   claim until the queue is empty,
    "train" SLEEP seconds, complete; prints one JSON line: ids claimed and latencies
python claimer.py hold URI DATABASE WORKER_ID FILE     claim one session, store FILE as
    its checkpoint at 123 steps, print HOLDING <id>, then heartbeat until killed
"""

from __future__ import annotations

import json
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
        store.complete(session.id, worker_id, {"worker": worker_id})
    wall = time.perf_counter() - started
    print(
        json.dumps({"worker": worker_id, "claimed": claimed, "latencies": latencies, "wall": wall})
    )


def hold(store: SessionStore, worker_id: str, checkpoint: Path) -> None:
    session = store.claim(worker_id)
    assert session is not None, "nothing to claim"
    store.checkpoint(session.id, worker_id, checkpoint, 123)
    print(f"HOLDING {session.id}", flush=True)
    while True:
        store.heartbeat(session.id, worker_id, {"timesteps": 123, "total_timesteps": 1000})
        time.sleep(0.3)


def main() -> None:
    mode, uri, database, worker_id, arg = sys.argv[1:6]
    store = SessionStore(uri, database, load_store_config(FAST))
    if mode == "drain":
        drain(store, worker_id, float(arg))
    else:
        hold(store, worker_id, Path(arg))


if __name__ == "__main__":
    main()
