"""A tiny sweep as a user runs it (`python -m qraptor.train -m`, joblib: two sessions at a
time) against a real `mlflow server`: one parent run with three nested session runs that
can be searched and compared by params and metrics (what the UI's compare view queries),
with their artifacts, tags and registered models, and no secret anywhere; then a
registered policy served by `mlflow models serve` answers a request of raw bars with the
agent's labelled decisions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import requests
import yaml
from mlflow import MlflowClient
from mlflow_processes import BIN, free_port, stop, tool_env, wait_until_ready

from qraptor.data.split import load_split
from qraptor.evaluation.serving import as_served
from qraptor.tracking import runs
from qraptor.tracking.pyfunc import RAW_COLUMNS
from qraptor.tracking.served_agent import ServedAgent

SECRETS = ("s3cret", "hunter2")
EXPERIMENT = "sweep-e2e"
MODEL_NAME = f"qraptor-{EXPERIMENT}-ppo"  # conf/tracking: model.name


class Sweep:
    def __init__(self, uri: str, experiment: str, folder: Path, output: str) -> None:
        self.uri = uri
        self.client = MlflowClient(uri, uri)
        self.experiment = self.client.get_experiment_by_name(experiment)
        self.folder = folder
        self.output = output

    def runs(self, kind: str) -> list:
        query = f"tags.`{runs.KIND_TAG}` = '{kind}'"
        return self.client.search_runs([self.experiment.experiment_id], query)


@pytest.fixture(scope="module")
def sweep(
    mlflow_server: str,
    project_root: Path,
    tiny_overrides: list[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Sweep:
    folder = tmp_path_factory.mktemp("sweep")
    experiment = EXPERIMENT
    host = mlflow_server.removeprefix("http://")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "QRAPTOR_"))}
    done = subprocess.run(
        [
            sys.executable, "-m", "qraptor.train", "-m", *tiny_overrides,
            "hydra/launcher=joblib_local", "session.seed=0,1,2",
            "tracking.model.register=true",  # experiment=tiny alone registers nothing
            f"tracking.experiment={experiment}", f"hydra.sweep.dir={folder}",
        ],
        cwd=project_root,
        env={
            **env, "OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "0",
            # where passwords go (the command line refuses them): must not leak from here
            "QRAPTOR_MLFLOW_URI": f"http://qraptor:{SECRETS[0]}@{host}",  # basic auth
            "QRAPTOR_MONGO_URI": f"mongodb://trainer:{SECRETS[1]}@db.invalid:27017/",
        },
        capture_output=True,
        text=True,
        timeout=400,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-5000:]
    return Sweep(mlflow_server, experiment, folder, done.stdout + done.stderr)


def test_a_sweep_is_a_parent_run_with_nested_sessions(sweep: Sweep) -> None:
    (parent,) = sweep.runs("sweep")
    children = sweep.runs("session")
    assert len(children) == 3
    assert {c.data.tags[runs.PARENT_TAG] for c in children} == {parent.info.run_id}
    sweep_id = parent.data.tags[runs.SWEEP_TAG]
    assert sweep_id.startswith("sweep-")
    assert {c.data.tags[runs.SWEEP_TAG] for c in children} == {sweep_id}
    assert {c.info.status for c in [parent, *children]} == {"FINISHED"}
    assert sorted(c.info.run_name for c in children) == [
        "tiny-ppo-seed0-job0", "tiny-ppo-seed1-job1", "tiny-ppo-seed2-job2",
    ]  # fmt: skip


def test_the_parent_run_carries_the_best_session(sweep: Sweep) -> None:
    """Each finished session recomputes the parent's best from its children: the highest
    objective, at step = the sessions finished, with the varying param of that session."""
    (parent,) = sweep.runs("sweep")
    children = sweep.runs("session")
    best = max(children, key=lambda c: c.data.metrics["objective"])
    assert parent.data.metrics["best/objective"] == best.data.metrics["objective"]
    assert parent.data.metrics["sweep/trials_finished"] == 3
    history = sweep.client.get_metric_history(parent.info.run_id, "best/objective")
    assert max(point.step for point in history) == 3
    assert parent.data.tags["qraptor.best_run_id"] == best.info.run_id
    assert parent.data.tags["best/session.seed"] == best.data.params["session.seed"]
    assert "best/algo.learning_rate" not in parent.data.tags  # the same in every session


def test_runs_can_be_searched_and_compared(sweep: Sweep) -> None:
    mlflow.set_tracking_uri(sweep.uri)
    ids = [sweep.experiment.experiment_id]
    one = mlflow.search_runs(ids, filter_string="params.`session.seed` = '1'")
    assert len(one) == 1 and one["tags.mlflow.runName"][0] == "tiny-ppo-seed1-job1"
    table = mlflow.search_runs(
        ids,
        filter_string="params.`algo.name` = 'ppo' and metrics.`val/agent/sharpe` > -1e12",
        order_by=["metrics.`val/agent/sharpe` DESC"],
    )
    assert len(table) == 3
    sharpe = table["metrics.val/agent/sharpe"]
    assert list(sharpe) == sorted(sharpe, reverse=True)
    for column in ("params.algo.learning_rate", "params.env.costs.fee_rate",
                   "metrics.test/agent/max_drawdown", "metrics.val/buy_and_hold/sharpe",
                   "metrics.val/random/sharpe", "metrics.val/verdict/psr", "metrics.objective",
                   "metrics.session/timesteps", "metrics.rollout/ep_rew_mean",
                   "metrics.train/loss"):  # fmt: skip
        assert column in table and table[column].notna().all(), column
    best = table.iloc[0]
    worse = mlflow.search_runs(ids, f"metrics.`val/agent/sharpe` < {sharpe.iloc[0]}")
    assert len(worse) == sum(sharpe < sharpe.iloc[0])
    curve = sweep.client.get_metric_history(best["run_id"], "rollout/ep_rew_mean")
    assert curve and all(point.step > 0 for point in curve)  # steps are timesteps


def test_session_runs_carry_their_artifacts(sweep: Sweep) -> None:
    for child in sweep.runs("session"):
        run_id = child.info.run_id
        names = set(_artifacts(sweep.client, run_id))
        for name in ("config.yaml", "metrics.json", "model/model.zip", "keras/policy.h5",
                     "eval/val/trades.csv", "eval/val/equity.csv",
                     "eval/test/baselines_equity.csv", "plots/equity_val.png",
                     "plots/equity_test.png", "plots/training_reward.png",
                     "model_card.md", "model_card_curve.png"):  # fmt: skip
            assert name in names, (name, sorted(names))
        assert any(n.startswith("tensorboard/events.out.tfevents") for n in names)
    versions = sweep.client.search_model_versions(f"name = '{MODEL_NAME}'")
    assert len(versions) == 3
    children = {c.info.run_id for c in sweep.runs("session")}
    assert {v.run_id for v in versions} == children
    # each version is described by its session's model card (over the server's REST API)
    assert all(v.description.startswith("# Model card: tiny (ppo, seed ") for v in versions)


def test_session_runs_carry_their_provenance(sweep: Sweep, project_root: Path) -> None:
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=project_root, capture_output=True, text=True
    ).stdout.strip()
    for child in sweep.runs("session"):
        tags = child.data.tags
        if commit:
            assert tags["mlflow.source.git.commit"] == commit
        assert len(tags["qraptor.data_hash"]) >= 32
        assert tags["qraptor.data_hash_method"] in ("dvc.lock", "sha256")
        assert tags["qraptor.worker_host"]
        assert tags["qraptor.launcher"] == "joblib_local"
        assert tags["qraptor.experiment_preset"] == "tiny"
        assert "session.seed=" in tags["qraptor.overrides"]
        assert Path(tags["qraptor.output_dir"]).parent == sweep.folder


def test_no_secret_reaches_the_tracking_server(sweep: Sweep, tmp_path: Path) -> None:
    everything = sweep.runs("sweep") + sweep.runs("session")
    for run in everything:
        text = json.dumps([run.data.params, run.data.tags])
        for secret in SECRETS:
            assert secret not in text, (secret, run.info.run_name)
    child = sweep.runs("session")[0]
    config = sweep.client.download_artifacts(child.info.run_id, "config.yaml", str(tmp_path))
    assert not any(secret in Path(config).read_text() for secret in SECRETS)
    # nor any console line, Hydra's included (the passwords came through the environment)
    assert not [line for line in sweep.output.splitlines() if any(s in line for s in SECRETS)]
    assert not [p for p in sweep.folder.rglob("*") if p.is_file() and any(
        s in p.read_text(errors="replace") for s in SECRETS)]  # fmt: skip
    assert "View run tiny-ppo-seed0-job0 at: http://127.0.0.1" in sweep.output


def test_a_registered_policy_is_served(sweep: Sweep, tmp_path: Path) -> None:
    """`mlflow models serve` of a registered version answers POST /invocations made of raw
    bars (timestamp, OHLCV, as JSON strings and numbers) with one labelled decision per bar:
    those the run's agent makes on the same bars (qraptor.evaluation.serving, itself checked
    against `qraptor backtest`'s in tests/agent/test_decisions.py)."""
    version = sweep.client.get_model_version(MODEL_NAME, "1")
    output_dir = Path(sweep.client.get_run(version.run_id).data.tags["qraptor.output_dir"])
    config = yaml.safe_load((output_dir / "config.yaml").read_text())
    bars = load_split(Path(config["session"]["dataset"]), "val")
    bars = bars[[c for c in RAW_COLUMNS[:6] if c in bars.columns]].copy()
    bars["timestamp"] = [t.isoformat() for t in pd.DatetimeIndex(bars["timestamp"])]
    expected = as_served(ServedAgent.load(output_dir).decide(bars, decisions=0))
    assert len(expected) > 20 and expected["action_name"].isin(["short", "flat", "long"]).all()

    port, log = free_port(), tmp_path / "serve.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [str(BIN / "mlflow"), "models", "serve", "-m", f"models:/{MODEL_NAME}/1",
             "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)],
            env=tool_env(MLFLOW_TRACKING_URI=sweep.uri), stdout=sink,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        wait_until_ready(f"http://127.0.0.1:{port}/ping", process, log, 120)
        request = {
            "dataframe_split": json.loads(bars.to_json(orient="split", index=False)),
            "params": {"decisions": 0},
        }
        response = requests.post(f"http://127.0.0.1:{port}/invocations", json=request, timeout=60)
        assert response.status_code == 200, response.text
        answered = pd.DataFrame(response.json()["predictions"])
        bad = requests.post(
            f"http://127.0.0.1:{port}/invocations",
            json={"dataframe_split": {"columns": ["timestamp", "close"], "data": [["x", 1.0]]}},
            timeout=60,
        )
    finally:
        stop(process)
    pd.testing.assert_frame_equal(answered[list(expected.columns)], expected, check_dtype=False)
    assert bad.status_code >= 400 and "no column(s) ['open', 'high', 'low', 'volume']" in bad.text


def _artifacts(client: MlflowClient, run_id: str, path: str = "") -> list[str]:
    names = []
    for item in client.list_artifacts(run_id, path):
        names += _artifacts(client, run_id, item.path) if item.is_dir else [item.path]
    return names


def test_compare_reads_a_sweep_from_mlflow_when_the_database_was_down(
    sweep: Sweep, project_root: Path, tmp_path: Path
) -> None:
    """The sweep ran with MongoDB unreachable (the fixture's db.invalid): its trials never
    reached the ledger, and the store is down now too. `qraptor compare --sweep` reads the
    sweep's runs from MLflow instead, every trial counted in its deflated Sharpe, equity
    curves in its report; a sweep MLflow does not know either names both places."""
    (parent,) = sweep.runs("sweep")
    sweep_id = parent.data.tags[runs.SWEEP_TAG]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "QRAPTOR_"))}
    env |= {
        "QRAPTOR_MLFLOW_URI": sweep.uri,
        "QRAPTOR_MONGO_URI": "mongodb://127.0.0.1:1/",  # nothing listens there
        "OMP_NUM_THREADS": "1",
    }
    report = tmp_path / "sweep.html"
    store_down = ["store.server_selection_timeout_seconds=1", "store.retry.total_seconds=1"]

    def compare(name: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(Path(sys.executable).parent / "qraptor"), "compare", "--sweep", name, "--wide",
             *extra, *store_down],
            cwd=project_root, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    done = compare(sweep_id, "--html", str(report))
    assert done.returncode == 0, done.stdout + done.stderr
    out = " ".join(done.stdout.split())
    assert f"sweep {sweep_id}: the session store is unreachable; its 3 runs are read from" in out
    for job in range(3):
        assert f"{sweep_id}/{job}" in out
    assert "deflated Sharpe DSR" in out and "trials (N): 3 (3 succeeded)" in out, out
    page = report.read_text()
    assert sum(f"{sweep_id}/{job}" in page for job in range(3)) == 3
    assert "equity" in page.lower()

    missing = compare("sweep-20990101-000000-000000", "--no-html")
    assert missing.returncode == 2
    message = " ".join(missing.stderr.split())
    assert "is not reachable" in message and "no MLflow run" in message, message

    # the database is back, but never heard of the sweep: MLflow still has it
    from qraptor.store import load_store_config, local_server

    cfg = load_store_config()
    state = local_server.start_server(cfg.local, tmp_path / "db")
    try:
        env["QRAPTOR_MONGO_URI"] = state.uri
        back = compare(sweep_id, "--no-html")
    finally:
        local_server.stop_server(tmp_path / "db", timeout=cfg.local.stop_timeout_seconds)
    assert back.returncode == 0, back.stdout + back.stderr
    said = f"sweep {sweep_id}: the session store has no record of it; its 3 runs are read"
    assert said in " ".join(back.stdout.split())
