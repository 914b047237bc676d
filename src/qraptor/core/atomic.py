"""Atomic outputs: a reader sees the old artifact or the new one, never half of one.

Each helper writes into a temporary sibling of the target (same filesystem, so the final
`os.replace` is atomic) and only renames it into place when the block finished without an
exception. A crash or a bad input leaves the previous output untouched and no debris.

A step with several outputs (a DVC stage's data, metrics, plot CSV and figure) prepares
them all inside one `atomic_outputs()` block: none replaces its target before every one
is written, so a failure half-way leaves only old outputs, never a mix of old and new.
The DVC stages mark their outputs `persist: true` (DVC would otherwise delete them before
the command runs); these helpers are then what keeps a failing stage's outputs intact, and
since each output is replaced whole, a smaller output set leaves no stale files behind.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary file path; move it onto `target` when the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.chmod(_default_mode(0o666))  # mkstemp makes 0600; outputs get the usual umask mode
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(target: str | Path) -> Iterator[Path]:
    """Yield an empty temporary directory; swap it in for `target` when the block succeeds.

    The swap is two renames (old out of the way, new in), so there is a moment with no
    `target`, but never one with a partial `target`.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    tmp.chmod(_default_mode(0o777))  # mkdtemp makes 0700
    try:
        yield tmp
        old = None
        if target.exists() or target.is_symlink():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
        os.replace(tmp, target)
        if old is not None:
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old)
            else:
                old.unlink()
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


class AtomicOutputs:
    """The temporaries of one `atomic_outputs()` block, one per output target."""

    def __init__(self, stack: contextlib.ExitStack) -> None:
        self._stack = stack

    def path(self, target: str | Path) -> Path:
        """A temporary file that replaces `target` when the whole block succeeds."""
        return self._stack.enter_context(atomic_path(target))

    def dir(self, target: str | Path) -> Path:
        """An empty temporary directory swapped in for `target` when the whole block succeeds
        (the folder is replaced whole: files the new output does not have are gone)."""
        return self._stack.enter_context(atomic_dir(target))


@contextlib.contextmanager
def atomic_outputs() -> Iterator[AtomicOutputs]:
    """Write several outputs, all or none: each goes to a temporary (`.path()`, `.dir()`);
    only when the block finishes are they renamed into place, one after the other (renames
    on one filesystem, which do not fail on a usable disk). An exception anywhere in the
    block removes every temporary and leaves every target as it was."""
    with contextlib.ExitStack() as stack:
        yield AtomicOutputs(stack)


def _default_mode(base: int) -> int:
    """`base` with the process umask applied, as open()/mkdir() would do."""
    umask = os.umask(0)
    os.umask(umask)
    return base & ~umask & (stat.S_IRWXU | stat.S_IRWXG | stat.S_IRWXO)


def write_text_atomic(target: str | Path, text: str) -> None:
    """Write `text` to `target` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(target: str | Path, payload: Any) -> None:
    """Write `payload` as indented JSON atomically (DVC metrics files are read this way).

    Keys keep the order the writer built them in (fixed by the code, so stable); numbers go
    through `stable_json_value`, so equal results give equal bytes.
    """
    text = json.dumps(stable_json_value(payload), indent=2, sort_keys=False, default=str)
    write_text_atomic(target, text + "\n")


def stable_json_value(value: Any) -> Any:
    """`value` with -0.0 written as 0.0, NaN/inf as null (JSON has neither) and numpy
    scalars as Python numbers, in dicts, lists and tuples too.

    Floats are then written by `repr`, the shortest text that reads back to the same double,
    the same on every platform. -0.0 == 0.0 but is written differently, so a zero whose sign
    comes out differently (a sum of -x and x, a rounded tiny negative) would change the
    file's hash and show in `dvc metrics diff` while no number changed.
    """
    if isinstance(value, dict):
        return {key: stable_json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [stable_json_value(item) for item in value]
    numpy = sys.modules.get("numpy")  # never imported just for this check
    if numpy is not None and isinstance(value, numpy.generic):
        value = value.item()  # numpy scalar -> Python bool, int or float
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return 0.0 if value == 0 else value
    return value
