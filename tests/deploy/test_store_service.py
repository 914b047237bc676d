"""`qraptor serve store`: the stack's store creates its user at the first start and then
refuses anyone without the password; `qraptor health store` says which, by exit code."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from qraptor.store import SessionStore, load_store_config

QRAPTOR = [sys.executable, "-m", "qraptor.cli.main"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _health(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*QRAPTOR, "health", "store"], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "store_password"
    path.write_text("w1de:open@sky\n")
    path.chmod(0o600)
    return path


def _serve(data: Path, port: int, env: dict[str, str]) -> subprocess.Popen:
    command = [
        *QRAPTOR,
        "serve",
        "store",
        "--data",
        str(data),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--cache-size",
        "64M",
    ]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _wait(env: dict[str, str], server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while _health(env).returncode != 0:
        assert server.poll() is None, server.stdout.read().decode()
        assert time.monotonic() < deadline, "the store did not become healthy"
        time.sleep(0.5)


def test_the_store_creates_its_user_once_and_requires_the_password(tmp_path, secret):
    port, data = _free_port(), tmp_path / "store"
    uri = f"mongodb://qraptor@127.0.0.1:{port}/?authSource=admin&directConnection=true"
    env = {**os.environ, "QRAPTOR_MONGO_URI": uri, "QRAPTOR_MONGO_PASSWORD_FILE": str(secret)}
    env.pop("QRAPTOR_MONGO_PASSWORD", None)
    for start in range(2):  # the second start finds the user and does not provision again
        server = _serve(data, port, env)
        try:
            _wait(env, server)
            assert (data / "provisioned.json").is_file()
            anonymous = MongoClient(f"mongodb://127.0.0.1:{port}/?directConnection=true")
            with anonymous, pytest.raises(OperationFailure):
                anonymous.qraptor.sessions.find_one()
            wrong = tmp_path / "wrong"
            wrong.write_text("guess\n")
            wrong.chmod(0o600)
            refused = _health({**env, "QRAPTOR_MONGO_PASSWORD_FILE": str(wrong)})
            assert refused.returncode == 1 and "unhealthy" in refused.stdout
            assert "guess" not in refused.stdout and "open@sky" not in refused.stdout
            os.environ.update(QRAPTOR_MONGO_URI=uri, QRAPTOR_MONGO_PASSWORD_FILE=str(secret))
            try:
                with SessionStore.from_config(load_store_config()) as store:
                    if start == 0:
                        store.submit({"session": {"name": "kept"}})
                    assert [
                        d["config"]["session"]["name"] for d in store.list(with_config=True)
                    ] == ["kept"]
                    assert "open" not in store.uri
            finally:
                del os.environ["QRAPTOR_MONGO_URI"], os.environ["QRAPTOR_MONGO_PASSWORD_FILE"]
        finally:
            server.terminate()
            output = server.communicate(timeout=30)[0].decode()
        assert "open@sky" not in output and "w1de" not in output
    stopped = _health(env)
    assert stopped.returncode == 1 and "unhealthy" in stopped.stdout


def test_serving_without_a_password_names_the_variable(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("QRAPTOR_MONGO_PASSWORD")}
    done = subprocess.run(
        [*QRAPTOR, "serve", "store", "--data", str(tmp_path / "s")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "QRAPTOR_MONGO_PASSWORD" in done.stdout + done.stderr
    assert not (tmp_path / "s").exists()  # nothing started, nothing written
