"""Benchmark of the dashboard's pages (issue 11): time to content in headless Chromium.

Builds the world of the dashboard tests (tests/dashboard/dashboard_world.py: the data stages
on the shipped EUR/USD sample, a real SecantusDB server, sessions trained by a real worker
and tracked to a throwaway MLflow store, one failed, one running, one queued), serves the
dashboard over it on a free port, warm (as tests/dashboard/conftest.py does), and opens each
page in headless Debian Chromium (/usr/bin/chromium through playwright, launched exactly as
the tests launch it):

* data `/data`, sessions `/sessions`, one session `/session/<id>`, compare `/compare?sweep=`;
* first load: a fresh browser context (empty HTTP cache), seconds from navigation start to
  the page's main figure or table being visible (the selectors the tests wait for);
* warm reload: the same tab reloaded (Dash's bundles and Plotly.js from the cache), the
  same figure;
* bytes transferred up to that moment (the Resource Timing API's `transferSize`: bodies and
  headers as they came over the wire, 0 for what came from the cache), and requests;
* the median of `--repeats` rounds (default 5); every round opens every page once.

Baseline, measured in the same rounds: `static`, one static HTML page served by Python's
`http.server` from this machine, as many bytes as the dashboard pages' median first load
(measured in an untimed visit of each page before the rounds): a table, its ready element,
behind four blocking scripts that are one JS comment each (fetched and scanned, nothing
runs). What moving that many bytes costs in this browser on this machine, with no
JavaScript to run: a floor, not a page that does anything. Each page's ratio is the median over
rounds of (page / the static page of the same round). A second reference row, `dash-bare`,
is a Dash app with the same bundles (`serve_locally`) whose layout is one table and no
callbacks: what Dash itself costs before any page does anything.

The target is docs/dashboard.md's "Each page shows its content in under 2 s on the sample
data", judged on each page's median first load (and shown for the warm reload). The
machines are 2-core and shared: compare medians, and treat differences under ~15% as noise.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from machine import finish, machine  # benchmarks/machine.py (the script's folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
TESTS_DASHBOARD = ROOT / "tests" / "dashboard"
TARGET_SECONDS = 2.0  # docs/dashboard.md: "Each page shows its content in under 2 s"
TARGET_TEXT = "< 2 s"
VIEWPORT = {"width": 1280, "height": 900}  # the tests' viewport
WAIT_MS = 60_000  # a page that never shows its content fails the run, a slow one does not
DEFAULT_REPEATS = 5
BASELINE = "static"
DASH_BARE = "dash-bare"
PAGE_NAMES = ("data", "sessions", "session", "compare")
FILLER_PARTS = 4  # the static page's bytes, in this many blocking scripts
READY_TABLE = "#content td"  # the baselines' main content: a table, as on the sessions page
# Bytes and requests fetched by the document up to now (navigation + resources + fetches).
TRANSFERRED_JS = """() => {
  const entries = [...performance.getEntriesByType("navigation"),
                   ...performance.getEntriesByType("resource")];
  return {bytes: entries.reduce((n, e) => n + (e.transferSize || 0), 0),
          requests: entries.length};
}"""


# --- what is served -------------------------------------------------------------------


def dashboard_pages(built: Any) -> dict[str, tuple[str, str]]:
    """name -> (path, selector of the main content), the pages and selectors of the tests."""
    return {
        "data": ("/data", "#price-graph .main-svg"),
        "sessions": ("/sessions", "#sessions-table td"),
        "session": (f"/session/{built.trained[0]}", "#equity-graph .main-svg"),
        "compare": (f"/compare?sweep={built.sweep_id}", "#params-graph .main-svg"),
    }


def content_table(rows: int = 20) -> str:
    cells = "".join(
        f"<tr><td>row {i}</td><td>{i * 1.5:.2f}</td><td>succeeded</td></tr>" for i in range(rows)
    )
    return f'<table id="content"><tr><th>name</th><th>value</th><th>status</th></tr>{cells}</table>'


def write_static_site(folder: Path, total_bytes: int) -> int:
    """index.html (the table behind FILLER_PARTS blocking scripts) and the scripts,
    `total_bytes` in all. Each script is one JS comment: the browser fetches and scans it,
    nothing runs. Parts, not one file: Chromium's in-memory cache (a fresh context's) keeps
    no single entry of several MB, and the dashboard's largest file, Plotly.js, is ~4.6 MB."""
    folder.mkdir(parents=True, exist_ok=True)
    scripts = "".join(f'<script src="filler-{i}.js"></script>' for i in range(FILLER_PARTS))
    index = (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>static baseline</title>'
        f'<link rel="icon" href="data:,">{scripts}</head><body><main><h2>static</h2>'
        f"{content_table()}</main></body></html>\n"
    )
    part = max(total_bytes - len(index), 0) // FILLER_PARTS
    digits = "".join(str(i * 7919 % 10) for i in range(max(part - 7, 0)))
    for i in range(FILLER_PARTS):
        (folder / f"filler-{i}.js").write_text(f"/* {digits} */\n")
    (folder / "index.html").write_text(index)
    return sum(path.stat().st_size for path in folder.iterdir())


class _QuietStatic(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


@contextlib.contextmanager
def static_server(folder: Path) -> Iterator[str]:
    """`folder` over http.server (threaded) on a free loopback port; its base URL."""
    handler = functools.partial(_QuietStatic, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="static-baseline", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def bare_dash_app() -> Any:
    """A Dash app as the dashboard builds it (local bundles, no assets) with one static table
    and no callbacks."""
    from dash import Dash, dcc, html

    app = Dash(
        __name__, title="dash-bare", update_title=None, serve_locally=True,
        include_assets_files=False,
    )  # fmt: skip
    rows = [html.Tr([html.Td(f"row {i}"), html.Td(f"{i * 1.5:.2f}"), html.Td("succeeded")])
            for i in range(20)]  # fmt: skip
    header = html.Tr([html.Th("name"), html.Th("value"), html.Th("status")])
    app.layout = html.Main(
        [dcc.Location(id="url"), html.H2("dash-bare"), html.Table([header, *rows], id="content")]
    )
    return app


# --- measuring ------------------------------------------------------------------------


def visit(browser: Any, url: str, ready: str) -> dict[str, Any]:
    """A first visit in a fresh context (empty cache), then a reload of the same tab."""
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        runs: dict[str, Any] = {}
        for kind in ("first", "warm"):
            started = time.perf_counter()
            if kind == "first":
                page.goto(url, wait_until="commit")
            else:
                page.reload(wait_until="commit")
            page.locator(ready).first.wait_for(state="visible")
            seconds = time.perf_counter() - started
            moved = page.evaluate(TRANSFERRED_JS)
            runs[kind] = {
                "seconds": seconds,
                "bytes": moved["bytes"],
                "requests": moved["requests"],
            }
        notices = page.locator(".notice").count()
        if errors or notices:
            raise SystemExit(f"{url}: {notices} notice(s), JavaScript errors {errors}")
        return runs
    finally:
        context.close()


def paired_ratio(runs: Sequence[float], baselines: Sequence[float]) -> float:
    return statistics.median(r / b for r, b in zip(runs, baselines, strict=True))


def bench(
    browser: Any, targets: dict[str, tuple[str, str]], static_dir: Path, repeats: int
) -> dict[str, Any]:
    """Untimed visits of every page (their bytes size the static page), then `repeats`
    rounds of every target, the baseline first."""
    dashboard = [n for n in targets if n not in (BASELINE, DASH_BARE)]
    print("  warm-up: one untimed visit of each page", flush=True)
    warmup = {name: visit(browser, *targets[name]) for name in targets if name != BASELINE}
    page_bytes = statistics.median(warmup[n]["first"]["bytes"] for n in dashboard)
    static_bytes = write_static_site(static_dir, int(page_bytes))
    visit(browser, *targets[BASELINE])
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
    for attempt in range(repeats):
        for name, (url, ready) in targets.items():
            runs[name].append(visit(browser, url, ready))
        firsts = ", ".join(f"{n} {runs[n][-1]['first']['seconds']:.2f}" for n in targets)
        print(f"  round {attempt + 1}/{repeats}: first load s: {firsts}", flush=True)
    rows = []
    base = {k: [r[k]["seconds"] for r in runs[BASELINE]] for k in ("first", "warm")}
    for name, (url, ready) in targets.items():
        row: dict[str, Any] = {"page": name, "url": url, "ready": ready, "runs": runs[name]}
        for kind in ("first", "warm"):
            seconds = [r[kind]["seconds"] for r in runs[name]]
            row[kind] = {
                "seconds": statistics.median(seconds),
                "bytes": statistics.median(r[kind]["bytes"] for r in runs[name]),
                "requests": statistics.median(r[kind]["requests"] for r in runs[name]),
                "x_baseline": paired_ratio(seconds, base[kind]),
            }
        if name in dashboard:
            row["target"] = TARGET_TEXT
            row["met"] = {k: row[k]["seconds"] < TARGET_SECONDS for k in ("first", "warm")}
        else:
            row["target"], row["met"] = None, None
        rows.append(row)
    return {
        "rows": rows,
        "static_bytes": static_bytes,
        "pages_median_first_bytes": page_bytes,
        "target_seconds": TARGET_SECONDS,
    }


# --- report ---------------------------------------------------------------------------


def verdict(met: bool | None) -> str:
    return "" if met is None else ("MET" if met else "MISSED")


def label(name: str) -> str:
    return {BASELINE: f"{BASELINE} (baseline)", DASH_BARE: f"{DASH_BARE} (reference)"}.get(
        name, name
    )


def print_table(result: dict[str, Any], repeats: int) -> None:
    print(
        f"\nDashboard pages in headless Chromium, median of {repeats}: seconds from navigation "
        "start to the main content visible; first = fresh context (empty cache), warm = reload"
    )
    header = (
        f"{'page':<22} {'first s':>7} {'warm s':>7} {'first MB':>8} {'req':>4} {'warm MB':>8} "
        f"{'x static first':>14} {'x static warm':>13} {'target':>6}  met (first / warm)"
    )
    print(header + "\n" + "-" * len(header))
    for row in result["rows"]:
        first, warm, met = row["first"], row["warm"], row["met"]
        met_text = "" if met is None else f"{verdict(met['first'])} / {verdict(met['warm'])}"
        print(
            f"{label(row['page']):<22} {first['seconds']:>7.2f} {warm['seconds']:>7.2f} "
            f"{first['bytes'] / 1e6:>8.2f} {first['requests']:>4.0f} {warm['bytes'] / 1e6:>8.2f} "
            f"{first['x_baseline']:>13.2f}x {warm['x_baseline']:>12.2f}x "
            f"{row['target'] or '':>6}  {met_text}"
        )
    print(
        f"   static = an http.server page of {result['static_bytes'] / 1e6:.2f} MB, the dashboard "
        f"pages' median first load: a table behind {FILLER_PARTS} scripts that are comments\n"
        "   dash-bare = Dash with the same bundles, a one-table layout and no callbacks\n"
        "   x static = median over rounds of (page / the static page of the same round)\n"
        f"   target: docs/dashboard.md, content in under {TARGET_SECONDS:g} s (the median)\n"
        "   ready = " + "; ".join(f"{r['page']} {r['ready']}" for r in result["rows"])
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, help=f"rounds (default {DEFAULT_REPEATS})")
    parser.add_argument("--quick", action="store_true", help="one round (smoke run)")
    parser.add_argument("--pages", default=",".join(PAGE_NAMES), help="comma-separated subset")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/qraptor-bench"))
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else DEFAULT_REPEATS)
    pages = [p for p in args.pages.split(",") if p]
    if unknown := set(pages) - set(PAGE_NAMES):
        parser.error(f"unknown pages {sorted(unknown)}; choose from {', '.join(PAGE_NAMES)}")
    json_path = args.json.resolve() if args.json else None
    args.workdir.mkdir(parents=True, exist_ok=True)

    sys.path.insert(0, str(TESTS_DASHBOARD))
    from conftest import CHROMIUM, CHROMIUM_ARGS  # the tests' browser, launched as they do
    from dashboard_world import world

    if not CHROMIUM.exists():
        raise SystemExit(f"{CHROMIUM} is missing: `make chromium` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    from qraptor.core.log import console
    from qraptor.dashboard.app import build_app
    from qraptor.dashboard.server import DashboardServer

    os.environ.setdefault("QRAPTOR_CONF_DIR", str(ROOT / "conf"))
    report: dict[str, Any] = {"machine_before": machine()}
    report["settings"] = {"repeats": repeats, "pages": pages, "viewport": VIEWPORT}
    print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    with (
        tempfile.TemporaryDirectory(prefix="dashboard-bench-", dir=args.workdir) as scratch,
        contextlib.chdir(ROOT),  # the data stages find the shipped sample from the project root
    ):
        tmp = Path(scratch)
        os.environ["QRAPTOR_MLFLOW_URI"] = f"sqlite:///{tmp / 'mlflow.db'}"  # thrown away
        print("  building the world (data stages, SecantusDB, a worker's sessions) ...", flush=True)
        console.quiet = True  # the cleaning report and worker lines are not this output
        started = time.perf_counter()
        with contextlib.ExitStack() as stack:
            built = stack.enter_context(world(tmp / "world"))
            app = build_app(built.settings())
            app.qraptor_sources.wait_warm()  # as a user finds it seconds after starting it
            dash = stack.enter_context(DashboardServer(app, port=0))
            bare = stack.enter_context(DashboardServer(bare_dash_app(), port=0))
            static = stack.enter_context(static_server(tmp / "static"))
            console.quiet = False
            print("  (one session failed on purpose: the sessions page shows a failed one)")
            print(f"  world ready in {time.perf_counter() - started:.0f} s", flush=True)
            known = dashboard_pages(built)
            targets = {
                BASELINE: (f"{static}/index.html", READY_TABLE),
                DASH_BARE: (f"{bare.url}/", READY_TABLE),
                **{name: (dash.url + known[name][0], known[name][1]) for name in pages},
            }
            playwright = stack.enter_context(sync_playwright())
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            stack.callback(browser.close)
            browser.new_page().close()  # the browser's own start-up is not a page's load
            report["pages"] = bench(browser, targets, tmp / "static", repeats)
    console.quiet = False
    print_table(report["pages"], repeats)
    finish(report, json_path, "differences under ~15% are noise")
    return 0


if __name__ == "__main__":
    sys.exit(main())
