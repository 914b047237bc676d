"""The world the dashboard tests (and scripts/dashboard_screenshots.py) look at, built with
the real parts only: the data stages on the shipped EUR/USD sample in a temporary project,
a real SecantusDB server, sessions trained by a real worker (tracked to MLflow), one failed
by the worker with its reason, one running under a live lease, one queued; and the
pipeline's agent in dvc.yaml's agent folder (one trained session's files, laid out as the
train stage leaves them).

Plain functions (no pytest), so the screenshot script reuses them outside a test run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from qraptor.core.ids import new_sweep_id
from qraptor.dashboard.settings import STORE_FAST_FAIL, DashboardSettings
from qraptor.evaluation.compare.config import load_compare_config
from qraptor.store import SessionStore, load_store_config, local_server
from qraptor.store.config import StoreConfig
from qraptor.store.uri import URI_ENV
from qraptor.worker.submit import enqueue, request_from_overrides

REPO = Path(__file__).resolve().parents[2]
# Debian's browser, as the tests and the screenshots launch it (here, not in conftest.py: a
# module named `conftest` is any of the suite's conftest files once they are all collected)
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip

# A few PPO updates on 4 envs and short backtests: the whole worker path in seconds. The
# Keras export and the pyfunc model (TensorFlow, ~7 s) are off: the dashboard reads neither.
TINY = (
    "session.total_timesteps=256",
    "session.n_envs=4",
    "session.checkpoint_every=256",
    "session.eval.random_runs=2",
    "env.window=8",
    "env.episode.length=64",
    "algo.n_steps=32",
    "algo.batch_size=64",
    "algo.n_epochs=1",
    "tracking.artifacts.keras_h5=false",
    "tracking.artifacts.tensorboard=false",
    "tracking.tensorboard=false",
    "tracking.model.log=false",
    "tracking.model.register=false",
)
LEARNING_RATES = (3e-4, 1e-3)  # the sweep's varying parameter


@dataclass(frozen=True)
class World:
    project: Path
    store_cfg: StoreConfig  # uri and database of this world, fast-fail settings
    uri: str
    sweep_id: str
    trained: tuple[str, ...]  # succeeded sessions
    failed: str
    running: str
    queued: str

    def settings(self, mlflow_ui: str = "http://127.0.0.1:5000") -> DashboardSettings:
        return DashboardSettings(
            project=self.project,
            store=self.store_cfg,
            mongo_uri=self.uri,
            mlflow_uri=os.environ.get("QRAPTOR_MLFLOW_URI"),
            mlflow_ui=mlflow_ui,
            compare=load_compare_config(),
            refresh_seconds=1.0,
        )

    def open_store(self) -> SessionStore:
        return SessionStore(self.uri, self.store_cfg.database, self.store_cfg)


def build_pipeline_outputs(project: Path) -> None:
    """`dvc repro`'s data stages on the shipped sample, at dvc.yaml's paths under `project`
    (a copy of the repository's dvc.yaml: the dashboard reads its paths from there)."""
    shutil.copy(REPO / "dvc.yaml", project / "dvc.yaml")
    from qraptor.cli import data_stages as stages
    from qraptor.data.pipeline_config import load_pipeline_config

    cfg = load_pipeline_config()
    p = project.joinpath
    stages.run_raw(cfg, p("data/raw/generated"))
    stages.run_ingest(cfg, p("data/raw/generated"), p("data/interim/ingested"))
    stages.run_clean(cfg, p("data/interim/ingested"), p("data/interim/clean"),
                     p("reports/metrics/clean.json"), p("data/tmp"))  # fmt: skip
    stages.run_reduce(cfg, p("data/interim/clean"), p("data/processed/bars.parquet"),
                      p("reports/metrics/reduce.json"), p("reports/plots/bars.csv"),
                      p("reports/figures/bars.png"))  # fmt: skip
    stages.run_features(cfg, p("data/processed/bars.parquet"), p("data/processed/features.parquet"),
                        p("reports/metrics/features.json"))  # fmt: skip
    stages.run_split(cfg, p("data/processed/features.parquet"), p("data/processed/dataset"),
                     p("reports/metrics/split.json"), p("reports/figures/splits.png"))  # fmt: skip


@contextlib.contextmanager
def mongo_server(data_dir: Path) -> Iterator[str]:
    """A SecantusDB server on a free port (qraptor's own local-server code); its URI."""
    cfg = load_store_config()
    state = local_server.start_server(cfg.local, data_dir)
    try:
        yield state.uri
    finally:
        local_server.stop_server(data_dir, timeout=cfg.local.stop_timeout_seconds)


def populate(project: Path, uri: str, work_dir: Path) -> World:
    """Sessions of one sweep in every state the queue page shows."""
    from qraptor.worker.config import load_worker_config
    from qraptor.worker.loop import run_worker

    os.environ.pop(URI_ENV, None)  # the world's URI, not a developer's
    database = f"dash_{uuid.uuid4().hex[:8]}"
    cfg = load_store_config([*STORE_FAST_FAIL, f"uri={uri}", f"database={database}",
                             "lease_seconds=600", "heartbeat_seconds=5"])  # fmt: skip
    dataset = project / "data/processed/dataset"
    sweep = new_sweep_id()
    with SessionStore(uri, database, cfg) as store:

        def submit(*overrides: str, **options) -> str:
            request = request_from_overrides(
                [*TINY, f"session.dataset={dataset}", "session.name=dash", *overrides]
            )
            return enqueue(store, [request], sweep_id=sweep, **options)[0]

        trained = tuple(submit(f"algo.learning_rate={lr}") for lr in LEARNING_RATES)
        failed = submit(f"session.dataset={project / 'no_such_dataset'}", max_attempts=1)
        worker_cfg = load_worker_config([f"work_dir={work_dir}"])
        run_worker(cfg, idle_exit=0, worker_id="worker-a", worker_cfg=worker_cfg)
        lay_out_pipeline_agent(store, trained[0], project)
        running = submit("algo.learning_rate=3e-3", priority=5)
        claimed = store.claim("worker-b")
        assert claimed is not None and claimed.id == running
        store.heartbeat(claimed.claim, {"timesteps": 96, "total_timesteps": 256,
                                        "phase": "training"})  # fmt: skip
        queued = submit("algo.learning_rate=1e-4")
    return World(project, cfg, uri, sweep, trained, failed, running, queued)


def lay_out_pipeline_agent(store: SessionStore, session_id: str, project: Path) -> Path:
    """The pipeline's agent (what `dvc repro`'s train stage leaves in dvc.yaml's agent
    folder: config.yaml, metrics.json, eval/<split>/) made of a trained session's stored
    files, so the dashboard shows a pipeline agent beside the queue. The folder."""
    import json

    import yaml

    from qraptor.analysis.project import project_paths
    from qraptor.core import layout
    from qraptor.store.run_records import download_evaluation

    agent = project_paths(project).agent
    agent.mkdir(parents=True, exist_ok=True)
    doc = store.get(session_id)
    for split in doc["metrics"]["splits"]:
        download_evaluation(store, session_id, store.files(session_id), split, agent)
    (agent / layout.CONFIG).write_text(yaml.safe_dump(doc["config"]))
    (agent / layout.METRICS).write_text(json.dumps(doc["metrics"]))
    return agent


@contextlib.contextmanager
def world(root: Path | None = None) -> Iterator[World]:
    """Everything above in a temporary folder, torn down (server stopped) at exit."""
    with contextlib.ExitStack() as stack:
        if root is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="qraptor-dash-")))
        project, work = root / "project", root / "work"
        project.mkdir(parents=True, exist_ok=True)
        work.mkdir(exist_ok=True)
        build_pipeline_outputs(project)
        uri = stack.enter_context(mongo_server(root / "db"))
        yield populate(project, uri, work)
