"""Which database sessions go to, and that its password is never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from qraptor.core.errors import ConfigError
from qraptor.core.redact import redact_text, redact_uri, scrub, scrub_override
from qraptor.store import LocalServerError, load_store_config, local_server
from qraptor.store.uri import URI_ENV, resolve_uri


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("mongodb://alice:s3cret@db.lab:27017/qraptor?authSource=admin",
         "mongodb://alice:***@db.lab:27017/qraptor?authSource=admin"),
        ("mongodb+srv://alice:p%40ss@cluster.example.net/?retryWrites=true",
         "mongodb+srv://alice:***@cluster.example.net/?retryWrites=true"),
        ("mongodb://alice:se/cr@t@h1:1,h2:2/?replicaSet=rs0",
         "mongodb://alice:***@h1:1,h2:2/?replicaSet=rs0"),
        ("mongodb://h:1/?tls=true&tlsCertificateKeyFilePassword=keypw",
         "mongodb://h:1/?tls=true&tlsCertificateKeyFilePassword=***"),
        ("mongodb://127.0.0.1:27017/", "mongodb://127.0.0.1:27017/"),
        ("mongodb://alice@h/", "mongodb://alice@h/"),
    ],
)  # fmt: skip
def test_redact_uri_hides_secrets_but_keeps_who_and_where(uri: str, shown: str):
    assert redact_uri(uri) == shown


def test_redact_text_hides_every_uri_password_in_a_message():
    text = "connect mongodb://bob:hunter2@h:1/ failed; tracking https://u:tok@mlflow.lab/x"
    redacted = redact_text(text)
    assert "hunter2" not in redacted and "tok@" not in redacted
    assert "mongodb://bob:***@h:1/" in redacted and "https://u:***@mlflow.lab/x" in redacted


def test_scrub_cleans_a_config_tree_before_it_is_stored():
    config = {
        "store": {"uri": "mongodb://bob:hunter2@h/"},
        "mlflow": {"password": "pw", "token": None},
        "overrides": ["store.uri=mongodb://bob:hunter2@h/"],
        "algo": {"lr": 0.0003, "name": "ppo"},
    }
    clean = scrub(config)
    assert "hunter2" not in repr(clean) and clean["mlflow"]["password"] == "***"
    assert clean["algo"] == {"lr": 0.0003, "name": "ppo"}
    assert clean["mlflow"]["token"] is None


@pytest.mark.parametrize(
    ("override", "stored"),
    [
        ("store.uri=mongodb://bob:hunter2@h/", "store.uri=mongodb://bob:***@h/"),
        ("+mlflow.password=hunter2", "+mlflow.password=***"),
        ("algo.learning_rate=0.001", "algo.learning_rate=0.001"),
    ],
)
def test_overrides_are_scrubbed_too(override: str, stored: str):
    assert scrub_override(override) == stored


def test_uri_from_environment_wins_over_config(monkeypatch: pytest.MonkeyPatch):
    cfg = load_store_config(["uri=mongodb://cfg-host:1/"])
    assert resolve_uri(cfg) == "mongodb://cfg-host:1/"
    monkeypatch.setenv(URI_ENV, "mongodb://env-host:2/")
    assert resolve_uri(cfg) == "mongodb://env-host:2/"


def test_without_uri_the_running_local_server_is_reused(mongo_server):
    cfg = load_store_config([f"local.dir={mongo_server.data_dir}"])
    assert resolve_uri(cfg) == mongo_server.uri
    assert local_server.running_server(mongo_server.data_dir).pid == mongo_server.state.pid


def test_stopped_local_server_says_how_to_start_it(tmp_path: Path):
    cfg = load_store_config([f"local.dir={tmp_path / 'db'}"])
    with pytest.raises(LocalServerError, match="qraptor db start"):
        resolve_uri(cfg, start_local=False)


def test_relative_local_dir_is_under_the_project_root(project_root: Path):
    from qraptor.store.uri import local_data_dir

    cfg = load_store_config()
    assert local_data_dir(cfg) == project_root / ".qraptor" / "db"


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("heartbeat_seconds=40", "store.heartbeat_seconds"),
        ("max_attempts=0", "store.max_attempts"),
        ("local.cache_size=lots", "store.local.cache_size"),
        ("uri=localhost", "store.uri"),
        ("retry.multiplier=0.5", "store.retry.multiplier"),
    ],
)
def test_bad_store_settings_name_the_key(override: str, key: str):
    with pytest.raises(ConfigError) as info:
        load_store_config([override])
    assert info.value.key == key


def test_a_sweepers_escaped_uri_does_not_leak_its_password():
    # Hydra's sweepers escape ':' in overrides; the password must still be masked
    from qraptor.core.redact import scrub_override

    scrubbed = scrub_override(r"store.uri=mongodb\://user\:hunter2@db.example/")
    assert "hunter2" not in scrubbed


def test_a_users_password_comes_from_a_secret_file_not_the_uri(tmp_path, monkeypatch):
    """The container stack's way: the URI in plain sight names the user, the password is
    a mounted secret file; special characters are escaped, and only a user without a
    password in the URI takes it."""
    from qraptor.store.uri import configured_uri

    secret = tmp_path / "store_password"
    secret.write_text("p@ss:w/rd\n")
    secret.chmod(0o600)
    monkeypatch.setenv(URI_ENV, "mongodb://qraptor@store:27017/?authSource=admin")
    monkeypatch.setenv("QRAPTOR_MONGO_PASSWORD_FILE", str(secret))
    cfg = load_store_config()
    assert configured_uri(cfg) == "mongodb://qraptor:p%40ss%3Aw%2Frd@store:27017/?authSource=admin"
    assert "p%40ss" not in redact_uri(configured_uri(cfg))
    monkeypatch.setenv(URI_ENV, "mongodb://other:given@store:27017/")  # its own password wins
    assert configured_uri(cfg) == "mongodb://other:given@store:27017/"
    monkeypatch.setenv(URI_ENV, "mongodb://store:27017/")  # no user: nothing to add
    assert configured_uri(cfg) == "mongodb://store:27017/"
    monkeypatch.setenv("QRAPTOR_MONGO_PASSWORD_FILE", str(tmp_path / "missing"))
    monkeypatch.setenv(URI_ENV, "mongodb://qraptor@store:27017/")
    with pytest.raises(ConfigError, match="QRAPTOR_MONGO_PASSWORD_FILE"):
        configured_uri(cfg)
