"""The cleaning report: what each rule found, with examples a person can look up.

Counts per rule go to a DVC metrics file (`to_metrics`, numbers only, so `dvc metrics
show/diff` can compare runs); the full report with example rows (`to_dict`) goes beside the
cleaned data; `render` prints a rich table. Examples are the first few offending rows in
(source file, source row) order, whatever the batch size, so reports are reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from rich.console import Console
from rich.table import Table

from qraptor.core.errors import DataError
from qraptor.data.clean.adjust import AdjustmentTally
from qraptor.data.clean.schema_errors import ISO_NS, file_name

_EXAMPLE_SCHEMA = {
    "src_file": pl.Int32,
    "src_row": pl.Int64,
    "when": pl.String,
    "detail": pl.String,
}


EXAMPLE_ORDER = ["src_file", "src_row", "when", "detail"]  # a total order: see add()


@dataclass(frozen=True)
class RuleInfo:
    """What a rule checks, and whether finding it is a violation (strict mode fails on it)."""

    description: str
    violation: bool


RULES: dict[str, RuleInfo] = {
    "missing_value": RuleInfo("null, NaN or infinite value", True),
    "nonpositive_price": RuleInfo("price (or bid/ask, open/high/low/close) <= 0", True),
    "negative_size": RuleInfo("trade size < 0", True),
    "negative_volume": RuleInfo("volume or trades < 0", True),
    "ohlc_rounding": RuleInfo("high/low off by float rounding (within tolerance)", True),
    "ohlc_violation": RuleInfo("high < max(open, close) or low > min(open, close)", True),
    "out_of_order": RuleInfo("row arrived after a later timestamp", True),
    "duplicate": RuleInfo("exact copy of an earlier row", True),
    "timestamp_conflict": RuleInfo("two different bars with one timestamp", True),
    "outside_trading_hours": RuleInfo("outside the configured trading hours", False),
    "outlier": RuleInfo("robust z-score of the return above z_max (past ticks only)", True),
    "gap": RuleInfo("no data for longer than the gap threshold", False),
}
KIND_RULES = {
    "ticks": ("missing_value", "nonpositive_price", "negative_size", "out_of_order",
              "duplicate", "outside_trading_hours", "outlier", "gap"),
    "bars": ("missing_value", "nonpositive_price", "negative_volume", "ohlc_rounding",
             "ohlc_violation", "out_of_order", "duplicate", "timestamp_conflict",
             "outside_trading_hours", "gap"),
}  # fmt: skip


@dataclass
class RuleTally:
    """Count and first examples of one rule."""

    action: str  # dropped | repaired | sorted | refused | clipped | flagged | filtered
    count: int = 0
    examples: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=_EXAMPLE_SCHEMA))


class CleanReport:
    """Rows in/out and, per rule, the action taken, a count and a few examples.

    With `strict`, recording any violation raises DataError at once (naming the file, row,
    timestamp and rule), so a strict run stops at the first bad batch.
    """

    def __init__(
        self,
        data_kind: str,
        actions: dict[str, str],
        *,
        files: Sequence[str] = (),
        strict: bool = False,
        max_examples: int = 5,
        source: str | Path | None = None,
        audit: bool = False,
        adjust_method: str = "none",
    ) -> None:
        self.data_kind = data_kind
        self.files = list(files)
        self.strict = strict
        self.max_examples = max_examples
        self.source = None if source is None else str(source)
        self.rows_in = 0
        self.rows_out = 0
        self.ordering = "arrival"  # how rows were put in time order: arrival|memory|stream|duckdb
        self.gap_longest_seconds = 0.0
        self.gap_threshold_seconds: float | None = None  # what counted as a gap (gaps config)
        self.rules = {name: RuleTally(actions[name]) for name in KIND_RULES[data_kind]}
        self.adjustment = AdjustmentTally(adjust_method)  # clean.adjust: method, bars, factors
        self.audit = audit
        self._flagged: list[pl.DataFrame] = []

    def add(self, rule: str, offenders: pl.DataFrame, detail: pl.Expr) -> None:
        """Count `offenders` (rows with lineage and timestamp) under `rule`.

        `detail` is a string expression over the offenders describing each one.
        """
        if offenders.height == 0:
            return
        tally = self.rules[rule]
        tally.count += offenders.height
        if self.audit:
            lineage = offenders.select("src_file", "src_row", pl.lit(rule).alias("rule"))
            self._flagged.append(lineage)
        # Describe only the few kept, not millions of offenders. A source row can offend more
        # than once (a duplicated line), so every row tied with the k-th key is described and
        # the examples ordered by all four columns: the same examples whatever the batching.
        key = pl.col("src_file").cast(pl.Int64) * (1 << 40) + pl.col("src_row")
        kth = offenders.select(key.bottom_k(self.max_examples).max()).item()
        new = offenders.filter(key <= kth).select(
            pl.col("src_file"),
            pl.col("src_row"),
            pl.col("timestamp").dt.to_string(ISO_NS).fill_null("null").alias("when"),
            detail.alias("detail"),
        )
        tally.examples = (
            pl.concat([tally.examples, new], how="vertical_relaxed")
            .sort(EXAMPLE_ORDER)
            .head(self.max_examples)
        )
        if self.strict and RULES[rule].violation:
            raise self.error(rule, "strict mode refuses any violation")

    @property
    def flagged(self) -> pl.DataFrame:
        """With `audit`: every row any rule found (src_file, src_row, rule), in memory."""
        empty = pl.DataFrame(schema={"src_file": pl.Int32, "src_row": pl.Int64, "rule": pl.String})
        return pl.concat([empty, *self._flagged])

    def error(self, rule: str, why: str) -> DataError:
        """A DataError for `rule` naming the first offending file, rows and timestamps."""
        tally = self.rules[rule]
        first = tally.examples["src_file"][0] if tally.examples.height else None
        path = file_name(first, self.files) or self.source
        problem = f"{tally.count} row(s): {RULES[rule].description}; {why}"
        return DataError(path, problem, rule=rule, rows=self.example_lines(rule))

    def example_lines(self, rule: str) -> list[str]:
        lines = []
        for row in self.rules[rule].examples.iter_rows(named=True):
            name = file_name(row["src_file"], self.files)
            where = f"{name} row {row['src_row']}" if name else f"row {row['src_row']}"
            lines.append(f"{where} at {row['when']}: {row['detail']}")
        return lines

    def empty_error(self) -> DataError:
        """Nothing survived cleaning: say which rules removed the rows."""
        removed = ", ".join(f"{n} {t.count}" for n, t in self.rules.items() if t.count)
        problem = (
            f"no rows left after cleaning {self.rows_in} {self.data_kind} ({removed or 'none'})"
        )
        return DataError(self.source, problem, rule="empty_output")

    @property
    def violations(self) -> dict[str, int]:
        """Violated rules and their counts (what strict mode refuses)."""
        return {n: t.count for n, t in self.rules.items() if t.count and RULES[n].violation}

    def raise_if_strict(self) -> None:
        """In strict mode, raise DataError for the first violated rule."""
        if self.strict and self.violations:
            raise self.error(next(iter(self.violations)), "strict mode refuses any violation")

    def to_metrics(self) -> dict[str, Any]:
        """Numbers only, for a DVC metrics file (`dvc metrics show` flattens `rules.*`).

        With `clean.adjust` on, `adjustment` holds the bars adjusted and the factor range.
        """
        metrics: dict[str, Any] = {
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "rows_dropped": self.rows_in - self.rows_out,
            "violations": sum(self.violations.values()),
            "gap_longest_seconds": round(self.gap_longest_seconds, 3),
            "gap_threshold_seconds": self.gap_threshold_seconds,
            "rules": {name: tally.count for name, tally in self.rules.items()},
        }
        if self.adjustment.method != "none":
            metrics["adjustment"] = self.adjustment.to_metrics()
        return metrics

    def to_dict(self) -> dict[str, Any]:
        """The full report: metrics plus, per rule, its action and example rows."""
        return {
            "data_kind": self.data_kind,
            "strict": self.strict,
            **self.to_metrics(),
            "adjustment": self.adjustment.to_dict(),
            "details": {
                name: {
                    "action": tally.action,
                    "violation": RULES[name].violation,
                    "description": RULES[name].description,
                    "count": tally.count,
                    "examples": self.example_lines(name),
                }
                for name, tally in self.rules.items()
            },
        }

    def summary(self) -> str:
        """One line for the stage log."""
        found = ", ".join(f"{n} {t.count}" for n, t in self.rules.items() if t.count) or "none"
        line = f"clean {self.data_kind}: {self.rows_in} rows in, {self.rows_out} out; "
        line += f"found: {found}"
        if self.adjustment.method != "none":
            line += f"; {self.adjustment.summary()}"
        return line

    def render(self, console: Console | None = None) -> None:
        """Print the report as a table: rule, action, count, first example."""
        table = Table(title=f"cleaning {self.data_kind}: {self.rows_in:,} rows in, "
                      f"{self.rows_out:,} out", title_justify="left")  # fmt: skip
        for column, justify in (("rule", "left"), ("action", "left"), ("rows", "right"),
                                ("first example", "left")):  # fmt: skip
            table.add_column(column, justify=justify)  # type: ignore[arg-type]
        for name, tally in self.rules.items():
            lines = self.example_lines(name)
            style = "bold red" if tally.count and RULES[name].violation else None
            table.add_row(name, tally.action, f"{tally.count:,}", lines[0] if lines else "",
                          style=style)  # fmt: skip
        out = console or Console(stderr=True)
        out.print(table)
        if self.adjustment.method != "none":
            out.print(self.adjustment.summary())
