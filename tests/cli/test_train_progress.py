"""Training progress off a terminal (a pipe, CI, `make demo | tee`): a line with the share
done and the time left, where SB3 draws no bar (issue 18)."""

from __future__ import annotations

import logging

import pytest

from qraptor.cli.train import _ProgressLines


def test_progress_lines_say_share_rate_and_time_left(caplog: pytest.LogCaptureFixture):
    progress = _ProgressLines(every=0.0)
    with caplog.at_level(logging.INFO, logger="qraptor"):
        progress(0, 200_000)
        progress(50_000, 200_000)
        progress(200_000, 200_000)  # the end: the trainer's own line says it
    lines = [r.getMessage() for r in caplog.records if r.name == "qraptor.cli.train"]
    assert len(lines) == 2, lines
    assert "50.0 k of 200.0 k timesteps (25%)" in lines[1]
    assert "/s" in lines[1] and "s left" in lines[1]


def test_progress_lines_are_spaced(caplog: pytest.LogCaptureFixture):
    progress = _ProgressLines(every=3600.0)
    with caplog.at_level(logging.INFO, logger="qraptor"):
        for done in range(0, 100_000, 1000):
            progress(done, 100_000)
    assert [r for r in caplog.records if r.name == "qraptor.cli.train"] == []
