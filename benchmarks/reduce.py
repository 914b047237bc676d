"""Benchmark of stage `reduce`: N synthetic ticks -> 1-minute bars (issue 2's figures).

The same ticks, written once as CSV and as Parquet by `qraptor.data.synthetic.tape`, are reduced
to 1-minute OHLCV+VWAP+trades bars by

* qraptor end to end: `ingest` (CSV/Parquet -> part folder; a cached DVC stage in the
  pipeline, so paid once per raw data) + `reduce`;
* qraptor reduce only: `reduce` from the ingested part folder (what every later
  `dvc repro` with new reduce parameters costs);
* plain pandas: read everything (`read_csv(parse_dates=...)` / `read_parquet`) + `resample`
  (the issue's named baseline);
* duckdb: one SQL query (threads=2, memory_limit=2GB) on the CSV or Parquet files.

Each method runs in its own subprocess, so its peak RSS (VmHWM, read by the child) is its
own; seconds are the median of `--repeat` runs, measured inside the child around the work
(imports excluded). All methods must produce the same bars (timestamps, open/high/low/close,
trades and volume exactly; VWAP to 1e-9 relative, the order of float sums differs): the run
fails loudly if they do not. `--rows 20000000,100000000` runs both sizes and shows whether
peak RSS grows with the input. Inputs are cached in `--workdir`, so reruns do not regenerate.
The e2e-csv row is also set against duckdb's CSV query run by run: each repeat runs the two
back to back, and the ratio printed is the median of those paired ratios (robust to a shared
machine's load changing within the run).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl

METHODS: dict[str, tuple[str, str, str]] = {  # name -> (engine, input format, what is timed)
    "pandas-csv": ("pandas", "csv", "read_csv + resample"),
    "pandas-parquet": ("pandas", "parquet", "read_parquet + resample"),
    "duckdb-csv": ("duckdb", "csv", "SQL on the CSV files"),
    "duckdb-parquet": ("duckdb", "parquet", "SQL on the Parquet files"),
    "qraptor-e2e-csv": ("qraptor", "csv", "ingest + reduce"),
    "qraptor-e2e-parquet": ("qraptor", "parquet", "ingest + reduce"),
    "qraptor-reduce": ("qraptor", "parquet", "reduce only (ingested parts)"),
}
BAR_FREQ = "1min"
GIB = 1024**3
TARGET_VS_PANDAS = 10.0
TARGET_VS_DUCKDB = 1.5
TARGET_CSV_VS_DUCKDB = 1.0  # issue 13: the first run from raw CSV at least as fast as duckdb's
TARGET_RSS = 1 * GIB
FLAT_RSS_GROWTH = 1.25  # "flat": peak RSS at the largest size within 25% of the smallest
VWAP_RTOL = 1e-9
# Integer microseconds for the bucket and for ordering open/close: ~2x faster in duckdb 2.0
# than time_bucket()/arg_min() on the TIMESTAMPTZ column (0.5 s vs 1.15 s for 20 M ticks).
DUCKDB_QUERY = """
SELECT make_timestamp(us // 60000000 * 60000000) AS timestamp,
       arg_min(price, us) AS open, max(price) AS high, min(price) AS low,
       arg_max(price, us) AS close, sum(size) AS volume,
       sum(price * size) / sum(size) AS vwap, count(*) AS trades
FROM (SELECT epoch_us(timestamp::TIMESTAMPTZ) AS us, price, size FROM {source})
GROUP BY us // 60000000 ORDER BY 1
"""
ENGINE_MODULES = {
    "pandas": ("pandas", "pyarrow.parquet"),
    "duckdb": ("duckdb",),
    "qraptor": ("qraptor.data.ingest.files", "qraptor.data.reduce.bars", "omegaconf"),
}
TICK_COLUMNS = {"timestamp": "timestamp", "price": "price", "size": "size"}


# --- inputs --------------------------------------------------------------------------


def synthetic_config(rows: int, fmt: str, seed: int) -> Any:
    """conf/data/synthetic.yaml's generator, sized to `rows` clean ticks without quotes."""
    from omegaconf import OmegaConf

    from qraptor.core.config import find_conf_dir, to_schema
    from qraptor.data.synthetic.tape import SyntheticConfig

    section = OmegaConf.load(find_conf_dir(Path(__file__).parent) / "data" / "synthetic.yaml")
    clean = {k: 0.0 for k in ("spike_rate", "duplicate_rate", "out_of_order_rate")}
    overrides = {
        "seed": seed,
        "total_ticks": rows,
        "ticks_per_second": 50.0,  # a liquid stock: ~1.2 M ticks per 6.5 h session
        "with_quotes": False,
        "format": fmt,
        "rows_per_file": 5_000_000,  # a folder of files, as users' data usually is
        "bad_ticks": {**clean, "nonpositive_rate": 0.0},
    }
    merged = OmegaConf.merge(section.synthetic, overrides)
    return to_schema(merged, SyntheticConfig, "data.synthetic")


def input_dir(workdir: Path, rows: int, seed: int) -> Path:
    return workdir / f"ticks-{rows}-seed{seed}"


def ensure_inputs(workdir: Path, rows: int, seed: int) -> dict[str, list[Path]]:
    """The CSV and Parquet tick files for `rows` (generated on first use, then cached)."""
    from qraptor.data.synthetic.tape import write_synthetic

    files = {}
    for fmt in ("csv", "parquet"):
        folder = input_dir(workdir, rows, seed) / fmt
        if not folder.is_dir():  # write_synthetic is atomic: a folder present is complete
            print(f"generating {rows:,} ticks as {fmt} in {folder} ...", flush=True)
            write_synthetic(synthetic_config(rows, fmt, seed), folder)
        files[fmt] = sorted(folder.glob(f"*.{fmt}"))
    return files


def warm_page_cache(paths: list[Path]) -> None:
    """Read the inputs once so every method starts from files in the page cache."""
    for path in paths:
        with path.open("rb") as handle:
            while handle.read(1 << 24):
                pass


# --- methods (run in a child process) ------------------------------------------------


def bars_pandas(files: list[Path], fmt: str) -> pl.DataFrame:
    import pandas as pd

    if fmt == "csv":
        frames = [pd.read_csv(f, parse_dates=["timestamp"]) for f in files]
    else:
        frames = [pd.read_parquet(f) for f in files]
    ticks = pd.concat(frames, ignore_index=True).set_index("timestamp")
    ticks["pv"] = ticks["price"] * ticks["size"]
    resampler = ticks.resample(BAR_FREQ, label="left", closed="left")
    bars = resampler["price"].ohlc()
    bars["volume"] = resampler["size"].sum()
    bars["vwap"] = resampler["pv"].sum() / bars["volume"]
    bars["trades"] = resampler["price"].count()
    bars = bars[bars["trades"] > 0]
    epoch_ns = pl.Series(bars.index.as_unit("ns").asi8)
    stamps = pl.from_epoch(epoch_ns, "ns").dt.replace_time_zone("UTC").alias("timestamp")
    return pl.DataFrame([stamps, *(pl.Series(c, bars[c].to_numpy()) for c in bars.columns)])


def bars_duckdb(files: list[Path], fmt: str) -> pl.DataFrame:
    import duckdb

    names = ", ".join(f"'{f}'" for f in files)
    if fmt == "csv":
        types = "{'timestamp': 'TIMESTAMPTZ', 'price': 'DOUBLE', 'size': 'DOUBLE'}"
        source = f"read_csv([{names}], header = true, columns = {types})"
    else:
        source = f"read_parquet([{names}])"
    con = duckdb.connect(config={"threads": 2, "memory_limit": "2GB"})
    try:
        table = con.sql(DUCKDB_QUERY.format(source=source)).to_arrow_table()
    finally:
        con.close()
    return pl.from_arrow(table)  # type: ignore[return-value]


def ingest(files: list[Path], fmt: str, out_dir: Path) -> None:
    from qraptor.data.ingest.files import ingest_files
    from qraptor.data.ingest.timestamps import TimestampConfig

    # As conf/data/synthetic.yaml: no explicit format. Polars' ISO 8601 fast path beat the
    # explicit strftime format "%Y-%m-%dT%H:%M:%S%.6fZ" (~1.1 s vs ~1.9 s per 5 M rows).
    stamp = TimestampConfig(format=None, unit=None, timezone="UTC")
    ingest_files(files, out_dir, kind="ticks", columns=TICK_COLUMNS, timestamp=stamp, fmt=fmt)


def bars_qraptor(parts: Path, batch_rows: int | None) -> pl.DataFrame:
    from omegaconf import OmegaConf

    from qraptor.core.config import find_conf_dir, to_schema
    from qraptor.data.reduce.bars import ReduceConfig, reduce_folder

    section = OmegaConf.load(find_conf_dir(Path(__file__).parent) / "reduce" / "minute.yaml")
    overrides = {"kind": "time", "freq": BAR_FREQ}
    if batch_rows:
        overrides["batch_rows"] = batch_rows
    cfg = to_schema(OmegaConf.merge(section, overrides), ReduceConfig, "reduce")
    return reduce_folder(parts, "ticks", cfg)


def peak_rss_since_exec() -> int | None:
    """This process's peak RSS (VmHWM) in bytes, None where /proc is missing.

    Not `ru_maxrss`: Linux carries the parent's peak RSS over fork + exec into the child's
    `ru_maxrss`, so a parent that generated 100 M ticks would inflate every child's figure.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def cpu_seconds() -> float:
    """CPU time of this process so far, all threads (user + system).

    Wall time on a shared 2-core machine follows the other processes' load; CPU time much
    less, so the paired CPU ratio is the figure to trust when the load average is high.
    """
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_child(args: argparse.Namespace) -> None:
    """Run one method once; write its bars and timings where the parent expects them."""
    engine, fmt, _ = METHODS[args.child]
    for module in ENGINE_MODULES[engine]:  # imports stay outside the timed region
        importlib.import_module(module)
    files = [Path(p) for p in json.loads(args.files)]
    base = Path(args.out)
    timings: dict[str, float] = {}
    cpu_started = cpu_seconds()
    started = time.perf_counter()
    if engine == "pandas":
        bars = bars_pandas(files, fmt)
    elif engine == "duckdb":
        bars = bars_duckdb(files, fmt)
    else:
        parts = Path(args.parts)
        if args.child != "qraptor-reduce":
            ingest(files, fmt, parts)
            timings["ingest_seconds"] = time.perf_counter() - started
        reduce_started = time.perf_counter()
        bars = bars_qraptor(parts, args.batch_rows)
        timings["reduce_seconds"] = time.perf_counter() - reduce_started
    timings["seconds"] = time.perf_counter() - started
    timings["cpu_seconds"] = cpu_seconds() - cpu_started
    timings["peak_rss"] = peak_rss_since_exec()
    bars.write_parquet(base.with_suffix(".parquet"))
    base.with_suffix(".json").write_text(json.dumps(timings))


# --- parent: run, compare, report ----------------------------------------------------


def run_method(method: str, files: list[Path], parts: Path, out: Path, args: Any) -> dict:
    """One child run: its timings and peak RSS in bytes (measured by the child itself)."""
    command = [
        sys.executable,
        __file__,
        "--child",
        method,
        "--files",
        json.dumps(list(map(str, files))),
    ]
    command += ["--out", str(out), "--parts", str(parts)]
    if args.batch_rows:
        command += ["--batch-rows", str(args.batch_rows)]
    # Every engine gets every core: the Makefile's OMP_NUM_THREADS=1 (meant for small
    # policies) would also shrink pyarrow's thread pool, hence pandas' read_parquet.
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env["PYTHONWARNINGS"] = "ignore"
    child = subprocess.Popen(command, env=env)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{method} failed (exit code {child.returncode}); see its output above")
    timings = json.loads(out.with_suffix(".json").read_text())
    if timings.get("peak_rss") is None:  # no /proc: ru_maxrss (KiB), an upper bound
        timings["peak_rss"] = usage.ru_maxrss * 1024
    return timings


def normalised(bars: pl.DataFrame) -> pl.DataFrame:
    stamps = pl.col("timestamp")
    if bars.schema["timestamp"].time_zone is None:  # type: ignore[union-attr]
        stamps = stamps.dt.replace_time_zone("UTC")
    return bars.select(
        stamps.dt.convert_time_zone("UTC").dt.cast_time_unit("ns"),
        *[pl.col(c).cast(pl.Float64) for c in ("open", "high", "low", "close", "volume", "vwap")],
        pl.col("trades").cast(pl.Int64),
    )


def compare_bars(results: dict[str, pl.DataFrame]) -> float:
    """Fail loudly unless every method produced the same bars; return max VWAP rel. diff."""
    (ref_name, ref), *others = ((n, normalised(b)) for n, b in results.items())
    worst = 0.0
    exact = ["timestamp", "open", "high", "low", "close", "volume", "trades"]
    for name, bars in others:
        if bars.height != ref.height:
            raise SystemExit(f"BARS DIFFER: {name} has {bars.height} bars, {ref_name} {ref.height}")
        for column in exact:
            differs = (bars[column] != ref[column]).arg_true()
            if len(differs):
                i = int(differs[0])
                raise SystemExit(
                    f"BARS DIFFER: {name} vs {ref_name}, column {column}, {len(differs)} bars; "
                    f"first at {ref['timestamp'][i]}: {bars[column][i]} != {ref[column][i]}"
                )
        rel = ((bars["vwap"] - ref["vwap"]).abs() / ref["vwap"].abs()).max()
        worst = max(worst, float(rel or 0.0))  # type: ignore[arg-type]
    if worst > VWAP_RTOL:
        raise SystemExit(f"BARS DIFFER: VWAP relative difference {worst:.3g} > {VWAP_RTOL}")
    return worst


def judge(row: dict, rows_by_method: dict[str, dict]) -> list[str]:
    """Which of the issue's targets a qraptor row meets, in words."""
    verdicts = []
    pandas_csv = rows_by_method.get("pandas-csv")
    if pandas_csv:
        row["x_pandas_csv"] = pandas_csv["seconds"] / row["seconds"]
        ok = row["x_pandas_csv"] >= TARGET_VS_PANDAS
        verdicts.append(f">=10x pandas-csv: {'MET' if ok else 'missed'}")
    duck = rows_by_method.get(f"duckdb-{row['format']}")
    if duck:
        row["vs_duckdb"] = row["seconds"] / duck["seconds"]
        ok = row["vs_duckdb"] <= TARGET_VS_DUCKDB
        verdicts.append(f"<=1.5x duckdb-{row['format']} time: {'MET' if ok else 'missed'}")
    verdicts.append(f"RSS<1GiB: {'MET' if row['peak_rss'] < TARGET_RSS else 'missed'}")
    return verdicts if row["engine"] == "qraptor" else []


def run_size(rows: int, args: argparse.Namespace) -> dict:
    files = ensure_inputs(args.workdir, rows, args.seed)
    warm_page_cache(files["csv"] + files["parquet"])
    folder = input_dir(args.workdir, rows, args.seed)
    (folder / "results").mkdir(exist_ok=True)
    methods = [m for m in METHODS if m in args.methods]
    runs: dict[str, list[dict]] = {m: [] for m in methods}
    if "qraptor-reduce" in methods and not (folder / "parts-csv").is_dir():
        ingest(files["csv"], "csv", folder / "parts-csv")  # untimed: reduce-only needs parts
    for attempt in range(args.repeat):
        for method in methods:
            engine, fmt, _ = METHODS[method]
            parts = folder / ("parts-parquet" if method == "qraptor-e2e-parquet" else "parts-csv")
            out = folder / "results" / method
            run = run_method(method, files[fmt], parts, out, args)
            runs[method].append(run)
            print(
                f"  [{rows:,} rows, run {attempt + 1}] {method}: {run['seconds']:.2f} s "
                f"({run['cpu_seconds']:.2f} CPU s), {run['peak_rss'] / GIB:.2f} GiB",
                flush=True,
            )
    bars = {m: pl.read_parquet(folder / "results" / f"{m}.parquet") for m in methods}
    max_rel = compare_bars(bars)
    table = {}
    for method in methods:
        engine, fmt, what = METHODS[method]
        seconds = statistics.median(r["seconds"] for r in runs[method])
        row = {
            "method": method,
            "engine": engine,
            "format": fmt,
            "what": what,
            "seconds": seconds,
            "rows_per_s": rows / seconds,
            "peak_rss": max(r["peak_rss"] for r in runs[method]),
            "runs": runs[method],
        }
        table[method] = row
    for row in table.values():
        row["targets"] = judge(row, table)
    n_bars = next(iter(bars.values())).height
    size = {
        "rows": rows,
        "bars": n_bars,
        "identical": True,
        "vwap_max_rel_diff": max_rel,
        "results": list(table.values()),
    }
    if "qraptor-e2e-csv" in runs and "duckdb-csv" in runs:
        paired = [
            e2e["seconds"] / duck["seconds"]
            for e2e, duck in zip(runs["qraptor-e2e-csv"], runs["duckdb-csv"], strict=True)
        ]
        paired_cpu = [
            e2e["cpu_seconds"] / duck["cpu_seconds"]
            for e2e, duck in zip(runs["qraptor-e2e-csv"], runs["duckdb-csv"], strict=True)
        ]
        size["e2e_csv_vs_duckdb_csv"] = {
            "paired_ratios": paired,
            "paired_cpu_ratios": paired_cpu,
            "cpu_median": statistics.median(paired_cpu),
            "median": statistics.median(paired),
            "target": TARGET_CSV_VS_DUCKDB,
            "met": statistics.median(paired) <= TARGET_CSV_VS_DUCKDB,
        }
    return size


def print_table(size: dict) -> None:
    print(
        f"\n{size['rows']:,} ticks -> {size['bars']:,} bars of {BAR_FREQ}; all methods gave "
        f"identical bars (VWAP within {size['vwap_max_rel_diff']:.1e} relative)"
    )
    header = (
        f"{'method':<20} {'input':<8} {'M rows/s':>9} {'seconds':>8} {'peak RSS':>9} "
        f"{'x pandas-csv':>12} {'/ duckdb':>9}  targets"
    )
    print(header)
    print("-" * len(header))
    for row in size["results"]:
        x_pandas = f"{row['x_pandas_csv']:.1f}x" if "x_pandas_csv" in row else "-"
        vs_duck = f"{row['vs_duckdb']:.2f}x" if "vs_duckdb" in row else "-"
        print(
            f"{row['method']:<20} {row['format']:<8} {row['rows_per_s'] / 1e6:>9.1f} "
            f"{row['seconds']:>8.2f} {row['peak_rss'] / GIB:>7.2f} G {x_pandas:>12} "
            f"{vs_duck:>9}  {'; '.join(row['targets'])}"
        )
    for row in size["results"]:
        if "ingest_seconds" in row["runs"][0]:
            ingest = statistics.median(r["ingest_seconds"] for r in row["runs"])
            reduce = statistics.median(r["reduce_seconds"] for r in row["runs"])
            print(f"  {row['method']}: ingest {ingest:.2f} s + reduce {reduce:.2f} s")
    ratio = size.get("e2e_csv_vs_duckdb_csv")
    if ratio:
        runs = ", ".join(f"{r:.2f}" for r in ratio["paired_ratios"])
        verdict = "MET" if ratio["met"] else "missed"
        print(
            f"qraptor-e2e-csv / duckdb-csv (same run, paired by repeat): {ratio['median']:.2f}x "
            f"[{runs}]; target <= {ratio['target']:.2f}x: {verdict}"
        )
        cpu_runs = ", ".join(f"{r:.2f}" for r in ratio["paired_cpu_ratios"])
        print(
            f"  in CPU seconds (user + system, all threads): {ratio['cpu_median']:.2f}x "
            f"[{cpu_runs}]"
        )


def rss_growth(sizes: list[dict]) -> dict[str, dict]:
    """Peak RSS at the largest size over the smallest, per method."""
    small, large = sizes[0], sizes[-1]
    growth = {}
    for before, after in zip(small["results"], large["results"], strict=True):
        ratio = after["peak_rss"] / before["peak_rss"]
        growth[before["method"]] = {
            "from": before["peak_rss"],
            "to": after["peak_rss"],
            "ratio": ratio,
            "flat": ratio <= FLAT_RSS_GROWTH,
        }
    return growth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--rows", default="20000000", help="tick count(s), comma-separated: 20000000,100000000"
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/qraptor-bench"))
    parser.add_argument("--repeat", type=int, default=3, help="runs per method (median)")
    parser.add_argument("--methods", default=",".join(METHODS), help="subset, comma-separated")
    parser.add_argument(
        "--batch-rows",
        type=int,
        default=None,
        help="qraptor reduce batch size (default: conf/reduce/minute.yaml)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    for hidden in ("--child", "--files", "--out", "--parts"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args)
        return
    args.methods = [m.strip() for m in args.methods.split(",")]
    unknown = set(args.methods) - set(METHODS)
    if unknown:
        parser.error(f"unknown methods {sorted(unknown)}; known: {', '.join(METHODS)}")
    sizes = [run_size(int(n.replace("_", "")), args) for n in args.rows.split(",")]
    print(
        f"\n{os.cpu_count()} CPUs; seconds are medians of {args.repeat} run(s); peak RSS is "
        "the max over runs; rows/s counts ticks in"
    )
    for size in sizes:
        print_table(size)
    report: dict[str, Any] = {"bar_freq": BAR_FREQ, "repeat": args.repeat, "sizes": sizes}
    if len(sizes) > 1:
        report["rss_growth"] = rss_growth(sizes)
        print(f"\npeak RSS, {sizes[0]['rows']:,} -> {sizes[-1]['rows']:,} ticks:")
        for method, g in report["rss_growth"].items():
            verdict = "flat" if g["flat"] else "GROWS"
            print(
                f"  {method:<20} {g['from'] / GIB:.2f} -> {g['to'] / GIB:.2f} GiB "
                f"({g['ratio']:.2f}x, {verdict})"
            )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nfigures written to {args.json}")


if __name__ == "__main__":
    main()
