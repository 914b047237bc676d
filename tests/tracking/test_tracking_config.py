"""conf/tracking: where runs go (precedence), names, what is rejected; the train config
accepts the tracking section; importing the packages stays light."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from qraptor.core.config import compose
from qraptor.core.errors import ConfigError
from qraptor.tracking.config import (
    MLFLOW_URI_ENV,
    URI_ENV,
    URI_FILE_ENV,
    default_artifact_root,
    experiment_name,
    load_tracking_config,
    registered_model_name,
    resolve_tracking_uri,
    tracking_config_from,
)
from qraptor.train.config import train_config_from


def test_the_default_store_is_sqlite_in_the_project(tmp_path: Path) -> None:
    uri = resolve_tracking_uri(load_tracking_config(), root=tmp_path)
    assert uri == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
    assert default_artifact_root(uri) == tmp_path.resolve() / "mlruns"


def test_uri_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    configured = load_tracking_config(["uri=http://team-server:5000"])
    monkeypatch.setenv(MLFLOW_URI_ENV, "http://mlflow-env:5000")
    # MLflow's own variable is used only when qraptor's config says nothing
    assert resolve_tracking_uri(load_tracking_config(), tmp_path) == "http://mlflow-env:5000"
    assert resolve_tracking_uri(configured, tmp_path) == "http://team-server:5000"
    # this machine's QRAPTOR_MLFLOW_URI wins over both
    monkeypatch.setenv(URI_ENV, "http://worker-local:5000")
    assert resolve_tracking_uri(configured, tmp_path) == "http://worker-local:5000"


def test_a_uri_file_comes_after_the_variable_and_before_the_config(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = tmp_path / "mlflow-uri"
    secret.write_text("https://alice:s3cret@mlflow.lab/\n")
    secret.chmod(0o600)
    configured = load_tracking_config(["uri=http://team-server:5000"])
    monkeypatch.delenv(URI_ENV, raising=False)
    monkeypatch.setenv(URI_FILE_ENV, str(secret))
    assert resolve_tracking_uri(configured, tmp_path) == "https://alice:s3cret@mlflow.lab/"
    monkeypatch.setenv(URI_ENV, "http://worker-local:5000")
    assert resolve_tracking_uri(configured, tmp_path) == "http://worker-local:5000"
    monkeypatch.delenv(URI_ENV)
    secret.write_text("./mlruns\n")  # checked like the variable's value
    with pytest.raises(ConfigError, match=URI_FILE_ENV):
        resolve_tracking_uri(configured, tmp_path)


def test_a_file_store_uri_is_refused_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"tracking\.uri.*sqlite:///"):
        tracking_config_from({"tracking": {**_section(), "uri": "file:./mlruns"}})
    monkeypatch.setenv(URI_ENV, "./mlruns")
    with pytest.raises(ConfigError, match=URI_ENV):
        resolve_tracking_uri(load_tracking_config())


def test_a_password_in_a_bad_uri_is_not_echoed() -> None:
    with pytest.raises(ConfigError) as error:
        load_tracking_config(["uri=ftp://me:hunter2@host/x"])
    assert "hunter2" not in str(error.value)


def test_sqlite_artifacts_sit_beside_the_database(tmp_path: Path) -> None:
    assert default_artifact_root(f"sqlite:///{tmp_path}/x/m.db") == tmp_path / "x" / "mlruns"
    assert default_artifact_root("http://server:5000") is None


def test_names_from_config() -> None:
    cfg = load_tracking_config()
    assert experiment_name(cfg, "quick") == "quick"
    named = load_tracking_config(["experiment=momentum study"])
    assert experiment_name(named, "quick") == "momentum study"
    assert registered_model_name(named, "momentum study", "quick", "ppo") == (
        "qraptor-momentum-study-ppo"
    )
    with pytest.raises(ConfigError, match=r"tracking\.model\.name"):
        load_tracking_config(["model.name=policy-{seed}"])
    with pytest.raises(ConfigError, match=r"tracking\.model\.register"):
        load_tracking_config(["model.log=false"])


def test_the_train_config_carries_the_tracking_section() -> None:
    composed = compose("train", ["experiment=quick", "tracking.experiment=demo"])
    train_config_from(composed)  # the section is accepted, not a typo
    assert tracking_config_from(composed).experiment == "demo"
    # a config without a tracking section takes the default its caller passes (a worker's
    # own, composed at its entry point), and without one it is an error, not a file read
    stored = train_config_from(compose("train")).to_dict()
    workers = load_tracking_config(["experiment=worker"])
    assert tracking_config_from(stored, default=workers) == workers
    with pytest.raises(ConfigError, match="tracking"):
        tracking_config_from(stored)


def test_the_smoke_preset_registers_no_model_while_the_default_does() -> None:
    """experiment=tiny (the tests' and a new machine's smoke run) is tracked but adds no
    registered version; the default session and experiment=quick (the README serves its
    model) register one, and tiny can still be told to."""

    def register(*overrides: str) -> bool:
        return tracking_config_from(compose("train", list(overrides))).model.register

    assert register() and register("experiment=quick")
    assert not register("experiment=tiny")
    assert tracking_config_from(compose("train", ["experiment=tiny"])).model.log  # still logged
    assert register("experiment=tiny", "tracking.model.register=true")


def test_importing_train_and_tracking_loads_neither_tensorflow_nor_mlflow() -> None:
    code = (
        "import sys, qraptor.train, qraptor.tracking, qraptor.cli.train\n"
        "print(sorted({'tensorflow', 'mlflow', 'keras'} & set(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]"


def _section() -> dict:
    from dataclasses import asdict

    return asdict(load_tracking_config())
