"""The dashboard in headless Chromium over the real world of conftest: each page opens with
its content in under 2 s, the queue matches the database, a click leads from the table to a
session's results, and the cancel button cancels in the database."""

from __future__ import annotations

import shutil
import time
from dataclasses import replace

import pytest
from dashboard_world import REPO, World

from qraptor.dashboard.app import build_app
from qraptor.dashboard.server import DashboardServer
from qraptor.store.status import Status

BUDGET_SECONDS = 2.0  # the requirement for every page


def open_page(page, url: str, ready: str) -> float:
    """Seconds from navigation start until `ready` is visible."""
    started = time.perf_counter()
    page.goto(url)
    page.locator(ready).first.wait_for(state="visible")
    return time.perf_counter() - started


def trace_names(page, graph_id: str) -> list[str]:
    return page.evaluate(
        "id => document.querySelector('#' + id + ' .js-plotly-plot').data.map(t => t.name)",
        graph_id,
    )


def test_data_page(page, dash_server: DashboardServer):
    seconds = open_page(page, f"{dash_server.url}/data", "#price-graph .main-svg")
    assert seconds < BUDGET_SECONDS
    assert "close" in trace_names(page, "price-graph")
    assert "6,225" in page.locator("#bars-section").inner_text()
    assert page.locator("#clean-table td", has_text="missing_value").count() == 1
    assert page.locator("#splits-table td", has_text="val").count() >= 1
    page.locator("#folds-graph .main-svg").first.wait_for(state="visible")
    assert "Not available" not in page.inner_text("body")


def test_sessions_page_matches_the_database(page, dash_server: DashboardServer, dash_world: World):
    seconds = open_page(page, f"{dash_server.url}/sessions", "#sessions-table td")
    assert seconds < BUDGET_SECONDS
    with dash_world.open_store() as store:
        counts = store.counts()
    for status, n in counts.items():
        assert page.inner_text(f"#count-{status}") == str(n)
    failed_row = page.locator("#sessions-table tr", has_text=dash_world.failed)
    assert "no splits.json" in failed_row.inner_text()
    workers = page.inner_text("#workers-table")
    assert "worker-b" in workers and dash_world.running in workers


def test_click_from_the_queue_into_a_session(page, dash_server: DashboardServer, dash_world: World):
    open_page(page, f"{dash_server.url}/sessions", "#sessions-table td")
    session_id = dash_world.trained[0]
    started = time.perf_counter()
    page.locator("#sessions-table a", has_text=session_id).click()
    page.locator("#equity-graph .main-svg").first.wait_for(state="visible")
    assert time.perf_counter() - started < BUDGET_SECONDS
    assert page.url.endswith(f"/session/{session_id}")
    assert {"agent", "buy_and_hold"} <= set(trace_names(page, "equity-graph"))
    assert "agent" in page.inner_text("#metrics-table")
    link = page.get_attribute("#mlflow-link", "href")
    assert "/#/experiments/" in link and link.endswith(page.inner_text("#mlflow-link"))
    page.locator("#drawdown-graph .main-svg").first.wait_for(state="visible")
    page.locator("#position-graph .main-svg").first.wait_for(state="visible")
    page.locator("#trades-table").wait_for(state="visible")
    page.get_by_label("test").check()  # the other split, through its callback
    page.locator("#equity-graph .gtitle", has_text="equity on test").wait_for()


def test_session_page_alone_is_fast(page, dash_server: DashboardServer, dash_world: World):
    url = f"{dash_server.url}/session/{dash_world.trained[1]}"
    assert open_page(page, url, "#equity-graph .main-svg") < BUDGET_SECONDS


def test_compare_page_shows_the_deflated_sharpe(
    page, dash_server: DashboardServer, dash_world: World
):
    url = f"{dash_server.url}/compare?sweep={dash_world.sweep_id}"
    seconds = open_page(page, url, "#params-graph .main-svg")
    assert seconds < BUDGET_SECONDS
    panel = page.inner_text("#dsr-panel")
    assert "deflated Sharpe DSR" in panel and "PSR(0)" in panel and "5 (" in panel
    assert page.locator("#compare-table tbody tr").count() == 1 + 5  # header row + runs
    assert page.locator("#compare-table a[href*='/#/experiments/']").count() == 2


def test_cancel_button_cancels_the_queued_session(
    page, dash_server: DashboardServer, dash_world: World
):
    open_page(page, f"{dash_server.url}/sessions", "#sessions-table td")
    row = page.locator("#sessions-table tr", has_text=dash_world.queued)
    row.locator("input[type=checkbox]").check()
    page.click("#cancel-button")
    page.locator("#queue-message", has_text=f"cancelled: {dash_world.queued}").wait_for()
    with dash_world.open_store() as store:
        assert store.get(dash_world.queued)["status"] == Status.CANCELLED
    page.locator("#count-cancelled", has_text="1").wait_for()


@pytest.fixture
def broken_server(dash_world: World, tmp_path):
    """A dashboard over a project where `dvc repro` has not run (a fresh clone: dvc.yaml, no
    outputs) and a database that does not answer."""
    shutil.copy(REPO / "dvc.yaml", tmp_path / "dvc.yaml")
    settings = replace(
        dash_world.settings(),
        project=tmp_path,
        mongo_uri="mongodb://127.0.0.1:9/?directConnection=true",  # nothing listens on port 9
    )
    with DashboardServer(build_app(settings), port=0) as server:
        yield server


def test_missing_parts_are_named_never_blank(page, broken_server: DashboardServer):
    open_page(page, f"{broken_server.url}/data", ".notice")
    assert "dvc repro" in page.inner_text("#bars-section")
    open_page(page, f"{broken_server.url}/sessions", ".notice")
    assert "qraptor db start" in page.inner_text("#queue-problem")
    open_page(page, f"{broken_server.url}/session/whatever", ".notice")
    open_page(page, f"{broken_server.url}/compare", ".notice")
