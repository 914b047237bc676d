"""The bar budget of a series: what each step consumes, every limit it breaks, in one message.

A short series runs out of bars in several places at once: the feature warm-up drops the
first bars, the embargoes cut two more spans, the split fractions share the rest, the
normaliser needs `min_periods` training bars, every walk-forward fold needs its own, and
the environment needs a window of history (plus an episode) in the span it trades. Raising
at the first broken limit makes the user rerun once per limit; `Budget` lists them all,
with the bars each step takes, so one error says everything (and a warning says when the
warm-up and embargoes eat more than a stated share of the data even though it fits).

The spans are computed by `qraptor.data.split`; this module only does the accounting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from qraptor.core.errors import DataError
from qraptor.core.log import get_logger

log = get_logger(__name__)

RULE = "series_too_short"


class SpanLike(Protocol):
    """A split span (qraptor.data.split.Span): rows [start, stop) labelled `label`."""

    @property
    def name(self) -> str: ...
    @property
    def label(self) -> str: ...
    @property
    def start(self) -> int: ...
    @property
    def stop(self) -> int: ...


@dataclass
class Budget:
    """Bars in, what each step takes, and the limits broken (empty when the series fits)."""

    bars_in: int  # bars before the feature warm-up
    warmup: int  # leading bars the features dropped
    warmup_key: str  # the config key of the longest feature window (why the warm-up is long)
    embargo: str  # the configured embargo and its bars, e.g. "min(48, 2d) = 48 bars"
    embargo_bars: int
    lost_share_warning: float  # warn when warm-up + embargoes exceed this share of bars_in
    lines: list[str] = field(default_factory=list)  # one line per step, bars consumed
    problems: list[str] = field(default_factory=list)  # one line per broken limit

    @property
    def lost_bars(self) -> int:
        return self.warmup + 2 * self.embargo_bars

    @property
    def lost_share(self) -> float:
        return self.lost_bars / self.bars_in if self.bars_in else 1.0

    def warnings(self) -> list[str]:
        if self.lost_share <= self.lost_share_warning:
            return []
        return [
            f"the feature warm-up ({self.warmup} bars) and the two embargoes "
            f"({self.embargo_bars} bars each) take {self.lost_bars} of {self.bars_in} bars "
            f"({self.lost_share:.0%}, above split.lost_share_warning = "
            f"{self.lost_share_warning:.0%}); shorter windows ({self.warmup_key}) or a "
            "shorter split.embargo keep more (durations such as min(120, 1mo) follow the bars)"
        ]

    def report(self) -> dict[str, Any]:
        """The numbers for splits.json and the stage metrics (`warning` only when there is one)."""
        out: dict[str, Any] = {
            "bars_in": self.bars_in,
            "warmup_rows": self.warmup,
            "embargo_rows": 2 * self.embargo_bars,
            "lost_share": round(self.lost_share, 6),
            "lost_share_warning": self.lost_share_warning,
        }
        if self.warnings():
            out["warning"] = " ".join(self.warnings())
        return out

    def message(self) -> str:
        lines = [f"bars in: {self.bars_in}", *self.lines]
        return (
            f"the series is too short: {len(self.problems)} limit(s) broken\n"
            + "".join(f"    {line}\n" for line in lines)
            + "  broken:\n"
            + "".join(f"    - {problem}\n" for problem in self.problems)
            + "  use more data, shorter windows (durations follow the bars) or other split settings"
        )

    def raise_if_broken(self) -> None:
        if self.problems:
            raise DataError(None, self.message(), rule=RULE)

    def log_warnings(self) -> None:
        for text in self.warnings():
            log.warning("%s", text)


def share(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "all"


def account(
    budget: Budget,
    chrono: Sequence[SpanLike],
    folds: Sequence[Sequence[SpanLike]],
    min_periods: int,
    normalize_key: str = "split.normalize.min_periods",
) -> Budget:
    """Fill `budget` with the steps' lines and every broken limit of these spans."""
    rows = budget.bars_in - budget.warmup
    budget.lines.append(
        f"features warm-up: {budget.warmup} ({share(budget.warmup, budget.bars_in)}, "
        f"features.{budget.warmup_key}), leaves {rows}"
    )
    budget.lines.append(
        f"embargoes: 2 x split.embargo {budget.embargo} ({2 * budget.embargo_bars})"
    )
    budget.lines.append(f"split.chrono: {_sizes(chrono, rows)}")
    for span in chrono:
        if span.stop <= span.start and span.label != "embargo":
            budget.problems.append(f"split.chrono: the {span.name} span is empty")
    budget.problems.extend(_train_size(chrono, min_periods, "split.chrono", normalize_key))
    by_problem: dict[str, list[int]] = {}  # the same limit broken by several folds: one line
    for k, fold in enumerate(folds):
        budget.lines.append(f"split.walk_forward fold {k}: {_sizes(fold, rows)}")
        found = [
            f"the {span.name} span is empty"
            for span in fold
            if span.stop <= span.start and span.label != "embargo"
        ]
        for problem in [*found, *_train_size(fold, min_periods, "", normalize_key)]:
            by_problem.setdefault(problem, []).append(k)
    for problem, ks in by_problem.items():
        folds_text = f"fold {ks[0]}" if len(ks) == 1 else f"folds {', '.join(map(str, ks))}"
        budget.problems.append(f"split.walk_forward {folds_text}: {problem}")
    return budget


def _sizes(spans: Sequence[SpanLike], rows: int) -> str:
    """'train 148, embargo_before_val 48, ...': each span's bars inside [0, rows)."""
    return ", ".join(f"{s.name} {max(0, min(s.stop, rows) - max(s.start, 0))}" for s in spans)


def _train_size(spans: Sequence[SpanLike], min_periods: int, where: str, key: str) -> list[str]:
    train = max(0, spans[0].stop - spans[0].start)
    if 0 < train < min_periods:
        prefix = f"{where}: " if where else ""
        return [f"{prefix}{train} training bars, fewer than {key} = {min_periods}"]
    return []
