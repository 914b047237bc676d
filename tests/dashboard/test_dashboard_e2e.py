"""The dashboard in headless Chromium over the real world of conftest: each page opens with
its content and without a notice or a browser error, the queue matches the database, a click
leads from the table to a session's results, and the cancel button cancels in the database.

How fast pages open is not asserted here: on a slower or busier machine a page may take a
few seconds with nothing wrong. It is measured by benchmarks/dashboard.py, against the
2 s of docs/dashboard.md. Every wait below is generous (WAIT_MS) for the same reason.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from dashboard_world import REPO, World
from playwright.sync_api import expect

from qraptor.dashboard.app import build_app
from qraptor.dashboard.plotly_bundle import CARTESIAN, URL_PATH, bundle_version, full_bundle
from qraptor.dashboard.server import DashboardServer
from qraptor.store.status import Status

WAIT_MS = 30_000  # a wait for content to appear, not a speed budget


@pytest.fixture(autouse=True)
def browser_errors(page) -> list[str]:
    """Generous waits on every page, and the uncaught JavaScript errors of the test's pages."""
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def open_page(page, url: str, ready: str) -> None:
    """Navigate to `url` and wait until `ready` is visible."""
    page.goto(url)
    page.locator(ready).first.wait_for(state="visible")


def assert_shown_without_problems(page, errors: list[str]) -> None:
    """No notice (a missing input, an unreachable database) and no JavaScript error."""
    assert page.locator(".notice").count() == 0, page.inner_text("body")
    assert "Not available" not in page.inner_text("body")
    assert errors == []


def trace_names(page, graph_id: str) -> list[str]:
    return page.evaluate(
        "id => document.querySelector('#' + id + ' .js-plotly-plot').data.map(t => t.name)",
        graph_id,
    )


def test_data_page(page, dash_server: DashboardServer, browser_errors: list[str]):
    open_page(page, f"{dash_server.url}/data", "#price-graph .main-svg")
    assert "close" in trace_names(page, "price-graph")
    assert "6,225" in page.locator("#bars-section").inner_text()
    expect(page.locator("#clean-table td", has_text="missing_value")).to_have_count(
        1, timeout=WAIT_MS
    )
    page.locator("#splits-table td", has_text="val").first.wait_for()
    page.locator("#folds-graph .main-svg").first.wait_for(state="visible")
    assert_shown_without_problems(page, browser_errors)


def test_sessions_page_matches_the_database(
    page, dash_server: DashboardServer, dash_world: World, browser_errors: list[str]
):
    open_page(page, f"{dash_server.url}/sessions", "#sessions-table td")
    with dash_world.open_store() as store:
        counts = store.counts()
    for status, n in counts.items():
        assert page.inner_text(f"#count-{status}") == str(n)
    failed_row = page.locator("#sessions-table tr", has_text=dash_world.failed)
    assert "no splits.json" in failed_row.inner_text()
    workers = page.inner_text("#workers-table")
    assert "worker-b" in workers and dash_world.running in workers
    assert page.inner_text("#queue-problem") == ""
    assert plotly_loaded(page) == []  # no graph here: Plotly.js (1.5-4.8 MB) is not fetched
    assert_shown_without_problems(page, browser_errors)


def test_click_from_the_queue_into_a_session(
    page, dash_server: DashboardServer, dash_world: World, browser_errors: list[str]
):
    open_page(page, f"{dash_server.url}/sessions", "#sessions-table td")
    session_id = dash_world.trained[0]
    page.locator("#sessions-table a", has_text=session_id).click()
    page.locator("#equity-graph .main-svg").first.wait_for(state="visible")
    assert page.url.endswith(f"/session/{session_id}")
    assert {"agent", "buy_and_hold"} <= set(trace_names(page, "equity-graph"))
    expect(page.locator("#metrics-table")).to_contain_text("agent", timeout=WAIT_MS)
    link = page.get_attribute("#mlflow-link", "href")
    assert "/#/experiments/" in link and link.endswith(page.inner_text("#mlflow-link"))
    page.locator("#drawdown-graph .main-svg").first.wait_for(state="visible")
    page.locator("#position-graph .main-svg").first.wait_for(state="visible")
    page.locator("#trades-table").wait_for(state="visible")
    page.get_by_label("test").check()  # the other split, through its callback
    page.locator("#equity-graph .gtitle", has_text="equity on test").wait_for()
    assert_shown_without_problems(page, browser_errors)


def plotly_loaded(page) -> list[str]:
    """The Plotly.js scripts the page fetched (ours, or dcc.Graph's own async full copy)."""
    names = page.evaluate("() => performance.getEntriesByType('resource').map(e => e.name)")
    return [n for n in names if "plotly" in n.lower()]


def boxes_overlap(page, graph_id: str, first: str, second: str) -> bool:
    """Whether the boxes of `first` and `second` (selectors) inside a graph intersect."""
    return page.evaluate(
        """([id, a, b]) => {
            const root = document.querySelector('#' + id);
            const r = root.querySelector(a).getBoundingClientRect();
            const s = root.querySelector(b).getBoundingClientRect();
            return !(r.right < s.left || s.right < r.left || r.bottom < s.top || s.bottom < r.top);
        }""",
        [graph_id, first, second],
    )


def test_session_page_opened_directly_shows_its_results(
    page, dash_server: DashboardServer, dash_world: World, browser_errors: list[str]
):
    session_id = dash_world.trained[1]
    # by the id's random tail, as people copy it (the start is shared by a second's sessions)
    open_page(page, f"{dash_server.url}/session/{session_id[-6:]}", "#equity-graph .main-svg")
    assert session_id in page.inner_text("#session-title")
    # one Plotly.js, the one the dashboard chose (the cartesian bundle when installed)
    assert plotly_loaded(page) == [f"{dash_server.url}{URL_PATH}"]
    served = page.evaluate(f"() => fetch('{URL_PATH}').then(r => r.text())")
    assert f"v{bundle_version(full_bundle())}" in served[:300]  # plotly.py's plotly.js version
    if CARTESIAN.is_file():  # `make setup` installs it (npm): the 1.5 MB one, not 4.8 MB
        assert "(cartesian - minified)" in served[:300]
    # numbers in their units: returns in percent, money to the cent, prices to 6 digits
    expect(page.locator("#metrics-table")).to_contain_text("%", timeout=WAIT_MS)
    expect(page.locator("#trades-table td").first).to_be_visible(timeout=WAIT_MS)
    first_row = page.locator("#trades-table tbody tr").nth(1).locator("td")
    headers = page.locator("#trades-table th").all_inner_texts()
    cells = dict(zip(headers, first_row.all_inner_texts(), strict=False))
    cells = {k.strip(" ▲▼⇕"): v.strip() for k, v in cells.items()}
    assert re.fullmatch(r"[\d,]+\.\d{2}", cells["notional"]), cells
    assert re.fullmatch(r"[\d,]+\.\d{2}", cells["costs"]), cells
    assert re.fullmatch(r"\d[\d,]*\.?\d*", cells["fill_price"]), cells
    assert len(cells["fill_price"].replace(",", "").replace(".", "")) <= 6, cells
    # legends under the plots, clear of their titles
    for graph in ("equity-graph", "position-graph"):
        assert not boxes_overlap(page, graph, ".gtitle", ".legend"), graph
    ticks = page.locator("#position-graph .y2tick text").all_text_contents()
    assert ticks and all(t.replace("\u2212", "-").rstrip("%").lstrip("-") in
                         ("0", "50", "100", "150") for t in ticks), ticks  # fmt: skip
    assert {"agent", "buy_and_hold"} <= set(trace_names(page, "equity-graph"))
    expect(page.locator("#metrics-table")).to_contain_text("agent", timeout=WAIT_MS)
    page.locator("#equity-graph .gtitle", has_text="equity on val").wait_for()
    page.locator("#drawdown-graph .main-svg").first.wait_for(state="visible")
    assert_shown_without_problems(page, browser_errors)


def test_compare_page_shows_the_deflated_sharpe(
    page, dash_server: DashboardServer, dash_world: World, browser_errors: list[str]
):
    url = f"{dash_server.url}/compare?sweep={dash_world.sweep_id}"
    open_page(page, url, "#params-graph .main-svg")
    panel = page.inner_text("#dsr-panel")
    assert "deflated Sharpe DSR" in panel and "PSR(0)" in panel and "5 (" in panel
    # DataTables render after the graph: wait for the rows rather than count at once
    expect(page.locator("#compare-table tbody tr")).to_have_count(
        1 + 5, timeout=WAIT_MS
    )  # header row + runs
    # the two trained sessions' runs and the failed one's (its run is recorded when opened)
    expect(page.locator("#compare-table a[href*='/#/experiments/']")).to_have_count(
        3, timeout=WAIT_MS
    )
    # the highlight: one red point, the best trial the DSR panel names, and the title says so
    points = page.evaluate(
        "() => { const t = document.querySelector('#params-graph .js-plotly-plot').data[0];"
        " return t.marker.color.map((c, i) => [c, t.text[i]]); }"
    )
    red = [run for colour, run in points if colour == "#e45756"]
    assert len(red) == 1 and red[0] in panel, (points, panel)
    assert "red: the best trial" in (page.locator("#params-graph .gtitle").text_content() or "")
    expect(page.locator("#compare-table")).to_contain_text("%", timeout=WAIT_MS)
    assert_shown_without_problems(page, browser_errors)


def test_cancel_button_cancels_the_queued_session(
    page, dash_server: DashboardServer, dash_world: World, browser_errors: list[str]
):
    open_page(page, f"{dash_server.url}/sessions", "#sessions-table td")
    row = page.locator("#sessions-table tr", has_text=dash_world.queued)
    row.locator("input[type=checkbox]").check()
    page.click("#cancel-button")
    page.locator("#queue-message", has_text=f"cancelled: {dash_world.queued}").wait_for()
    with dash_world.open_store() as store:
        assert store.get(dash_world.queued)["status"] == Status.CANCELLED
    page.locator("#count-cancelled", has_text="1").wait_for()
    assert browser_errors == []


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


def test_missing_parts_are_named_never_blank(
    page, broken_server: DashboardServer, browser_errors: list[str]
):
    open_page(page, f"{broken_server.url}/data", ".notice")
    assert "dvc repro" in page.inner_text("#bars-section")
    open_page(page, f"{broken_server.url}/sessions", ".notice")
    assert "qraptor db start" in page.inner_text("#queue-problem")
    open_page(page, f"{broken_server.url}/session/whatever", ".notice")
    assert "qraptor db start" in page.inner_text(".notice")
    open_page(page, f"{broken_server.url}/compare", ".notice")
    assert "qraptor db start" in page.inner_text(".notice")
    assert browser_errors == []


def test_every_page_is_photographed_as_the_code_draws_it(
    page, dash_server: DashboardServer, dash_world: World, tmp_path, browser_errors: list[str]
):
    """docs/screenshots/ come from this test's browser (`make screenshots` points it there;
    otherwise a temporary folder): each page drawn in full, a PNG of the viewport's width
    with more than one colour in it, and no browser error on the way."""
    import os

    from PIL import Image
    from screenshots import OUT_ENV, VIEWPORT, photograph

    out = Path(os.environ.get(OUT_ENV) or tmp_path)
    written = photograph(page, dash_server.url, dash_world, out)
    assert [p.name for p in written] == [
        "data.png", "sessions.png", "session.png", "pipeline.png", "compare.png"
    ]  # fmt: skip
    for path in written:
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width == VIEWPORT["width"]
            assert image.height >= VIEWPORT["height"]
            colours = image.convert("RGB").resize((120, 120)).getcolors(maxcolors=120 * 120)
            assert colours is None or len(colours) > 50, f"{path.name} is nearly blank"
    assert not list(out.glob(".*.tmp"))
    assert browser_errors == []
