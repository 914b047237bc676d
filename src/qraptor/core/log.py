"""Logging and progress that say what happened, on a terminal or in a DVC/CI log.

Progress bars show only on an interactive terminal; every stage also logs one summary
line, which is what remains in CI logs and `dvc repro` output.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Iterator
from typing import TextIO, TypeVar

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")

console = Console(stderr=True)
PIPED_WIDTH = 80  # a command's tables off a terminal (a file, `| less`, CI): `--wide` for more
WIDE_WIDTH = 1000  # `--wide`: every column at its natural width, nothing cut or wrapped


def console_for_stdout(wide: bool = False) -> Console:
    """The console a command prints its result (tables) to: the terminal's own width, 80
    columns when piped (``COLUMNS=160`` for more, where a command has no `--wide`), or,
    with `wide`, as wide as the content needs."""
    if wide:
        return Console(width=WIDE_WIDTH, highlight=False)
    piped = not sys.stdout.isatty() and not os.environ.get("COLUMNS", "").isdigit()
    return Console(width=PIPED_WIDTH if piped else None, highlight=False)


PLAIN_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup_logging(verbose: bool = False) -> None:
    """Route qraptor's logs to stderr, once per process: through rich on a terminal, one
    plain line per record elsewhere (a container's log, CI, `dvc repro` into a file), where
    rich would wrap each record at 80 columns over several lines that grep cannot join."""
    root = logging.getLogger("qraptor")
    if root.handlers:
        root.setLevel(logging.DEBUG if verbose else logging.INFO)
        return
    handler: logging.Handler
    if sys.stderr.isatty():
        handler = RichHandler(console=console, show_path=False, rich_tracebacks=False)
        handler.setFormatter(logging.Formatter("%(message)s", datefmt="[%X]"))
    else:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter(PLAIN_FORMAT, datefmt="%Y-%m-%d %H:%M:%S"))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False


class _StderrHandler(logging.StreamHandler):
    """A StreamHandler on whatever `sys.stderr` is when a record is written (as rich's
    console does), not the one there was at set-up: a redirected stderr gets the lines."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def get_logger(name: str) -> logging.Logger:
    """A logger under the `qraptor` namespace."""
    return logging.getLogger(name if name.startswith("qraptor") else f"qraptor.{name}")


def track(items: Iterable[T], description: str, total: float | None = None) -> Iterator[T]:
    """Iterate with a progress bar on a terminal; silently elsewhere."""
    if not sys.stderr.isatty():
        yield from items
        return
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(description, total=total)
        for item in items:
            yield item
            progress.advance(task)


def human_count(n: float) -> str:
    """12345678 -> '12.3 M' for summary lines."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f}"
