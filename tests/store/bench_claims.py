"""Claim throughput and latency on a real SecantusDB server (a script, not a test).

    .venv/bin/python tests/sessions/bench_claims.py [--queued 200] [--finished 0 4000]

For each size of the collection (finished sessions lying around) and 1 and 2 claimer
processes: sessions claimed+completed per second and claim latency (median, p95), the
median of --repeats runs. Uses claimer.py's `drain` mode with no training time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from qraptor.store import SessionStore, Status, load_store_config, local_server

HERE = Path(__file__).resolve().parent


def run(uri: str, database: str, claimers: int) -> tuple[float, list[float]]:
    procs = [
        subprocess.Popen(
            [sys.executable, str(HERE / "claimer.py"), "drain", uri, database, f"b{i}", "0"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(claimers)
    ]
    results = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    claimed = sum(len(r["claimed"]) for r in results)
    wall = max(r["wall"] for r in results)
    return claimed / wall, [x for r in results for x in r["latencies"][:-1]]


def _add_finished(store: SessionStore, count: int) -> None:
    """`count` succeeded sessions (copies of a real document), inserted in bulk."""
    if not count:
        return
    proto = store.get(store.submit({"algo": "ppo"}))
    store._conn.sessions.delete_one({"_id": proto["_id"]})
    docs = [
        {**proto, "_id": f"done-{i:06d}", "status": Status.SUCCEEDED.value} for i in range(count)
    ]
    for start in range(0, count, 500):
        store._conn.sessions.insert_many(docs[start : start + 500])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queued", type=int, default=200)
    parser.add_argument("--finished", type=int, nargs="+", default=[0, 4000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cfg = load_store_config()
    with tempfile.TemporaryDirectory() as tmp:
        state = local_server.start_server(cfg.local, Path(tmp))
        try:
            for finished in args.finished:
                for claimers in (1, 2):
                    rates, latencies = [], []
                    for repeat in range(args.repeats):
                        database = f"bench_{finished}_{claimers}_{repeat}"
                        store = SessionStore(state.uri, database, cfg)
                        _add_finished(store, finished)
                        for _ in range(args.queued):
                            store.submit({"algo": "ppo"})
                        rate, lat = run(state.uri, database, claimers)
                        rates.append(rate)
                        latencies += lat
                        store._conn.client.drop_database(database)
                        store.close()
                    latencies.sort()
                    print(
                        f"{finished:>5} finished, {claimers} claimer(s): "
                        f"{statistics.median(rates):6.1f} sessions/s (claim+complete), claim "
                        f"median {statistics.median(latencies) * 1e3:5.1f} ms, "
                        f"p95 {latencies[int(0.95 * len(latencies))] * 1e3:5.1f} ms",
                        flush=True,
                    )
        finally:
            local_server.stop_server(Path(tmp), timeout=20)


if __name__ == "__main__":
    main()
