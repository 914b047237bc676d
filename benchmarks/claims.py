"""Benchmark of claiming sessions from the queue (issue 12, item 9): claim latency by queue size.

Starts its own SecantusDB server in a temporary folder under `--workdir` (qraptor's
local-server code, conf/store's settings: WiredTiger cache, sync on commit), and for each
queue size (`--sizes`, default 100 / 1,000 / 10,000 queued sessions):

* fills a fresh database: two sessions through `SessionStore.submit` with a real composed
  config (conf/train.yaml with no overrides, as `qraptor sessions submit` stores it: ~2.6 kB
  of BSON), then copies of the first one, bulk-inserted with their own `_id`, `created_at`
  (1 ms apart) and priority (every fifth 1, the rest 0). Copies are only used when a submit
  writes exactly one document and two submits differ in nothing but those fields (`--fill
  auto`); a store that derives more from them (an ordering key, a queue collection) is
  filled by `submit` alone, which is slower (100-250 sessions/s here: ~100 s for 10,000)
  but always right;
* runs 1, 2 and 4 claimer processes (`--workers`, benchmarks/_claimer.py), started together,
  each claiming up to `--claims` sessions (default 50) and starting no new claim after
  `--seconds` (default 20): `store.claim(worker_id)` alone is timed; after each claim the
  claimer submits one session (untimed), so the queue keeps its size. Claimed sessions stay
  running under a one-hour lease, so no lease expires during a run. By default claims follow
  each other at once (the worst case: every claimer hammers the server, and on a 2-core
  machine the claimers and the server share the CPUs); `--pause S` makes each claimer wait a
  random 0-2S seconds after each claim, as workers that train in between do;
* reports, over all claims of all claimers of a run: median, p95 and max latency, claims
  per second (all claimers together), and the median's ratio to the baseline.

The baseline, measured in the same run: the median claim with 100 queued and one claimer
(the first size and worker count when those are not selected). The target is issue 12's
"a claim under 20 ms up to 10,000 queued sessions on the local server", judged on each row's
median (and shown for its p95). Public store API only (SessionStore, submit, claim, get,
counts); the copies go in through a plain pymongo client. The machines are 2-core and
shared: the load average is printed before and after; compare medians. A full run takes
~3-4 minutes (the current claim needs ~2 s per claim at 10,000 queued, so those rows stop
on `--seconds` with ~10 claims); `--quick` (100 / 1,000 queued, 1-2 claimers, 10 claims) ~25 s.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from machine import finish, machine  # benchmarks/machine.py (the script's folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
CLAIMER = Path(__file__).resolve().parent / "_claimer.py"
TARGET_MS = 20.0  # issue 12: a claim under 20 ms up to 10,000 queued sessions
TARGET_TEXT = "< 20 ms"
# A lease outlives every run: the claimed sessions stay running, none becomes reclaimable.
STORE_OVERRIDES = ("lease_seconds=3600", "heartbeat_seconds=600")
# what a copy changes (the claim key follows from the other three: claim_order.claim_key)
COPY_FIELDS = {"_id", "created_at", "updated_at", "priority", "claim_key"}
BULK_CHUNK = 500
DEFAULTS = {"sizes": "100,1000,10000", "workers": "1,2,4", "claims": 50, "seconds": 20.0}
QUICK = {"sizes": "100,1000", "workers": "1,2", "claims": 10, "seconds": 5.0}


# --- the queue --------------------------------------------------------------------------


def session_config() -> dict[str, Any]:
    """What `qraptor sessions submit` stores: conf/train.yaml composed, validated, resolved."""
    from qraptor.core.config import compose
    from qraptor.train.config import TRAIN_CONFIG
    from qraptor.worker.submit import session_request

    return session_request(compose(TRAIN_CONFIG, [])).config


def can_copy(store: Any, uri: str, database: str, collection: str) -> tuple[bool, str]:
    """Whether bulk copies of a submitted document are what `submit` would have written:
    two submits wrote two documents, both in `collection`, differing only in COPY_FIELDS."""
    from pymongo import MongoClient

    client: MongoClient = MongoClient(uri)
    try:
        db = client[database]
        docs = list(db[collection].find({}))
        others = {
            name: n
            for name in db.list_collection_names()
            if name != collection and (n := db[name].count_documents({}))
        }
    finally:
        client.close()
    if others:
        return False, f"a submit also writes to {sorted(others)}"
    if len(docs) != 2:
        return False, f"two submits left {len(docs)} documents"
    differing = {k for k in docs[0].keys() | docs[1].keys() if docs[0].get(k) != docs[1].get(k)}
    if extra := differing - COPY_FIELDS:
        return False, f"submits differ in {sorted(extra)} too"
    return True, "copies of a submitted document"


def fill(
    store: Any, uri: str, database: str, collection: str, size: int, config: dict, mode: str
) -> str:
    """`size` queued sessions in `database`; how they were made."""
    first = store.submit(config, priority=1)
    store.submit(config, priority=0)
    how = "submit"
    if mode != "submit":
        ok, why = can_copy(store, uri, database, collection)
        if not ok and mode == "bulk":
            raise SystemExit(f"--fill bulk: copies would not be what submit writes ({why})")
        how = why if ok else f"submit ({why})"
        if ok:
            _insert_copies(store.get(first), uri, database, collection, size - 2)
            return how
    for i in range(size - 2):
        store.submit(config, priority=1 if i % 5 == 0 else 0)
    return how


def _insert_copies(proto: dict, uri: str, database: str, collection: str, count: int) -> None:
    from pymongo import MongoClient

    from qraptor.store.claim_order import claim_key

    start = proto["created_at"] - timedelta(milliseconds=count + 1)
    client: MongoClient = MongoClient(uri)
    try:
        target = client[database][collection]
        for chunk in range(0, count, BULK_CHUNK):
            docs = []
            for i in range(chunk, min(chunk + BULK_CHUNK, count)):
                created = start + timedelta(milliseconds=i)
                sid, priority = f"{created:%Y%m%d-%H%M%S}-b{i:07x}", 1 if i % 5 == 0 else 0
                copy = {**proto, "_id": sid, "created_at": created, "updated_at": created}
                copy["priority"] = priority
                if "claim_key" in proto:
                    copy["claim_key"] = claim_key(priority, created, sid)
                docs.append(copy)
            target.insert_many(docs, ordered=False)
    finally:
        client.close()


def drop_database(uri: str, database: str) -> None:
    from pymongo import MongoClient

    client: MongoClient = MongoClient(uri)
    try:
        client.drop_database(database)
    finally:
        client.close()


# --- claimers ---------------------------------------------------------------------------


def run_claimers(
    uri: str,
    database: str,
    workers: int,
    claims: int,
    seconds: float,
    pause: float,
    config_path: Path,
) -> dict[str, Any]:
    """`workers` claimer processes started together; their claims' latencies (seconds)."""
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(CLAIMER),
                uri,
                database,
                f"bench-{workers}-{i}",
                str(claims),
                str(seconds),
                str(pause),
                str(config_path),
                *STORE_OVERRIDES,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(workers)
    ]
    try:
        for proc in procs:  # every claimer has opened its store: start them together
            line = proc.stdout.readline() if proc.stdout else ""
            if line.strip() != "READY":
                raise SystemExit(f"a claimer did not start (said {line!r})")
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = []
        for proc in procs:
            out, _ = proc.communicate(timeout=seconds + 600)
            if proc.returncode:
                raise SystemExit(f"a claimer failed (exit {proc.returncode})")
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    latencies = [x for r in results for x in r["latencies"]]
    wall = max(r["wall"] for r in results)
    return {
        "latencies": latencies,
        "empty": sum(r["empty"] for r in results),
        "wall": wall,
        "per_worker": [len(r["latencies"]) for r in results],
    }


def summary(latencies: list[float]) -> dict[str, float]:
    ms = sorted(x * 1e3 for x in latencies)
    p95 = ms[max(0, math.ceil(0.95 * len(ms)) - 1)]  # nearest rank
    return {"median_ms": statistics.median(ms), "p95_ms": p95, "max_ms": ms[-1]}


# --- report -----------------------------------------------------------------------------


def verdict(value_ms: float) -> str:
    return "MET" if value_ms < TARGET_MS else "MISSED"


def print_table(rows: list[dict[str, Any]], baseline: str, pause: float) -> None:
    paced = f"then a pause of {pause:g} s on average" if pause else "no pause between claims"
    print(
        "\nClaim latency on SecantusDB (store.claim alone; each claim is followed by one untimed "
        f"submit, so the queue keeps its size; {paced})"
    )
    header = (
        f"{'queued':>7} {'workers':>7} {'claims':>6} {'median ms':>9} {'p95 ms':>8} "
        f"{'max ms':>8} {'claims/s':>8} {'x baseline':>10}  target {TARGET_TEXT} (median / p95)"
    )
    print(header + "\n" + "-" * len(header))
    for row in rows:
        print(
            f"{row['queued']:>7,} {row['workers']:>7} {row['claims']:>6} "
            f"{row['median_ms']:>9.1f} {row['p95_ms']:>8.1f} {row['max_ms']:>8.1f} "
            f"{row['claims_per_second']:>8.1f} {row['x_baseline']:>9.2f}x  "
            f"{verdict(row['median_ms'])} / {verdict(row['p95_ms'])}"
        )
    print(
        f"   baseline = {baseline}; x baseline = row median / baseline median\n"
        f"   target: issue 12, a claim under {TARGET_MS:g} ms up to 10,000 queued sessions "
        "(judged on the median; p95 shown)\n"
        "   claims/s = all claimers' claims / the longest claimer's wall time (submits and "
        "pauses included)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", help=f"queued sessions per run (default {DEFAULTS['sizes']})")
    parser.add_argument("--workers", help=f"claimer processes (default {DEFAULTS['workers']})")
    parser.add_argument(
        "--claims", type=int, help=f"claims per claimer (default {DEFAULTS['claims']})"
    )
    parser.add_argument(
        "--seconds",
        type=float,
        help=f"no new claim after this long, per run (default {DEFAULTS['seconds']:g})",
    )
    parser.add_argument(
        "--pause",
        type=float,
        default=0.0,
        help="mean seconds a claimer waits after each claim (random 0-2x; default 0: none)",
    )
    parser.add_argument(
        "--fill",
        choices=("auto", "bulk", "submit"),
        default="auto",
        help="auto: bulk copies when they equal what submit writes, else submit (default)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small run: 100/1,000 queued, 1-2 workers"
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/qraptor-bench"))
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args(argv)
    preset = QUICK if args.quick else DEFAULTS
    sizes = [int(s) for s in (args.sizes or preset["sizes"]).split(",") if s]
    workers = [int(w) for w in (args.workers or preset["workers"]).split(",") if w]
    claims = args.claims or int(preset["claims"])
    seconds = args.seconds or float(preset["seconds"])
    pause = args.pause
    if min(sizes) < 2 or min(workers) < 1 or pause < 0:
        parser.error("sizes must be >= 2, worker counts >= 1 and --pause >= 0")
    json_path = args.json.resolve() if args.json else None
    args.workdir.mkdir(parents=True, exist_ok=True)

    os.environ.setdefault("QRAPTOR_CONF_DIR", str(ROOT / "conf"))
    from qraptor.store import SessionStore, load_store_config, local_server

    cfg = load_store_config(list(STORE_OVERRIDES))
    report: dict[str, Any] = {"machine_before": machine()}
    report["settings"] = {
        "sizes": sizes,
        "workers": workers,
        "claims": claims,
        "seconds": seconds,
        "pause": pause,
        "fill": args.fill,
    }
    print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    config = session_config()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="claims-bench-", dir=args.workdir) as scratch:
        tmp = Path(scratch)
        config_path = tmp / "config.json"
        config_path.write_text(json.dumps(config), encoding="utf-8")
        state = local_server.start_server(cfg.local, tmp / "server")
        try:
            for size in sizes:
                database = f"claims_bench_{size}"
                with SessionStore(state.uri, database, cfg) as store:
                    started = time.perf_counter()
                    how = fill(store, state.uri, database, cfg.collection, size, config, args.fill)
                    queued = store.counts()["queued"]
                    print(
                        f"  {size:,} queued ({how}) in {time.perf_counter() - started:.1f} s",
                        flush=True,
                    )
                    if queued != size:
                        raise SystemExit(f"the fill left {queued} queued sessions, not {size}")
                    for n in workers:
                        result = run_claimers(
                            state.uri, database, n, claims, seconds, pause, config_path
                        )
                        if not result["latencies"]:
                            raise SystemExit(f"{n} claimer(s) claimed nothing at {size} queued")
                        row = {
                            "queued": size,
                            "workers": n,
                            "claims": len(result["latencies"]),
                            **summary(result["latencies"]),
                            "claims_per_second": len(result["latencies"]) / result["wall"],
                            "empty_claims": result["empty"],
                            "per_worker": result["per_worker"],
                            "queued_after": store.counts()["queued"],
                            "latencies_ms": [x * 1e3 for x in result["latencies"]],
                        }
                        rows.append(row)
                        print(
                            f"    {n} claimer(s): {row['claims']} claims, median "
                            f"{row['median_ms']:.1f} ms, p95 {row['p95_ms']:.1f} ms",
                            flush=True,
                        )
                drop_database(state.uri, database)  # frees the server's cache and disk
        finally:
            local_server.stop_server(tmp / "server", timeout=cfg.local.stop_timeout_seconds)
    base = next((r for r in rows if r["queued"] == 100 and r["workers"] == 1), rows[0])
    baseline = f"{base['queued']:,} queued, {base['workers']} claimer ({base['median_ms']:.1f} ms)"
    for row in rows:
        row["x_baseline"] = row["median_ms"] / base["median_ms"]
    report["rows"] = rows
    report["baseline"] = baseline
    print_table(rows, baseline, pause)
    finish(report, json_path, "compare medians; differences under ~15% are noise")
    return 0


if __name__ == "__main__":
    sys.exit(main())
