"""Fixtures of the dashboard tests: one world (pipeline outputs, a SecantusDB server with
trained, failed, running and queued sessions, MLflow runs) and one dashboard server over
it for the whole test session, and headless Debian Chromium for the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dashboard_world import CHROMIUM, CHROMIUM_ARGS, World, world

from qraptor.dashboard.app import build_app
from qraptor.dashboard.server import DashboardServer


@pytest.fixture(scope="session")
def dash_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world(tmp_path_factory.mktemp("dashboard")) as built:
        yield built


@pytest.fixture(scope="session")
def dash_server(dash_world: World) -> Iterator[DashboardServer]:
    app = build_app(dash_world.settings())
    app.qraptor_sources.wait_warm()  # as a user would find it seconds after starting it
    with DashboardServer(app, port=0) as server:
        yield server


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: `apt-get install chromium` (`make test` does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        launched.new_page().close()  # the browser's own start-up is not a page's load time
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    try:
        yield opened
    finally:
        context.close()
