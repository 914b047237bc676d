"""Real pipeline outputs in a temporary project, shared by the analysis and notebook tests.

`sample_project`: the data stages run on the shipped EUR/USD sample, then a tiny training
session and `qraptor evaluate`, exactly the files `dvc repro` leaves (no repo `data/` needed).
`store_sweep`: tiny sessions of two learning rates x two seeds plus a failed one, stored in a
real SecantusDB server the way workers store them.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import pytest
import torch

from qraptor.analysis.project import ProjectPaths, project_paths
from qraptor.cli import data_stages as stages
from qraptor.cli.main import main as qraptor_main
from qraptor.core.numbers import json_safe
from qraptor.data.pipeline_config import load_pipeline_config
from qraptor.store import FileKind, SessionStore
from qraptor.train import load_train_config, train_session

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[2]
# A tiny session on the hourly sample: proves the path in seconds, not skill.
TINY = (
    "experiment=tiny",
    "algo.n_epochs=2",
)
LEARNING_RATES = ("0.0003", "0.001")


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread() -> None:
    torch.set_num_threads(1)


def run_data_stages(paths: ProjectPaths) -> None:
    """raw -> ingest -> clean -> reduce -> features -> split, as `dvc repro` calls them."""
    cfg = load_pipeline_config(conf_dir=ROOT / "conf")
    raw = paths.root / "data/raw/generated"
    ingested = paths.root / "data/interim/ingested"
    figures = paths.root / "reports/figures"
    stages.run_raw(cfg, raw)
    stages.run_ingest(cfg, raw, ingested)
    stages.run_clean(cfg, ingested, paths.clean, paths.clean_metrics, paths.root / "data/tmp")
    stages.run_reduce(
        cfg,
        paths.clean,
        paths.bars,
        paths.metrics / "reduce.json",
        paths.plots / "bars.csv",
        figures / "bars.png",
    )
    stages.run_features(cfg, paths.bars, paths.features, paths.metrics / "features.json")
    stages.run_split(
        cfg, paths.features, paths.dataset, paths.metrics / "split.json", figures / "splits.png"
    )


@pytest.fixture(scope="session")
def sample_project(tmp_path_factory: pytest.TempPathFactory) -> ProjectPaths:
    """A project folder after `dvc repro` on the sample: data stages, train, evaluate."""
    root = tmp_path_factory.mktemp("sample_project")
    shutil.copy2(ROOT / "dvc.yaml", root / "dvc.yaml")
    paths = project_paths(root)
    run_data_stages(paths)
    cfg = load_train_config([*TINY, f"session.dataset={paths.dataset}"])
    train_session(cfg, paths.agent)
    code = qraptor_main(
        [
            "evaluate",
            "--run",
            str(paths.agent),
            "--metrics",
            str(paths.evaluate_metrics),
            "--plots",
            str(paths.plots),
            "--figures",
            str(root / "reports/figures"),
            "--title",
            "sample",
        ]
    )
    assert code in (0, None)
    return paths


@dataclass(frozen=True)
class StoredSweep:
    uri: str
    database: str
    sweep_id: str
    session_ids: list[str]
    results: dict[tuple[str, int], object]  # (learning rate, seed) -> TrainResult


def _store_like_a_worker(store: SessionStore, config: dict, result, sweep_id: str) -> str:
    sid = store.submit(config, sweep_id=sweep_id, experiment="analysis")
    session = store.claim("test-worker")
    assert session is not None and session.id == sid
    for split, equity in result.equity.items():
        store.attach_file(
            sid, FileKind.EQUITY_CURVE, equity, f"{split}_equity.csv", claim=session.claim
        )
        store.attach_file(
            sid,
            FileKind.EQUITY_CURVE,
            equity.parent / "baselines_equity.csv",
            f"{split}_baselines_equity.csv",
            claim=session.claim,
        )
    splits = {
        split: {
            "agent": json_safe(metrics),
            "baselines": {k: json_safe(v) for k, v in result.baselines[split].items()},
        }
        for split, metrics in result.metrics.items()
    }
    store.complete(session.claim, {"objective": result.objective, "splits": splits})
    return sid


@pytest.fixture(scope="session")
def store_sweep(
    mongo_server,
    make_config,
    sample_project: ProjectPaths,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[StoredSweep]:
    """2 learning rates x 2 seeds trained on the sample and stored, plus a failed session:
    a sweep of 5 trials, 4 finished."""
    root = tmp_path_factory.mktemp("sweep_runs")
    database = f"t_{uuid.uuid4().hex[:10]}"
    sweep_id = f"sweep-analysis-{uuid.uuid4().hex[:6]}"
    store = SessionStore(mongo_server.uri, database, make_config())
    results, ids, configs = {}, [], []
    for lr in LEARNING_RATES:
        for seed in (0, 1):
            overrides = [
                *TINY,
                f"session.dataset={sample_project.dataset}",
                f"algo.learning_rate={lr}",
                f"session.seed={seed}",
            ]
            cfg = load_train_config(overrides)
            results[(lr, seed)] = train_session(cfg, root / f"run_{lr}_{seed}")
            ids.append(_store_like_a_worker(store, cfg.to_dict(), results[(lr, seed)], sweep_id))
            configs.append(cfg.to_dict())
    store.submit(configs[0], sweep_id=sweep_id, experiment="analysis")  # failed below
    store.fail(store.claim("test-worker").claim, "Traceback: boom", retry=False)
    try:
        yield StoredSweep(mongo_server.uri, database, sweep_id, ids, results)
    finally:
        store._conn.client.drop_database(database)
        store.close()
