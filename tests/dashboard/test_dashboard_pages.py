"""The dashboard's data access, figures and pages without a browser: pages are built by the
same functions the server calls, and inspected as Dash component trees."""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from dashboard_world import LEARNING_RATES, REPO, World

from qraptor.core.formatting import format_metric
from qraptor.dashboard import pipeline_outputs, result_figures
from qraptor.dashboard.app import render_page
from qraptor.dashboard.problems import Unavailable
from qraptor.dashboard.queue_view import error_reason, progress_percent, session_row, worker_rows
from qraptor.dashboard.sources import Sources
from qraptor.evaluation.compare.comparison import compare_runs
from qraptor.store import load_store_config
from qraptor.store.run_records import GridFSEquity, sweep_records

# -- helpers: walk a Dash component tree ------------------------------------------------


def tree(component: Any) -> dict[str, Any]:
    return component.to_plotly_json() if hasattr(component, "to_plotly_json") else component


def children_of(node: Any) -> list[Any]:
    node = tree(node)
    if isinstance(node, list):
        return node
    if isinstance(node, dict):
        kids = node.get("props", {}).get("children")
        return kids if isinstance(kids, list) else [] if kids is None else [kids]
    return []


def find(component: Any, element_id: str) -> dict[str, Any] | None:
    node = tree(component)
    if isinstance(node, dict) and node.get("props", {}).get("id") == element_id:
        return node
    for child in children_of(node):
        found = find(child, element_id)
        if found is not None:
            return found
    return None


def text(component: Any) -> str:
    node = tree(component)
    if isinstance(node, str | int | float):
        return str(node)
    return " ".join(text(c) for c in children_of(node))


def sources_of(world: World, **changes: Any) -> Sources:
    return Sources.from_settings(replace(world.settings(), **changes))


@pytest.fixture(scope="module")
def sources(dash_world: World):
    opened = sources_of(dash_world)
    yield opened
    opened.close()


# -- pure parts -----------------------------------------------------------------------------


def test_error_reason_is_the_exception_line_of_a_traceback():
    traceback = 'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: bad\n\n'
    assert error_reason(traceback) == "ValueError: bad"
    assert error_reason("invalid session config: session.n_envs must be >= 1") == (
        "invalid session config: session.n_envs must be >= 1"
    )
    assert error_reason(None) == ""
    assert len(error_reason("x" * 1000)) == 160


def test_progress_and_rows_of_session_documents():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    progress = {"timesteps": 50, "total_timesteps": 200, "phase": "training"}
    running = {"_id": "r", "status": "running", "worker_id": "w1", "heartbeat_at": now,
               "progress": progress}  # fmt: skip
    failed = {"_id": "f", "status": "failed", "worker_id": "w1", "error": "Tb\nKeyError: 'x'",
              "attempts": 3, "max_attempts": 3}  # fmt: skip
    queued = {"_id": "q", "status": "queued", "worker_id": "old", "progress": {}}
    assert progress_percent(running) == 25.0
    assert progress_percent({"status": "succeeded"}) == 100.0
    assert progress_percent(queued) is None
    assert session_row(failed)["reason"] == "KeyError: 'x'"
    assert session_row(failed)["attempts"] == "3/3"
    assert session_row(queued)["worker"] == ""  # a queued session has no worker (yet)
    assert session_row(running)["reason"] == ""
    rows = worker_rows([running, failed, queued], now + timedelta(seconds=7))
    assert rows == [{"worker": "w1", "session": "r", "percent": 25.0, "timesteps": "50/200",
                     "phase": "training", "heartbeat": "7 s ago"}]  # fmt: skip


def test_bucketing_keeps_extremes_and_bounds_the_points():
    n = 10_007
    rng = np.random.default_rng(0)
    close = 100 + rng.normal(size=n).cumsum()
    bars = pd.DataFrame({
        "timestamp": pd.date_range("2024-01-01", periods=n, freq="min", tz="UTC"),
        "open": close, "high": close + 1, "low": close - 1, "close": close,
        "volume": np.ones(n),
    })  # fmt: skip
    bars.loc[4321, "high"] = 10_000.0  # a spike every-k-th thinning would likely drop
    view = pipeline_outputs.bucketed(bars, 500)
    assert len(view) <= 500
    assert view["high"].max() == 10_000.0
    assert view["low"].min() == bars["low"].min()
    assert view["volume"].sum() == n
    assert view["close"].iloc[-1] == bars["close"].iloc[-1]
    assert len(pipeline_outputs.thinned(bars, 300)) <= 301


def test_seeds_are_categories_and_the_best_trial_is_the_red_point():
    """Issue 18: the compare page's parameters-vs-Sharpe plot puts seeds on a category axis
    (0, 1, 2 evenly spaced, no 0.5 between) and numbers on a numeric one, and rings the best
    trial in red; the title names red only when a red point is drawn."""
    from qraptor.evaluation.compare.comparison import RunRecord
    from qraptor.evaluation.compare.config import load_compare_config

    def record(i: int, lr: float, seed: int, sharpe: float) -> RunRecord:
        config = {"algo": {"learning_rate": lr}, "session": {"seed": seed}}
        metrics = {"splits": {"val": {"agent": {"sharpe": sharpe}, "baselines": {}}}}
        return RunRecord(f"r{i}", "succeeded", config, metrics)

    records = [record(0, 1e-3, 0, 0.4), record(1, 1e-3, 2, 1.3), record(2, 3e-4, 1, -0.2),
               record(3, 3e-4, 10, 0.1)]  # fmt: skip
    cfg = load_compare_config(["metrics=[sharpe]", "bootstrap.reps=200"])
    comparison = compare_runs(records, cfg, title="t", sweep=True)  # a sweep has a best
    fig = result_figures.params_vs_sharpe(comparison, max_params=4)
    assert fig is not None
    panels = {a.text: i for i, a in enumerate(fig.layout.annotations)}  # subplot titles
    seed, lr = fig.data[panels["session.seed"]], fig.data[panels["algo.learning_rate"]]

    def axis(panel: int):
        return fig.layout["xaxis" if panel == 0 else f"xaxis{panel + 1}"]

    seed_axis, lr_axis = axis(panels["session.seed"]), axis(panels["algo.learning_rate"])
    assert seed_axis.type == "category" and list(seed.x) == ["0", "2", "1", "10"]
    assert list(seed_axis.categoryarray) == ["0", "1", "2", "10"]  # by value, not as text
    assert lr_axis.type != "category" and sorted(lr.x) == [3e-4, 3e-4, 1e-3, 1e-3]
    red = [x for x, c in zip(seed.x, seed.marker.color, strict=True) if c == "#e45756"]
    assert red == ["2"]  # r1, the best Sharpe
    assert "red: the best trial" in fig.layout.title.text
    comparison.best = None  # not a sweep: nothing ringed, nothing said about red
    plain = result_figures.params_vs_sharpe(comparison, max_params=4)
    assert plain is not None and "red" not in plain.layout.title.text


def test_equity_and_drawdown_figures(dash_world: World, sources: Sources):
    doc = sources.store.call(lambda s: s.get(dash_world.trained[0]))
    result = sources.results.load(doc, "val")
    figure = result_figures.equity_figure(result.equity, "val")
    names = [t.name for t in figure.data]
    assert {"agent", "buy_and_hold", "flat", "random"} <= set(names)
    agent = next(t for t in figure.data if t.name == "agent")
    assert agent.y[-1] == pytest.approx(result.equity["agent"].iloc[-1])
    drawdown = result_figures.drawdown_figure(result.equity).data[0].y
    peak = result.equity["agent"].cummax()
    assert min(drawdown) == pytest.approx((result.equity["agent"] / peak - 1).min())
    assert max(drawdown) <= 0


# -- pipeline outputs -----------------------------------------------------------------------


def test_paths_come_from_dvc_yaml(tmp_path: Path):
    declared = (REPO / "dvc.yaml").read_text()
    assert "bars: data/processed/bars.parquet" in declared
    (tmp_path / "dvc.yaml").write_text(
        declared.replace("bars: data/processed/bars.parquet", "bars: elsewhere/b.parquet")
    )
    paths = pipeline_outputs.pipeline_paths(tmp_path)
    assert paths.bars == tmp_path / "elsewhere/b.parquet"
    assert paths.clean_metrics == tmp_path / "reports/metrics/clean.json"
    assert paths.features == tmp_path / "data/processed/features.parquet"


def test_data_page_of_the_sample(dash_world: World, sources: Sources):
    page = render_page(sources, "/data")  # how fast: benchmarks/dashboard.py
    price = find(page, "price-graph")["props"]["figure"]
    close = next(t for t in price.data if t.name == "close")
    bars = pd.read_parquet(dash_world.project / "data/processed/bars.parquet")
    assert len(close.x) <= pipeline_outputs.MAX_POINTS < len(bars)
    assert close.y[-1] == pytest.approx(bars["close"].iloc[-1])
    assert "6,225" in text(find(page, "bars-section"))
    rules = {row["rule"] for row in find(page, "clean-table")["props"]["data"]}
    assert {"missing_value", "duplicate", "gap"} <= rules
    spans = {row["span"]: row for row in find(page, "splits-table")["props"]["data"]}
    assert set(spans) >= {"train", "val", "test"}
    assert find(page, "folds-graph") is not None
    assert "Not available" not in text(page)


def test_missing_outputs_name_the_file_and_dvc_repro(dash_world: World, tmp_path: Path):
    shutil.copy(REPO / "dvc.yaml", tmp_path / "dvc.yaml")  # a fresh clone: no outputs yet
    empty = sources_of(dash_world, project=tmp_path)
    page = render_page(empty, "/data")
    shown = text(page)
    assert shown.count("Not available") == 4  # bars, cleaning report, features, splits
    assert "bars.parquet" in shown and "dvc repro" in shown
    with pytest.raises(Unavailable, match="features"):
        pipeline_outputs.features_view(tmp_path)
    with pytest.raises(Unavailable, match="not a qraptor project"):
        pipeline_outputs.bars_view(tmp_path / "nowhere")


# -- the session store ----------------------------------------------------------------------


def test_sessions_page_shows_the_queue(dash_world: World, sources: Sources):
    page = render_page(sources, "/sessions")
    counts = sources.store.call(lambda s: s.counts())
    for status, n in counts.items():
        assert text(find(page, f"count-{status}")) == str(n)
    rows = {r["id"]: r for r in find(page, "sessions-table")["props"]["data"]}
    assert rows[dash_world.failed]["reason"].startswith("DataError")  # failed at once
    assert "no splits.json" in rows[dash_world.failed]["reason"]
    assert rows[dash_world.running]["progress"] == "38%"  # 96 of 256 timesteps
    workers = text(find(page, "workers-table"))
    assert "worker-b" in workers and dash_world.running in workers


def test_session_page_links_the_mlflow_run(dash_world: World, sources: Sources):
    from mlflow import MlflowClient

    sid = dash_world.trained[1]
    doc = sources.store.call(lambda s: s.get(sid))
    page = render_page(sources, f"/session/{sid[:-3]}")  # a unique prefix is enough
    tail = render_page(sources, f"/session/{sid[-5:]}")  # and so is the random tail
    assert sid in text(find(tail, "session-title"))
    run = MlflowClient(dash_world.settings().mlflow_uri).get_run(doc["mlflow_run_id"])
    link = find(page, "mlflow-link")["props"]["href"]
    assert link == (
        f"http://127.0.0.1:5000/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}"
    )
    metrics = find(page, "metrics-table")["props"]["data"]
    agent_val = next(r for r in metrics if r["split"] == "val" and r["policy"] == "agent")
    sharpe = doc["metrics"]["splits"]["val"]["agent"]["sharpe"]
    assert float(agent_val["sharpe"]) == pytest.approx(sharpe, abs=0.005)  # shown as 1.23
    assert agent_val["total_return"].endswith("%")  # in its unit, not a raw fraction
    # issue 15: the table's cells under the names MLflow stores them by
    assert "val/agent/sharpe" in text(find(page, "metric-names"))
    assert run.data.metrics["val/agent/sharpe"] == pytest.approx(sharpe)
    trades = find(page, "trades-table")["props"]["data"]
    assert len(trades) == doc["metrics"]["splits"]["val"]["agent"]["n_trades"]
    # issue 14: PSR(0) beside the Sharpe, the verdict of every split, the shown split's too
    verdict = doc["metrics"]["splits"]["val"]["verdict"]
    assert float(agent_val["psr"]) == pytest.approx(verdict["psr"], abs=0.005)
    lines = text(find(page, "verdict-lines"))
    assert f"val: {verdict['text']}" in lines and "test: " in lines
    assert text(find(page, "split-verdict")) == f"Verdict on val: {verdict['text']}"


def test_failed_and_unknown_sessions_say_why(dash_world: World, sources: Sources):
    failed = render_page(sources, f"/session/{dash_world.failed}")
    assert "no splits.json" in text(find(failed, "session-error"))
    assert "qraptor sessions retry" in text(find(failed, "no-results"))
    running = text(render_page(sources, f"/session/{dash_world.running}"))
    assert "the session is running" in running and "qraptor worker" in running
    unknown = text(render_page(sources, "/session/19990101-nope"))
    assert "does not exist" in unknown


def test_compare_page_deflates_the_best_of_the_sweep(dash_world: World, sources: Sources):
    page = render_page(sources, "/compare", f"?sweep={dash_world.sweep_id}")
    store = dash_world.open_store()
    try:
        records = sweep_records(store, dash_world.sweep_id, collection="trials", limit=100)
        with GridFSEquity(store) as equity:
            expected = compare_runs(records, dash_world.settings().compare, title="t",
                                    sweep=True, load_equity=equity)  # fmt: skip
    finally:
        store.close()
    panel = text(find(page, "dsr-panel"))
    assert expected.sweep is not None and math.isfinite(expected.sweep.dsr)
    assert f"{expected.sweep.n_trials} (" in panel and expected.sweep.n_trials == 5
    assert f"{expected.sweep.dsr:.4g}" in panel
    assert expected.verdict is not None and expected.verdict.text in panel
    assert f"over {expected.sweep.n_trials} trials" in expected.verdict.text
    table = find(page, "compare-table")["props"]["data"]
    assert len(table) == 5
    # issue 15: the columns are the metric keys MLflow and DVC use
    names = [c["name"] for c in find(page, "compare-table")["props"]["columns"]]
    assert {"val/agent/sharpe", "val/agent/psr", "val/buy_and_hold/sharpe"} <= set(names)
    best = max(expected.rows, key=lambda r: r.values["val/agent/sharpe"])
    shown = {row["val__agent__sharpe"] for row in table}
    assert format_metric("sharpe", best.values["val/agent/sharpe"]) in shown
    returns = {row["val__agent__total_return"] for row in table} - {"-"}
    assert returns and all(r.endswith("%") for r in returns)  # in its unit, not -0.06601
    scatter = find(page, "params-graph")["props"]["figure"]
    assert sorted(scatter.data[0].x) == sorted(LEARNING_RATES)


def test_without_a_database_pages_say_so(dash_world: World):
    offline = sources_of(dash_world, store=None)
    assert "--no-db" in text(render_page(offline, "/sessions"))
    assert "--no-db" in text(render_page(offline, "/compare"))
    # a database that does not answer: the page says so once the dashboard's fast-fail
    # budget (settings.STORE_FAST_FAIL, seconds) is spent, not after the store's default
    # retry budget (conf/store: 2 minutes). The bound tells those two apart on any machine;
    # it is not a speed budget (how fast pages are: benchmarks/dashboard.py).
    hang = load_store_config().retry.total_seconds
    dead = sources_of(dash_world, mongo_uri="mongodb://127.0.0.1:9/?directConnection=true")
    started = time.perf_counter()
    shown = text(render_page(dead, "/sessions"))
    assert time.perf_counter() - started < hang / 2
    assert "not reachable" in shown and "qraptor db start" in shown


def test_the_pipelines_agent_is_shown_beside_the_queue(dash_world: World, tmp_path: Path):
    """`make demo`'s agent never queued: the sessions page names it above the queue with its
    Sharpe and verdict, and /session/pipeline shows its metrics, verdicts, equity and trades
    from its run folder, as for any session; before the pipeline trains, the page says what
    to run."""
    bare = sources_of(dash_world, project=tmp_path)
    shutil.copy(REPO / "dvc.yaml", tmp_path / "dvc.yaml")
    assert "make demo" in text(find(render_page(bare, "/sessions"), "pipeline-agent"))
    assert "make demo" in text(render_page(bare, "/session/pipeline"))
    bare.close()

    project = dash_world.project  # its agent folder holds a trained session's files
    shown = sources_of(dash_world, project=project)
    try:
        listing = render_page(shown, "/sessions")
        line = text(find(listing, "pipeline-agent"))
        metrics = json.loads((project / "models" / "agent" / "metrics.json").read_text())
        last = list(metrics["splits"])[-1]
        sharpe = metrics["splits"][last]["agent"]["sharpe"]
        assert f"{last} Sharpe {sharpe:.2f}" in line and "dvc repro" in line
        assert metrics["splits"][last]["verdict"]["text"].split(":")[0] in line
        assert find(listing, "pipeline-agent-link")["props"]["href"] == "/session/pipeline"
        page = render_page(shown, "/session/pipeline")
        assert "The pipeline's agent (dvc repro, models/agent)" in text(find(page, "session-title"))
        rows = find(page, "metrics-table")["props"]["data"]
        agent_val = next(r for r in rows if r["split"] == "val" and r["policy"] == "agent")
        assert float(agent_val["sharpe"]) == pytest.approx(
            metrics["splits"]["val"]["agent"]["sharpe"], abs=0.005
        )
        assert find(page, "split-choice")["props"]["options"] == list(metrics["splits"])
        assert find(page, "equity-graph") is not None
        trades = find(page, "trades-table")["props"]["data"]
        assert len(trades) == metrics["splits"]["val"]["agent"]["n_trades"]
        verdict = metrics["splits"]["val"]["verdict"]["text"]
        assert text(find(page, "split-verdict")) == f"Verdict on val: {verdict}"
    finally:
        shown.close()


def test_empty_pages_say_what_to_run(dash_world: World):
    """A database without sessions: the sessions and compare pages name the command that
    makes some, instead of an empty table or an empty dropdown."""
    empty = sources_of(dash_world, store=replace(dash_world.store_cfg, database="empty-db"))
    try:
        sessions = text(find(render_page(empty, "/sessions"), "queue-problem"))
        assert "holds none yet" in sessions and "qraptor train -m hydra/launcher=mongo" in sessions
        compare = text(find(render_page(empty, "/compare"), "compare-body"))
        assert "no sweep or experiment yet" in compare and "qraptor train -m" in compare
    finally:
        empty.close()
