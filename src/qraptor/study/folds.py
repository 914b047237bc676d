"""The purged walk-forward layout of a dataset, checked from its splits.json before training.

A study selects on the folds' test windows and reports the chronological test span as
held out; both claims hold only if (1) every fold's test window ends before the embargo in
front of the test span, (2) an embargo of at least one bar sits between each fold's
training span and its test window, and (3) the test windows are disjoint. A dataset made
with ``split.walk_forward.exclude_test=false`` breaks (1): its folds reach into the test
span, and the study refuses it, naming the key, before anything is trained.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qraptor.core.errors import DataError
from qraptor.data.split import read_metadata


@dataclass(frozen=True)
class Window:
    """Rows ``[start, stop)`` of dataset.parquet."""

    start: int
    stop: int

    @property
    def rows(self) -> int:
        return self.stop - self.start

    def overlaps(self, other: Window) -> bool:
        return self.start < other.stop and other.start < self.stop

    def to_dict(self) -> dict[str, int]:
        return {"start_row": self.start, "stop_row": self.stop, "rows": self.rows}


@dataclass(frozen=True)
class Fold:
    number: int
    train: Window
    embargo: Window
    test: Window  # out-of-sample for the study

    def to_dict(self) -> dict[str, Any]:
        return {
            "fold": self.number,
            "train": self.train.to_dict(),
            "embargo": self.embargo.to_dict(),
            "test": self.test.to_dict(),
        }


@dataclass(frozen=True)
class Layout:
    """The folds a study uses and the held-out span, as splits.json records them."""

    dataset: Path
    folds: tuple[Fold, ...]
    train: Window  # the chronological train span (what the selected configuration retrains on)
    embargo_before_test: Window
    test: Window  # held out: evaluated once, for the selected configuration only
    embargo_bars: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": str(self.dataset),
            "embargo_bars": self.embargo_bars,
            "folds": [f.to_dict() for f in self.folds],
            "chrono_train": self.train.to_dict(),
            "embargo_before_test": self.embargo_before_test.to_dict(),
            "test": self.test.to_dict(),
        }


def _window(spans: dict[str, Any], name: str) -> Window:
    span = spans[name]
    return Window(int(span["start_row"]), int(span["stop_row"]))


def purged_layout(dataset: Path, folds: Sequence[int] | None = None) -> Layout:
    """The dataset's walk-forward folds (`folds`, default all) and test span, checked."""
    meta = read_metadata(dataset)
    chrono = meta["chrono"]["spans"]
    wf = meta.get("walk_forward", {})
    recorded = wf.get("folds", [])
    if not wf.get("enabled") or not recorded:
        raise DataError(
            dataset,
            "the dataset has no walk-forward folds; a study needs them: make it with "
            "split.walk_forward.enabled=true",
            rule="study_folds",
        )
    numbers = list(range(len(recorded))) if folds is None else list(folds)
    missing = [k for k in numbers if not 0 <= k < len(recorded)]
    if missing:
        raise DataError(
            dataset,
            f"study.folds: no fold {missing[0]}; the dataset has {len(recorded)} "
            f"(0..{len(recorded) - 1})",
            rule="study_folds",
        )
    embargo = int(meta["embargo_bars"])
    layout = Layout(
        dataset=dataset,
        folds=tuple(
            Fold(
                k,
                _window(recorded[k]["spans"], "train"),
                _window(recorded[k]["spans"], "embargo"),
                _window(recorded[k]["spans"], "test"),
            )
            for k in numbers
        ),
        train=_window(chrono, "train"),
        embargo_before_test=_window(chrono, "embargo_before_test"),
        test=_window(chrono, "test"),
        embargo_bars=embargo,
    )
    check_purged(layout, exclude_test=bool(wf.get("exclude_test", False)))
    return layout


def check_purged(layout: Layout, exclude_test: bool) -> None:
    """Refuse a layout whose folds touch the held-out span or lack their embargoes."""
    where = layout.dataset
    if layout.embargo_bars < 1:
        raise DataError(
            where,
            "split.embargo: the dataset has no embargo (0 bars); a purged walk-forward study "
            "needs at least one bar between each training span and what it is tested on",
            rule="study_embargo",
        )
    held_out = Window(layout.embargo_before_test.start, layout.test.stop)
    for fold in layout.folds:
        for name, window in (("train", fold.train), ("test", fold.test)):
            if window.overlaps(held_out):
                raise DataError(
                    where,
                    f"split.walk_forward.exclude_test: fold {fold.number}'s {name} rows "
                    f"[{window.start}, {window.stop}) reach into the held-out test span and its "
                    f"embargo [{held_out.start}, {held_out.stop})"
                    + ("" if exclude_test else " (the dataset was made with exclude_test=false)")
                    + "; remake the dataset with split.walk_forward.exclude_test=true",
                    rule="study_held_out",
                )
        gap = fold.test.start - fold.train.stop
        if gap < layout.embargo_bars or fold.embargo.rows < layout.embargo_bars:
            raise DataError(
                where,
                f"split.embargo: fold {fold.number} has {gap} bars between its training span "
                f"(ends at row {fold.train.stop}) and its test window (starts at row "
                f"{fold.test.start}); the dataset's embargo is {layout.embargo_bars}",
                rule="study_embargo",
            )
    ordered = sorted(layout.folds, key=lambda f: f.test.start)
    for before, after in itertools.pairwise(ordered):
        if before.test.overlaps(after.test):
            raise DataError(
                where,
                f"split.walk_forward: the test windows of folds {before.number} and "
                f"{after.number} overlap; stitched out-of-sample returns would count bars twice",
                rule="study_folds",
            )
