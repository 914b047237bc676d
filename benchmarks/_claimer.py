"""One claimer process of benchmarks/claims.py (run by it; not a benchmark on its own).

    python benchmarks/_claimer.py URI DATABASE WORKER_ID CLAIMS SECONDS PAUSE CONFIG \
        [OVERRIDES...]

Opens the store with conf/store and OVERRIDES, prints READY, waits for one line on stdin
(so that every claimer starts at once), then claims up to CLAIMS sessions, starting no new
claim after SECONDS. Each claim is timed alone; after it (untimed) one session with the
config in the JSON file CONFIG is submitted, so the queue keeps its size while it is drained, and
the claimer waits a random 0-2xPAUSE seconds (PAUSE 0: the next claim at once).
Claimed sessions stay running under their lease (the benchmark gives a long one). Prints
one JSON line: {"worker", "latencies" (seconds), "empty" (claims that found nothing), "wall"}.
Public store API only: SessionStore, submit, claim.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    uri, database, worker_id, claims, seconds, pause, config_path, *overrides = argv
    from qraptor.store import SessionStore, load_store_config

    config = json.loads(Path(config_path).read_text(encoding="utf-8"))
    store = SessionStore(uri, database, load_store_config(overrides))
    print("READY", flush=True)
    sys.stdin.readline()
    latencies: list[float] = []
    empty = 0
    started = time.perf_counter()
    deadline = started + float(seconds)
    while len(latencies) + empty < int(claims) and time.perf_counter() < deadline:
        t0 = time.perf_counter()
        session = store.claim(worker_id)
        elapsed = time.perf_counter() - t0
        if session is None:
            empty += 1
            continue
        latencies.append(elapsed)
        store.submit(config, tags=["bench-topup"])  # untimed: the queue keeps its size
        if float(pause) > 0:  # a worker between two claims (training), on average PAUSE
            time.sleep(random.uniform(0, 2 * float(pause)))
    wall = time.perf_counter() - started
    store.close()
    print(json.dumps({"worker": worker_id, "latencies": latencies, "empty": empty, "wall": wall}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
