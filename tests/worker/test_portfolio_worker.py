"""A queued portfolio session (issue 16): submitted to the store, claimed and trained by a
worker on a real server, its results in GridFS (weights per split beside the equity), the
summary in the session document, and the dashboard's session page reading the weights
back as its weights-over-time chart."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from qraptor.core.paths import project_root
from qraptor.dashboard.pages.session import _portfolio_diagnostics
from qraptor.dashboard.result_figures import weights_figure
from qraptor.dashboard.session_results import _download
from qraptor.store import FileKind, SessionStore, Status
from qraptor.store.session import FileRef
from qraptor.tracking.card_facts import default_train_config
from qraptor.worker.config import load_worker_config
from qraptor.worker.loop import run_worker
from qraptor.worker.submit import enqueue, request_from_overrides

TINY = (
    "experiment=portfolio_quick",
    "session.total_timesteps=128",
    "session.n_envs=4",
    "session.checkpoint_every=64",
    "session.validation.every_timesteps=64",
    "algo.n_steps=32",
    "algo.batch_size=64",
    "algo.n_epochs=1",
    "env.window=8",
    "env.episode.length=64",
)


@pytest.fixture
def store(mongo_server, database_name, make_config):
    cfg = make_config(f"uri={mongo_server.uri}", f"database={database_name}", "lease_seconds=10")
    opened = SessionStore.from_config(cfg)
    yield cfg, opened
    opened._conn.client.drop_database(database_name)
    opened.close()


def test_a_worker_trains_a_queued_portfolio_session(store, panel_dataset: Path, tmp_path):
    cfg, opened = store
    request = request_from_overrides([*TINY, f"session.dataset={panel_dataset}"])
    (sid,) = enqueue(opened, [request])
    worker_cfg = load_worker_config([f"work_dir={tmp_path}"])
    defaults = default_train_config(project_root() / "conf")
    assert run_worker(cfg, once=True, worker_id="w-pf", worker_cfg=worker_cfg,
                      card_defaults=defaults) == 1  # fmt: skip
    doc = opened.get(sid)
    assert doc["status"] == Status.SUCCEEDED, doc.get("error")
    names = {f["name"]: f["kind"] for f in doc["files"]}
    for split in ("val", "test"):
        assert names[f"{split}_weights.csv"] == FileKind.WEIGHTS
        assert names[f"{split}_equity.csv"] == FileKind.EQUITY_CURVE
        baselines = doc["metrics"]["splits"][split]["baselines"]
        assert {"equal_weight", "min_variance", "index"} <= set(baselines)
    assert names["policy.h5"] == FileKind.KERAS_H5  # the Keras export of the policy

    refs = [FileRef.from_document(f) for f in doc["files"]]
    result = _download(opened, sid, "test", refs)
    assert result.weights is not None
    values = result.weights.drop(columns="timestamp").to_numpy()
    np.testing.assert_allclose(values.sum(axis=1), 1.0, atol=1e-12)
    figure = json.loads(weights_figure(result.weights).to_json())
    traces = figure["data"]
    assert [t["name"] for t in traces][:1] == ["cash"] and traces[-1]["name"] == "10 others"
    assert len(traces) == 12 and {t["stackgroup"] for t in traces} == {"weights"}
    assert {"agent", "equal_weight"} <= set(result.equity.columns)

    # MLflow: one finished run with the weights diagnostics and the agent against 1/N
    from mlflow.tracking import MlflowClient

    run = MlflowClient(os.environ["QRAPTOR_MLFLOW_URI"]).get_run(doc["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    logged = run.data.metrics
    assert 0 < logged["test/agent/hhi"] <= 1 and "test/equal_weight/mean_turnover" in logged
    assert 0 <= logged["test/agent/psr_vs_equal_weight"] <= 1
    assert logged["test/agent/sharpe"] == pytest.approx(
        doc["metrics"]["splits"]["test"]["agent"]["sharpe"]
    )

    # the session page's weights diagnostics, from the summary the document keeps
    portfolio = doc["metrics"]["splits"]["test"]["portfolio"]
    assert set(portfolio["diagnostics"]) == {"agent", *baselines}
    heading, table, versus = _portfolio_diagnostics(doc, "test")
    assert heading.children.startswith("Weights on test")
    assert [row["policy"] for row in table.data] == ["agent", *baselines]
    assert len(versus.children) == 2 and "equal weight" in str(versus.children[0].children)
