"""Regenerate docs/screenshots/{data,sessions,session,compare}.png from the test world.

    .venv/bin/python tests/dashboard/screenshots.py [--out docs/screenshots]

Builds the same world as the tests (sample pipeline outputs, a SecantusDB server, sessions
trained by a real worker, a throwaway MLflow store), serves the dashboard on a free port and
photographs each page in headless Debian Chromium. Everything it starts, it stops.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from dashboard_world import world  # noqa: E402

from qraptor.dashboard.app import build_app  # noqa: E402
from qraptor.dashboard.server import DashboardServer  # noqa: E402

VIEWPORT = {"width": 1200, "height": 800}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE.parents[1] / "docs" / "screenshots")
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="qraptor-shots-") as tmp:
        os.environ["QRAPTOR_MLFLOW_URI"] = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        with (
            world(Path(tmp)) as built,
            DashboardServer(build_app(built.settings()), port=0) as server,
            sync_playwright() as playwright,
        ):
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport=VIEWPORT)
            shots = {
                "data": ("/data", "#price-graph .main-svg"),
                "sessions": ("/sessions", "#sessions-table td"),
                "session": (f"/session/{built.trained[0]}", "#equity-graph .main-svg"),
                "compare": (f"/compare?sweep={built.sweep_id}", "#dsr-panel table"),
            }
            for name, (path, ready) in shots.items():
                page.goto(server.url + path)
                page.wait_for_selector(ready, state="visible", timeout=20_000)
                page.wait_for_timeout(400)  # let plotly finish its transitions
                page.screenshot(path=str(out / f"{name}.png"), full_page=True)
                print(f"{out / f'{name}.png'}: {(out / f'{name}.png').stat().st_size:,} bytes")
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
