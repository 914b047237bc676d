"""docs/screenshots/{data,sessions,session,pipeline,compare}.png, photographed from the test world.

    make screenshots                                   # the browser test, into docs/
    .venv/bin/python tests/dashboard/screenshots.py [--out docs/screenshots]

The dashboard's browser tests photograph every page with `photograph` on each run (into a
temporary folder, checked there; into docs/screenshots/ when QRAPTOR_SCREENSHOTS names it,
which `make screenshots` does), so the pictures in docs/ are the ones the current code
draws. Run as a script, this file builds the same world (sample pipeline outputs, a
SecantusDB server, sessions trained by a real worker, a throwaway MLflow store), serves the
dashboard on a free port and photographs it in headless Debian Chromium; everything it
starts, it stops.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from dashboard_world import CHROMIUM, CHROMIUM_ARGS, World, world  # noqa: E402

from qraptor.dashboard.app import build_app  # noqa: E402
from qraptor.dashboard.server import DashboardServer  # noqa: E402

VIEWPORT = {"width": 1200, "height": 800}
OUT_ENV = "QRAPTOR_SCREENSHOTS"  # where the browser tests put them (default: a temp folder)
DOCS = HERE.parents[1] / "docs" / "screenshots"


def shots(built: World) -> dict[str, tuple[str, str]]:
    """name -> (page path, the element that says it is drawn)."""
    return {
        "data": ("/data", "#price-graph .main-svg"),
        "sessions": ("/sessions", "#sessions-table td"),
        "session": (f"/session/{built.trained[0]}", "#equity-graph .main-svg"),
        "pipeline": ("/session/pipeline", "#equity-graph .main-svg"),
        "compare": (f"/compare?sweep={built.sweep_id}", "#dsr-panel table"),
    }


def photograph(page: Any, base_url: str, built: World, out: Path) -> list[Path]:
    """Every page of `shots` opened in `page` (a playwright page) and saved as a full-page
    PNG in `out`, each written whole (to a temporary name, then renamed)."""
    out.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size(VIEWPORT)
    written = []
    for name, (path, ready) in shots(built).items():
        page.goto(base_url + path)
        page.wait_for_selector(ready, state="visible", timeout=30_000)
        page.wait_for_timeout(400)  # let plotly finish its transitions
        partial = out / f".{name}.png.tmp"
        page.screenshot(path=str(partial), full_page=True, type="png")
        os.replace(partial, out / f"{name}.png")
        written.append(out / f"{name}.png")
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DOCS)
    out = parser.parse_args().out
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="qraptor-shots-") as tmp:
        os.environ["QRAPTOR_MLFLOW_URI"] = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        with (
            world(Path(tmp)) as built,
            DashboardServer(build_app(built.settings()), port=0) as server,
            sync_playwright() as playwright,
        ):
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            for path in photograph(browser.new_page(), server.url, built, out):
                print(f"{path}: {path.stat().st_size:,} bytes")
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
