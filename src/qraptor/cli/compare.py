"""`qraptor compare`: sessions, a sweep or an experiment, from MongoDB, side by side.

    qraptor compare 20261125-1747 20261125-1802        # sessions by id or unique prefix
    qraptor compare --sweep sweep-20261125-174749-3fa9c2
    qraptor compare --experiment quick split=test bootstrap.reps=20000
    qraptor compare --sweep local-2026-11-25_14-03-22_ppo_optuna-1a2b3c --html out.html

Prints the tables (runs with their config differences, groups of seeds with mean, IQM and
CIs, the sweep's deflated Sharpe) and writes the offline HTML report (`report.dir` of
conf/compare, or --html). Overrides are keys of conf/compare, or of conf/store with a
``store.`` prefix (``store.uri=...``), or of conf/ledger with ``ledger.``.

This is an entry point: it opens the session store (qraptor.store) and hands plain
records to the pure comparison (compare.py), so the evaluation package itself never
depends on the database.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from qraptor.core.config import compose_command
from qraptor.core.errors import ConfigError
from qraptor.core.log import console_for_stdout
from qraptor.core.paths import project_root
from qraptor.evaluation.compare.comparison import Comparison, compare_runs
from qraptor.evaluation.compare.config import CompareConfig, compare_config_from
from qraptor.evaluation.compare.html import write_comparison_html
from qraptor.evaluation.compare.table import render


def run_compare(
    ids: Sequence[str] = (),
    *,
    sweep: str | None = None,
    experiment: str | None = None,
    html: Path | None = None,
    write_html: bool = True,
    overrides: Sequence[str] = (),
    console: Console | None = None,
    wide: bool = False,
) -> tuple[Comparison, Path | None]:
    """Compare runs chosen by exactly one of `ids`, `sweep`, `experiment`; print the tables,
    write the HTML report; return the comparison and the report's path (None if not written)."""
    from qraptor.store.config import store_config_from
    from qraptor.store.ledger import ledger_config_from
    from qraptor.store.run_records import (
        GridFSEquity,
        experiment_records,
        records_by_id,
        sweep_records,
    )
    from qraptor.store.store import SessionStore

    chosen = [bool(ids), sweep is not None, experiment is not None]
    if sum(chosen) != 1:
        raise ConfigError("compare", "name session ids, or --sweep ID, or --experiment NAME (one)")
    composed = compose_command("qraptor", overrides, primary="compare")
    cfg = compare_config_from(composed.compare)
    ledger_cfg = ledger_config_from(composed.ledger)
    out = console or console_for_stdout(wide)
    with SessionStore.from_config(store_config_from(composed.store), project_root()) as store:
        if sweep is not None:
            records, title = (
                sweep_records(store, sweep, collection=ledger_cfg.collection, limit=cfg.limit),
                f"sweep {sweep}",
            )
        elif experiment is not None:
            records, title = (
                experiment_records(
                    store, experiment, collection=ledger_cfg.collection, limit=cfg.limit
                ),
                f"experiment {experiment}",
            )
        else:
            records = records_by_id(store, ids, collection=ledger_cfg.collection)
            title = f"{len(records)} sessions" if len(records) > 1 else f"session {records[0].id}"
        with GridFSEquity(store) as load_equity:
            comparison = compare_runs(
                records, cfg, title=title, sweep=sweep is not None, load_equity=load_equity
            )
            render(comparison, out, wide)
            path = None
            if write_html:
                path = html or default_report_path(cfg, sweep or experiment or records[0].id)
                write_comparison_html(comparison, path, cfg, load_equity)
                out.print(f"report: {path}")
    return comparison, path


def default_report_path(cfg: CompareConfig, name: str) -> Path:
    """<report.dir>/<name>.html, relative paths under the project root."""
    folder = Path(cfg.report.dir).expanduser()
    if not folder.is_absolute():
        folder = project_root() / folder
    return folder / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.html"
