"""Where credentials come from: a variable or the file that NAME_FILE names, never an argument
or a config value (what counts as a secret, what is refused and what is read)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from qraptor.core.credentials import (
    file_variable,
    from_environment,
    refuse_secret_arguments,
    refuse_secret_config,
)
from qraptor.core.errors import ConfigError
from qraptor.core.redact import find_secrets, override_has_secret

NAME = "QRAPTOR_TEST_CREDENTIAL"
URI = "mongodb://alice:s3cret@db.lab:27017/?authSource=admin"


@pytest.mark.parametrize(
    "argument",
    [
        "store.uri=mongodb://u:s3cret@127.0.0.1:1/",
        "uri=mongodb://u:s3cret@h:1/?authSource=admin",  # `qraptor worker uri=...`
        "store.uri='mongodb://u:s3cret@h/'",  # quoted for Hydra
        "store.uri=mongodb\\://u\\:s3cret@h",  # escaped as Hydra's sweepers write it
        "store.uri=mongodb://u:a@h/,mongodb://v:b@h/",  # a sweep over two
        "tracking.uri=https://u:tok@mlflow.lab/",
        "hydra.sweeper.storage=postgresql://u:s3cret@db/optuna",
        "uri=mongodb://h:1/?tls=true&tlsCertificateKeyFilePassword=s3cret",
        "+mlflow.password=s3cret",
        "+api_key=abc",
        "--mongo-uri=mongodb://u:s3cret@h/",
        "mongodb://u:s3cret@h/?authSource=admin",  # the value of `--mongo-uri URI`
    ],
)
def test_an_argument_with_a_secret_is_one(argument: str) -> None:
    assert override_has_secret(argument)


@pytest.mark.parametrize(
    "argument",
    [
        "store.uri=mongodb://127.0.0.1:27017/?directConnection=true",
        "store.uri=mongodb://alice@h/",  # a user, no password
        "store.uri=mongodb://alice:***@h/",  # already masked
        "store.uri=mongodb://u:@h/",  # an empty password
        "+mlflow.password=",
        "session.seed=0,1,2",
        "hydra.run.dir=/tmp/a:b@c",
        "hydra.launcher.tags=[secret,token]",  # values are not keys
        "--priority",
        "experiment=quick",
    ],
)
def test_an_argument_without_a_secret_is_not(argument: str) -> None:
    assert not override_has_secret(argument)


@pytest.mark.parametrize(
    ("arguments", "key", "variable"),
    [
        (["experiment=tiny", "store.uri=mongodb://u:pw@h/"], "store.uri", "QRAPTOR_MONGO_URI"),
        (["worker", "uri=mongodb://u:pw@h/"], "uri", "QRAPTOR_MONGO_URI"),
        (["tracking.uri=http://u:pw@h/"], "tracking.uri", "QRAPTOR_MLFLOW_URI"),
        (["dashboard", "--mongo-uri", "mongodb://u:pw@h/"], "--mongo-uri", "QRAPTOR_MONGO_URI"),
        (["dashboard", "--mlflow-uri", "http://u:pw@h/"], "--mlflow-uri", "QRAPTOR_MLFLOW_URI"),
    ],
)
def test_a_refusal_names_the_key_and_the_variables(
    arguments: list[str], key: str, variable: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        refuse_secret_arguments(arguments)
    assert refused.value.key == key
    assert f"${variable}" in refused.value.problem
    assert f"${file_variable(variable)}" in refused.value.problem
    assert "pw" not in str(refused.value).replace("password", "")


def test_arguments_without_secrets_pass() -> None:
    refuse_secret_arguments(["train", "-m", "session.seed=0,1", "store.uri=mongodb://h:1/"])


def test_a_secret_in_a_composed_config_is_found_by_its_key() -> None:
    composed = {
        "session": {"name": "tiny", "tags": ["a"]},
        "store": {"uri": URI, "database": "q"},
        "hydra": {"sweeper": {"storage": "${oc.env:OPTUNA_DB}"}},  # written unresolved
    }
    assert find_secrets(composed) == [("store.uri", URI)]
    with pytest.raises(ConfigError) as refused:
        refuse_secret_config(composed)
    assert refused.value.key == "store.uri" and "s3cret" not in str(refused.value)
    refuse_secret_config({**composed, "store": {"uri": "mongodb://db.lab:27017/"}})


def test_the_variable_wins_over_its_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "uri"
    secret.write_text(f"{URI}\n")
    secret.chmod(0o600)
    monkeypatch.delenv(NAME, raising=False)
    monkeypatch.setenv(file_variable(NAME), str(secret))
    found = from_environment(NAME)
    assert found is not None and found.value == URI
    assert found.variable == file_variable(NAME) and found.path == secret
    monkeypatch.setenv(NAME, "mongodb://from-the-variable:1/")
    assert from_environment(NAME).value == "mongodb://from-the-variable:1/"
    monkeypatch.delenv(NAME)
    monkeypatch.delenv(file_variable(NAME))
    assert from_environment(NAME) is None


@pytest.mark.parametrize(
    ("content", "problem"),
    [(None, "no such file"), ("", "is empty"), ("\n  \n", "is empty"), (f"{URI}\nx\n", "2 lines")],
    ids=["missing", "empty", "blank", "two-lines"],
)
def test_an_unusable_file_is_an_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: str | None, problem: str
) -> None:
    secret = tmp_path / "uri"
    if content is not None:
        secret.write_text(content)
    monkeypatch.delenv(NAME, raising=False)
    monkeypatch.setenv(file_variable(NAME), str(secret))
    with pytest.raises(ConfigError) as error:
        from_environment(NAME)
    assert error.value.key == file_variable(NAME)
    assert str(secret) in error.value.problem and problem in error.value.problem
    assert "s3cret" not in str(error.value)


def test_an_unreadable_file_is_an_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = tmp_path / "a-folder"  # reading a folder fails for root too (chmod 000 does not)
    folder.mkdir()
    monkeypatch.delenv(NAME, raising=False)
    monkeypatch.setenv(file_variable(NAME), str(folder))
    with pytest.raises(ConfigError, match="cannot read") as error:
        from_environment(NAME)
    assert error.value.key == file_variable(NAME) and str(folder) in error.value.problem


def test_a_file_others_can_read_is_used_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    private, shared = tmp_path / "private", tmp_path / "shared"
    for path, mode in ((private, 0o600), (shared, 0o644)):
        path.write_text(URI)
        path.chmod(mode)
    monkeypatch.delenv(NAME, raising=False)
    records: list[logging.LogRecord] = []
    listener = logging.Handler(logging.WARNING)
    listener.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("qraptor")  # it may not propagate (setup_logging): listen on it
    logger.addHandler(listener)
    warned = []
    try:
        for path in (private, shared, shared):  # the second read of `shared` warns no more
            monkeypatch.setenv(file_variable(NAME), str(path))
            records.clear()
            assert from_environment(NAME).value == URI
            warned.append(list(records))
    finally:
        logger.removeHandler(listener)
    assert [len(w) for w in warned] == [0, 1, 0]
    assert shared in warned[1][0].args and "s3cret" not in warned[1][0].getMessage()
