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
from qraptor.evaluation.compare.comparison import (
    Comparison,
    EquityLoader,
    RunRecord,
    compare_runs,
)
from qraptor.evaluation.compare.config import CompareConfig, compare_config_from
from qraptor.evaluation.compare.html import write_comparison_html
from qraptor.evaluation.compare.table import render
from qraptor.store.errors import StoreError, StoreUnavailable
from qraptor.tracking.config import TrackingConfig, resolve_tracking_uri, tracking_config_from


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
    write the HTML report; return the comparison and the report's path (None if not written).

    A sweep the store cannot give (the database is down, or was while the sweep ran, so its
    trials never reached the ledger) is read from its MLflow runs, when tracking is on."""
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
    report = _Report(cfg, console or console_for_stdout(wide), wide, html, write_html)
    try:
        with SessionStore.from_config(store_config_from(composed.store), project_root()) as store:
            if sweep is not None:
                records = sweep_records(store, sweep, collection=ledger_cfg.collection,
                                        limit=cfg.limit)  # fmt: skip
                title, name = f"sweep {sweep}", sweep
            elif experiment is not None:
                records = experiment_records(
                    store, experiment, collection=ledger_cfg.collection, limit=cfg.limit
                )
                title, name = f"experiment {experiment}", experiment
            else:
                records = records_by_id(store, ids, collection=ledger_cfg.collection)
                name = records[0].id
                title = f"{len(records)} sessions" if len(records) > 1 else f"session {name}"
            with GridFSEquity(store) as load_equity:
                return report.show(records, title, name, load_equity, sweep=sweep is not None)
    except StoreError as exc:
        tracking = tracking_config_from(composed)
        if sweep is None or not tracking.enabled:
            raise
        return _sweep_from_mlflow(sweep, exc, tracking, report)


def _sweep_from_mlflow(
    sweep: str, why: StoreError, tracking: TrackingConfig, report: _Report
) -> tuple[Comparison, Path | None]:
    """Sweep `sweep` from its MLflow runs, the store having failed to give it (`why`)."""
    from qraptor.core.redact import redact_uri
    from qraptor.tracking.mlflow_records import MlflowEquity, NoSuchSweep, sweep_records
    from qraptor.tracking.runs import connect

    uri = resolve_tracking_uri(tracking, project_root())
    local = uri.removeprefix("sqlite:///") if uri.startswith("sqlite:///") else None
    if local is not None and not Path(local).is_file():  # never tracked here: none to create
        raise StoreError(f"{why}\nand no MLflow store at {local} holds sweep '{sweep}'")
    client = connect(uri)
    try:
        records = sweep_records(client, sweep, limit=report.cfg.limit)
    except NoSuchSweep as exc:
        raise StoreError(f"{why}\nand {exc}") from None
    reason = "is unreachable" if isinstance(why, StoreUnavailable) else "has no record of it"
    report.out.print(
        f"[yellow]sweep {sweep}: the session store {reason}; its {len(records)} runs are "
        f"read from MLflow at {redact_uri(uri)}[/yellow]",
        highlight=False,
    )
    with MlflowEquity(client) as load_equity:
        return report.show(records, f"sweep {sweep}", sweep, load_equity, sweep=True)


class _Report:
    """Where and how a comparison is shown: the terminal's tables, the HTML report."""

    def __init__(
        self, cfg: CompareConfig, out: Console, wide: bool, html: Path | None, write_html: bool
    ) -> None:
        self.cfg, self.out, self.wide, self.html, self.write_html = cfg, out, wide, html, write_html

    def show(
        self,
        records: list[RunRecord],
        title: str,
        name: str,
        load_equity: EquityLoader,
        *,
        sweep: bool,
    ) -> tuple[Comparison, Path | None]:
        """Compare `records`, print the tables, write the report (named after `name`)."""
        comparison = compare_runs(records, self.cfg, title=title, sweep=sweep,
                                  load_equity=load_equity)  # fmt: skip
        render(comparison, self.out, self.wide)
        path = None
        if self.write_html:
            path = self.html or default_report_path(self.cfg, name)
            write_comparison_html(comparison, path, self.cfg, load_equity)
            self.out.print(f"report: {path}")
        return comparison, path


def default_report_path(cfg: CompareConfig, name: str) -> Path:
    """<report.dir>/<name>.html, relative paths under the project root."""
    folder = Path(cfg.report.dir).expanduser()
    if not folder.is_absolute():
        folder = project_root() / folder
    return folder / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.html"
