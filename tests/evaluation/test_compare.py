"""`qraptor compare` on a tiny real sweep in a real SecantusDB: sessions trained for real and
stored the way workers store them, in-process trials on the ledger, failed and queued
trials; the deflated Sharpe counts them all and the HTML report works offline."""

from __future__ import annotations

import math
import re
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from rich.console import Console

from qraptor.cli.compare import run_compare
from qraptor.cli.main import main as qraptor_main
from qraptor.core.numbers import json_safe
from qraptor.evaluation.compare.comparison import RunRecord, compare_runs, varying_keys
from qraptor.evaluation.compare.config import load_compare_config
from qraptor.evaluation.statistics import deflated_sharpe_ratio, equity_moments
from qraptor.store import FileKind, SessionStore
from qraptor.store.ledger import record_trial
from qraptor.store.uri import URI_ENV
from qraptor.train import load_train_config
from qraptor.train.summary import session_summary
from qraptor.train.trainer import train_session

TINY = ("experiment=tiny", "algo.n_epochs=2")  # the tests' one tiny session config
LEARNING_RATES = ("0.0003", "0.001")
FAST_COMPARE = ("bootstrap.reps=500",)


def _session_metrics(result) -> dict:
    """What a worker stores in the session document (no return moments)."""
    return {
        "objective": result.objective,
        "objective_metric": "val.sharpe",
        "timesteps": result.timesteps,
        "splits": {
            split: {
                "agent": json_safe(metrics),
                "baselines": {k: json_safe(v) for k, v in result.baselines[split].items()},
            }
            for split, metrics in result.metrics.items()
        },
    }


def _store_like_a_worker(store: SessionStore, config: dict, result, sweep_id: str) -> str:
    sid = store.submit(config, sweep_id=sweep_id, experiment="cmp")
    session = store.claim("test-worker")
    assert session is not None and session.id == sid
    for split, equity in result.equity.items():
        store.attach_file(sid, FileKind.EQUITY_CURVE, equity, f"{split}_equity.csv",
                          claim=session.claim)  # fmt: skip
        baselines = equity.parent / "baselines_equity.csv"
        store.attach_file(sid, FileKind.EQUITY_CURVE, baselines, f"{split}_baselines_equity.csv",
                          claim=session.claim)  # fmt: skip
    store.complete(session.claim, _session_metrics(result))
    return sid


@pytest.fixture(scope="module")
def sweep(mongo_server, make_config, tiny_dataset, tmp_path_factory):
    """4 sessions (2 learning rates x 2 seeds) + a failed and a queued session, and 3
    ledger trials of an in-process job (succeeded, failed, still running): 9 trials."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("compare")
    dataset = tiny_dataset
    database = f"t_{uuid.uuid4().hex[:10]}"
    sweep_id = f"sweep-test-{uuid.uuid4().hex[:6]}"
    store = SessionStore(mongo_server.uri, database, make_config())
    results = {}
    runs = [(lr, seed) for lr in LEARNING_RATES for seed in (0, 1)] + [(LEARNING_RATES[1], 2)]
    for lr, seed in runs:
        cfg = load_train_config(
            [
                *TINY,
                f"session.dataset={dataset}",
                f"algo.learning_rate={lr}",
                f"session.seed={seed}",
            ]
        )
        results[(lr, seed)] = (cfg, train_session(cfg, root / f"run_{lr}_{seed}"))
    ids = [
        _store_like_a_worker(store, cfg.to_dict(), result, sweep_id)
        for (lr, seed), (cfg, result) in results.items()
        if seed < 2
    ]
    store.submit(results[(LEARNING_RATES[0], 0)][0].to_dict(), sweep_id=sweep_id)  # fails
    store.fail(store.claim("test-worker").claim, "Traceback: boom", retry=False)
    store.submit(results[(LEARNING_RATES[1], 0)][0].to_dict(), sweep_id=sweep_id)  # queued
    cfg, result = results[(LEARNING_RATES[1], 2)]
    record_trial(store, sweep_id, cfg.to_dict(), "running", number=0)
    record_trial(store, sweep_id, cfg.to_dict(), "succeeded", session_summary(result, "val.sharpe"),
                 number=0)  # fmt: skip
    record_trial(store, sweep_id, cfg.to_dict(), "failed", number=1, error="ValueError: nan")
    record_trial(store, sweep_id, cfg.to_dict(), "running", number=2)
    yield {"store": store, "sweep_id": sweep_id, "database": database, "uri": mongo_server.uri,
           "ids": ids, "results": results}  # fmt: skip
    store._conn.client.drop_database(database)
    store.close()


def _overrides(sweep, tmp_path: Path) -> list[str]:
    return [*FAST_COMPARE, f"store.database={sweep['database']}", f"report.dir={tmp_path}"]


def test_a_sweep_is_deflated_by_every_trial(sweep, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(URI_ENV, sweep["uri"])
    console = Console(record=True, width=240)
    comparison, path = run_compare(
        sweep=sweep["sweep_id"], overrides=_overrides(sweep, tmp_path), console=console
    )
    assert comparison.status_counts == {"succeeded": 5, "failed": 2, "queued": 1, "running": 1}
    significance = comparison.sweep
    assert significance is not None and significance.n_trials == 9
    assert significance.n_finished == 5

    # the numbers, recomputed from first principles: the best's bar returns from its own
    # equity CSV, every trial's per-bar Sharpe from its returns
    runs = {(lr, seed): r for (lr, seed), (_, r) in sweep["results"].items() if seed < 2}
    runs[("ledger", 2)] = sweep["results"][(LEARNING_RATES[1], 2)][1]
    moments = {k: equity_moments(pd.read_csv(r.equity["val"])["equity"]) for k, r in runs.items()}
    best_key = max(runs, key=lambda k: runs[k].metrics["val"]["sharpe"])
    best = moments[best_key]
    variance = np.var([m.sharpe for m in moments.values()], ddof=1)
    assert significance.best.sharpe == pytest.approx(best.sharpe, rel=1e-9)
    assert significance.sharpe_variance == pytest.approx(variance, rel=1e-6)
    expected = deflated_sharpe_ratio(best.sharpe, best.bars, best.skewness, best.kurtosis, 9,
                                     variance)  # fmt: skip
    assert significance.dsr == pytest.approx(expected, rel=1e-6, abs=1e-12)

    # issue 14: the best run's verdict, its DSR over the 9 trials in the rule
    verdict = comparison.verdict
    assert verdict is not None and verdict.n_trials == 9 and verdict.dsr == significance.dsr
    assert f"DSR {significance.dsr:.2f} over 9 trials" in verdict.text
    assert verdict.psr == pytest.approx(significance.psr, rel=1e-9)
    assert not verdict.edge or significance.dsr >= 0.95

    text = console.export_text()
    assert "deflated Sharpe DSR" in text and "trial " + sweep["sweep_id"] in text
    assert "PSR(0)" in text and verdict.text[:40] in " ".join(text.split())
    assert "algo.learning_rate" in text  # the config difference is shown

    page = path.read_text()
    assert path.parent == tmp_path and path.name.endswith(".html")
    assert "deflated Sharpe" in page and f"{significance.dsr:.4g}" in page
    assert "over 9 trials" in page
    assert page.count("data:image/png;base64,") >= 4  # overlay, per-run, distributions, params
    assert not re.search(r"<script|<link|@import|url\(", page, re.IGNORECASE)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page, re.IGNORECASE)


def test_groups_of_seeds_get_means_iqms_and_the_baseline_probability(sweep, tmp_path, monkeypatch):
    monkeypatch.setenv(URI_ENV, sweep["uri"])
    comparison, _ = run_compare(
        sweep=sweep["sweep_id"], overrides=_overrides(sweep, tmp_path), write_html=False,
        console=Console(file=open("/dev/null", "w")),  # noqa: SIM115
    )  # fmt: skip
    groups = {g.label: g for g in comparison.groups}
    assert set(groups) == {f"algo.learning_rate={float(lr):.4g}" for lr in LEARNING_RATES}
    runs = sorted(len(g.run_ids) for g in groups.values())
    assert runs == [2, 3]  # the ledger's succeeded trial repeats one configuration
    for group in groups.values():
        sharpe = group.metrics["sharpe"]
        values = [next(r for r in comparison.records if r.id == i).value("val", "sharpe")
                  for i in group.run_ids]  # fmt: skip
        assert sharpe.mean.estimate == pytest.approx(np.mean(values))
        assert sharpe.mean.low <= sharpe.mean.estimate <= sharpe.mean.high
        assert 0.0 <= group.beats_baseline.low <= group.beats_baseline.high <= 1.0


def test_the_cli_compares_sessions_by_id_prefix(sweep, tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv(URI_ENV, sweep["uri"])
    out = tmp_path / "two.html"
    prefixes = [sid[:-2] for sid in sweep["ids"][:2]]
    code = qraptor_main(["compare", *prefixes, "--html", str(out), *FAST_COMPARE,
                         f"store.database={sweep['database']}"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert sweep["ids"][0] in printed and out.is_file()
    assert "Sweep: deflated Sharpe" not in out.read_text()  # sessions, not a sweep: no DSR
    code = qraptor_main(["compare", "--sweep", "no-such-sweep", "--no-html",
                         f"store.database={sweep['database']}"])  # fmt: skip
    assert code == 2


def test_the_comparison_of_plain_records_needs_no_database() -> None:
    def record(i: int, lr: float, seed: int, sharpe: float, bh: float) -> RunRecord:
        config = {"algo": {"learning_rate": lr}, "session": {"seed": seed, "fold": None}}
        metrics = {
            "splits": {
                "val": {
                    "agent": {"sharpe": sharpe, "total_return": sharpe / 10},
                    "baselines": {"buy_and_hold": {"sharpe": bh}},
                }
            }
        }
        return RunRecord(f"r{i}", "succeeded", config, metrics)  # fmt: skip

    records = [record(0, 1e-3, 0, 1.0, 0.5), record(1, 1e-3, 1, 0.2, 0.5),
               record(2, 3e-4, 0, -1.0, 0.5), RunRecord("r3", "failed", {}, None)]  # fmt: skip
    cfg = load_compare_config(["metrics=[sharpe,total_return]", *FAST_COMPARE])
    comparison = compare_runs(records, cfg, title="t", sweep=True)
    assert comparison.varying == ["algo.learning_rate", "session.fold", "session.seed"]
    best = comparison.groups[0]
    assert best.label == "algo.learning_rate=0.001" and best.beats_baseline.estimate == 0.5
    assert math.isnan(comparison.rows[3].values["val/agent/sharpe"])
    assert comparison.best is not None and comparison.best.id == "r0"
    assert comparison.sweep is None  # no moments stored, no equity loader: said, not guessed
    assert comparison.verdict is None
    assert "val/agent/psr" in comparison.columns and math.isnan(
        comparison.rows[0].values["val/agent/psr"]
    )
    assert any("deflated Sharpe: n/a" in n for n in comparison.notes)
    assert varying_keys([{"a": {"b": [1, 2]}}, {"a": {"b": [1, 2]}}]) == []


def test_each_sharpe_of_the_runs_table_has_its_psr_and_a_stored_verdict_is_deflated() -> None:
    """Issue 14: PSR(0) beside every Sharpe column; the best trial's stored verdict gets the
    sweep's DSR over all its trials."""
    from qraptor.evaluation.statistics import probabilistic_sharpe_ratio
    from qraptor.evaluation.verdict import judge

    rng = np.random.default_rng(3)
    bench = rng.normal(0, 0.01, 2000)

    def record(i: int, drift: float) -> RunRecord:
        returns = rng.normal(drift, 0.01, 2000)
        m = equity_moments(np.r_[1.0, np.cumprod(1 + returns)])
        agent = {"sharpe": m.sharpe * 10, "sharpe_per_bar": m.sharpe, "skewness": m.skewness,
                 "kurtosis": m.kurtosis, "bars": float(m.bars)}  # fmt: skip
        verdict = judge(returns, bench, split="val", periods_per_year=100.0)
        splits = {"val": {"agent": agent, "baselines": {"buy_and_hold": {"sharpe": 0.1}},
                          "verdict": verdict.to_dict()}}  # fmt: skip
        return RunRecord(f"r{i}", "succeeded", {"session": {"seed": i}}, {"splits": splits})

    # the other trials' Sharpe ratios spread widely (a sweep over very different settings)
    records = [record(0, 0.001), *(record(i, d) for i, d in enumerate([0.0005, -0.0005] * 7, 1))]
    cfg = load_compare_config(["metrics=[sharpe]", "also_show=[]", *FAST_COMPARE])
    comparison = compare_runs(records, cfg, title="t", sweep=True)
    assert comparison.columns == ["val/agent/sharpe", "val/agent/psr",  # MLflow's names
                                  "val/buy_and_hold/sharpe", "val/buy_and_hold/psr"]  # fmt: skip
    agent = records[0].agent("val")
    assert agent is not None
    assert comparison.rows[0].values["val/agent/psr"] == pytest.approx(
        probabilistic_sharpe_ratio(
            agent["sharpe_per_bar"], int(agent["bars"]), agent["skewness"], agent["kurtosis"]
        )
    )
    stored = records[0].verdict("val")
    assert stored is not None and stored["edge"]  # an edge on its own, but not over the sweep
    v, sweep = comparison.verdict, comparison.sweep
    assert v is not None and sweep is not None and comparison.best is records[0]
    assert v.n_trials == 15 and v.dsr == sweep.dsr and v.psr == stored["psr"]
    assert sweep.dsr < 0.95 and not v.edge
    assert v.text.split("(")[1].startswith(stored["text"].split("(")[1].rstrip(")"))
