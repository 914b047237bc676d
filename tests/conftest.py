"""Shared fixtures: the project root, the shipped sample data, a throwaway MLflow store, and a
real SecantusDB server for the store, worker and CLI tests (no fakes: pymongo over a socket).

One server for the whole test session, in a temporary data folder on a free port, started
and stopped (SIGTERM) by qraptor's own local-server code; each test gets its own database
on it. Tests that restart or re-configure a server start their own, on their own folder.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pytest

from qraptor.evaluation.planted import planted_dataset
from qraptor.store import SessionStore, StoreConfig, load_store_config, local_server
from qraptor.store.uri import URI_ENV, URI_FILE_ENV

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def project_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def sample_eurusd_csv() -> Path:
    """The hourly EUR/USD bars that gym-anytrading ships (the demo's sample data)."""
    path = resources.files("gym_anytrading").joinpath("datasets/data/FOREX_EURUSD_1H_ASK.csv")
    return Path(str(path))


@pytest.fixture(scope="session", autouse=True)
def mlflow_store_outside_the_project(tmp_path_factory: pytest.TempPathFactory):
    """Sessions track to MLflow by default (sqlite in the project): tests, and the processes
    they start, write to a throwaway store instead. Tests of the default store override it."""
    import os

    if "QRAPTOR_MLFLOW_URI" in os.environ:
        yield
        return
    store = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    os.environ["QRAPTOR_MLFLOW_URI"] = f"sqlite:///{store}"
    try:
        yield
    finally:
        os.environ.pop("QRAPTOR_MLFLOW_URI", None)


# Short leases and a short backoff budget, so expiry and reconnects happen within seconds.
FAST = (
    "lease_seconds=1.5",
    "heartbeat_seconds=0.5",
    "server_selection_timeout_seconds=2",
    "retry.initial_delay_seconds=0.1",
    "retry.max_delay_seconds=1",
    "retry.total_seconds=30",
    "keep_checkpoints=2",
    "max_attempts=3",
    "requeue_delay_seconds=0",
    "claim_batch=8",
)


@dataclass(frozen=True)
class Server:
    state: local_server.ServerState
    data_dir: Path

    @property
    def uri(self) -> str:
        return self.state.uri


def store_config(*overrides: str) -> StoreConfig:
    """conf/store/default.yaml with the FAST settings and `overrides` on top."""
    return load_store_config([*FAST, *overrides])


@pytest.fixture(autouse=True)
def _no_uri_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(URI_ENV, raising=False)
    monkeypatch.delenv(URI_FILE_ENV, raising=False)


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("secantus")
    cfg = store_config()
    state = local_server.start_server(cfg.local, data_dir)
    try:
        yield Server(state, data_dir)
    finally:
        local_server.stop_server(data_dir, timeout=cfg.local.stop_timeout_seconds)


@pytest.fixture
def database_name() -> str:
    return f"t_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def store(mongo_server: Server, database_name: str) -> Iterator[SessionStore]:
    with SessionStore(mongo_server.uri, database_name, store_config()) as opened:
        yield opened
        opened._conn.client.drop_database(database_name)


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    """Environment for worker processes: this checkout's conf/ and src/."""
    root = ROOT
    env = dict(os.environ)
    env["QRAPTOR_CONF_DIR"] = str(root / "conf")
    env.pop(URI_ENV, None)
    env.pop(URI_FILE_ENV, None)
    return env


@pytest.fixture(scope="session")
def make_config():
    """`make_config("lease_seconds=10", ...)`: the FAST store config with overrides."""
    return store_config


@pytest.fixture
def open_store(mongo_server: Server, database_name: str):
    """`open_store("max_attempts=2", ...)`: a store on this test's database with overrides."""
    opened: list[SessionStore] = []

    def factory(*overrides: str) -> SessionStore:
        store = SessionStore(mongo_server.uri, database_name, store_config(*overrides))
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store._conn.client.drop_database(database_name)
        store.close()


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tests' one tiny dataset: four sessions of 1-minute bars with a planted AR(1) signal
    (~1,400 bars, 4 walk-forward folds), built once per test run. Train on it with
    `experiment=tiny` (conf/experiment/tiny.yaml), the tests' one tiny session config."""
    out = tmp_path_factory.mktemp("planted") / "dataset"
    planted_dataset(
        out, ar_coef=0.3, days=4, seed=3, overrides=["data.synthetic.ticks_per_second=0.2"]
    )
    return out


@pytest.fixture(scope="session")
def panel_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The panel stages' output on the shipped S&P 500 sample (20 stocks and the index,
    daily, 1990-2022), as `dvc repro panel_dataset` makes it; built once per test run."""
    from qraptor.data.clean.config import CleanConfig
    from qraptor.data.panel_dataset import PanelConfig, make_panel_dataset, materialise_panel_raw
    from qraptor.data.pipeline_config import load_pipeline_section
    from qraptor.data.split import SplitConfig

    tmp = tmp_path_factory.mktemp("sp500")
    cfg = load_pipeline_section("panel", PanelConfig)
    materialise_panel_raw(cfg, tmp / "raw", tmp)
    split = load_pipeline_section("split", SplitConfig)
    clean = load_pipeline_section("clean", CleanConfig)
    make_panel_dataset(tmp / "raw", cfg, split, tmp / "ds", clean=clean)
    return tmp / "ds"
