"""The pipeline's DVC metrics in a terminal's width: `qraptor metrics` (`make metrics`).

`dvc metrics show` puts every key of every file in one row per file, so the sample's rows
run to thousands of characters. Here each stage's file is one row, its figures as
`key value` pairs that wrap inside the terminal; lists are counted, nested keys dotted, and
the evaluation's hundreds of `<split>/<policy>/<metric>` keys are left to its own table
(`qraptor evaluate --show`, which `make metrics` prints after this).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from qraptor.core.errors import DataError

# the stages' metrics files in pipeline order (dvc.yaml `paths.metrics`); others follow
ORDER = ("raw", "clean", "reduce", "features", "split", "panel_raw", "panel")
EVALUATION = "evaluate"  # the agent-vs-baselines metrics: qraptor evaluate --show
LIST_SHOWN = 3  # a list of more items is shown as its count
MAX_DEPTH = (
    2  # `chrono.counts.train` is shown; `chrono.spans.train.first` counted in `chrono.spans`
)
LONGEST_TEXT = 40  # longer strings (explanations, hashes) stay in the file


def metrics_files(folder: Path) -> list[Path]:
    """The metrics JSON files of `folder`, pipeline stages first, the evaluation left out."""
    files = {p.stem: p for p in sorted(Path(folder).glob("*.json")) if p.stem != EVALUATION}
    ordered = [files.pop(name) for name in ORDER if name in files]
    return ordered + sorted(files.values())


def flat_figures(data: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(dotted key, short text) for the figures of a metrics mapping, compact: two levels
    deep (a deeper mapping, or one of records, is counted), prose and hashes left out, a
    mapping of zeros (the cleaning rules that found nothing) said once."""
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            if not value:
                continue
            if all(isinstance(v, (int, float)) and not isinstance(v, bool) and v == 0
                   for v in value.values()):  # fmt: skip
                yield name, f"all 0 ({len(value)})"
            elif prefix.count(".") >= MAX_DEPTH or _records(value):  # counted
                yield name, f"[{len(value)}]"
            else:
                yield from flat_figures(value, f"{name}.")
        elif isinstance(value, list):
            if not value:
                continue
            if len(value) > LIST_SHOWN or any(isinstance(v, (Mapping, list)) for v in value):
                yield name, f"[{len(value)}]"
            else:
                yield name, ",".join(_short(v) for v in value)
        elif not (isinstance(value, str) and len(value) > LONGEST_TEXT):
            yield name, _short(value)


def _records(value: Mapping[str, Any]) -> bool:
    """A table of records (the split's spans: each a mapping with the same keys)."""
    rows = list(value.values())
    if len(rows) < 2 or not all(isinstance(r, Mapping) for r in rows):
        return False
    return all(set(r) == set(rows[0]) for r in rows)


def _short(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{value:.4g}"
    return str(value)


def metrics_table(folder: Path) -> Table:
    """One row per stage: its name, then its figures wrapping within the column."""
    table = Table(box=None, show_header=True, pad_edge=False, expand=False)
    table.add_column("stage", style="bold", no_wrap=True)
    table.add_column("figures", overflow="fold")
    for path in metrics_files(folder):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(path, f"not a readable metrics file: {exc}") from None
        if not isinstance(data, Mapping):
            raise DataError(path, "a metrics file holds one JSON object")
        # a non-breaking space inside a pair: lines wrap between pairs, not inside one
        pairs = "  ".join(f"[dim]{escape(k)}[/]\u00a0{escape(v)}" for k, v in flat_figures(data))
        table.add_row(path.stem, pairs)
    return table
