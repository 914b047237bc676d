"""Fixtures of the connector tests: `recorded_server`, a real HTTP server on 127.0.0.1
(recorded.py) serving recorded responses."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from recorded import RecordedServer, serve


@pytest.fixture
def recorded_server() -> Iterator[RecordedServer]:
    with serve() as server:
        yield server
