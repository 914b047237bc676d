"""The container stack end to end (deploy/compose.yaml): images built by `make images`, the
stack up and healthy, a sweep submitted from this host through the published ports, two
worker containers training it while the store container restarts, every result in the
store and in MLflow (on PostgreSQL), the dashboard answering, no password anywhere, then
`down -v`.

Where no Docker engine runs, deploy/local-engine.sh makes one (root and apt needed: this is
what `make test` on qraptor's CI does); only where that cannot work at all is the test
skipped, with the reason.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from bson import BSON
from pymongo import MongoClient
from pymongo.errors import PyMongoError

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
LOCAL_BASE = "local/debian:bookworm"  # what deploy/local-engine.sh makes
SWEEP_SEEDS = (0, 1, 2, 3)
SESSION = (
    "experiment=tiny",
    "session.total_timesteps=4096",
    "session.checkpoint_every=1024",
    "session.eval.random_runs=1",
    "algo.n_steps=64",
    "algo.batch_size=64",
    "algo.n_epochs=1",
    "tracking.model.register=true",  # the registry on PostgreSQL too
)
pytestmark = pytest.mark.timeout(1800)


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _run(command: list[str], env: dict[str, str], timeout: float = 900, **kw):
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, **kw)
    assert done.returncode == 0, (
        f"{' '.join(command)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done


@pytest.fixture(scope="module")
def engine() -> dict[str, str]:
    """DOCKER_HOST and build settings of a working engine: the one configured, else one
    started by deploy/local-engine.sh."""
    env = dict(os.environ)
    if shutil.which("docker") is None and shutil.which("apt-get") is None:
        pytest.skip("no docker command and no apt-get to install Docker with")
    if shutil.which("docker") is None:
        return _made_engine(env)
    probe = subprocess.run(["docker", "info"], capture_output=True, env=env, timeout=60)
    has_compose = subprocess.run(["docker", "compose", "version"], capture_output=True, env=env)
    if probe.returncode == 0 and has_compose.returncode == 0:
        return _settings_of(env)
    return _made_engine(env)


def _made_engine(env: dict[str, str]) -> dict:
    """An engine started by deploy/local-engine.sh (skip where it cannot be made)."""
    made = subprocess.run(
        ["sh", str(DEPLOY / "local-engine.sh")], capture_output=True, text=True, timeout=900
    )
    if made.returncode == 3:
        pytest.skip(f"no Docker engine and none can be made here: {made.stderr.strip()}")
    assert made.returncode == 0, made.stderr[-3000:]
    lines = made.stdout.splitlines()
    settings = dict(line.removeprefix("export ").split("=", 1) for line in lines if "=" in line)
    env["DOCKER_HOST"] = settings["DOCKER_HOST"]
    return _settings_of(env)


def _settings_of(env: dict[str, str]) -> dict:
    """A running engine: no bridge network means the host-network override; a debootstrap
    base made by deploy/local-engine.sh is used when present (no registry needed)."""
    networks = subprocess.run(
        ["docker", "network", "ls", "--format", "{{.Name}}"],
        env=env,
        capture_output=True,
        text=True,
    ).stdout.split()
    local = subprocess.run(["docker", "image", "inspect", LOCAL_BASE], env=env, capture_output=True)
    return {
        "env": env,
        "base": LOCAL_BASE if local.returncode == 0 else "python:3.11-slim",
        "network": "bridge" if "bridge" in networks else "host",
        "build": "host",
    }


@pytest.fixture(scope="module")
def images(engine) -> dict[str, str]:
    tag = f"test-{secrets.token_hex(3)}"
    names = {"QRAPTOR_IMAGE": f"qraptor:{tag}", "QRAPTOR_POSTGRES_IMAGE": f"qraptor-postgres:{tag}"}
    _run(
        [
            "make",
            "-s",
            "images",
            f"BASE={engine['base']}",
            f"BUILD_NETWORK={engine['build']}",
            f"IMAGE={names['QRAPTOR_IMAGE']}",
            f"POSTGRES_IMAGE={names['QRAPTOR_POSTGRES_IMAGE']}",
        ],
        engine["env"],
        timeout=1500,
        cwd=ROOT,
    )
    yield names
    subprocess.run(["docker", "rmi", *names.values()], env=engine["env"], capture_output=True)


@pytest.fixture(scope="module")
def stack(engine, images, tmp_path_factory) -> Iterator[dict]:
    """The stack up and healthy with fresh passwords and free ports; `down -v` after."""
    folder = tmp_path_factory.mktemp("stack")
    store_port, mlflow_port, dashboard_port, postgres_port = _free_ports(4)
    passwords = {"store": secrets.token_urlsafe(18), "postgres": secrets.token_urlsafe(18)}
    settings = {
        **images,
        "QRAPTOR_STACK_NAME": f"qraptor-test-{secrets.token_hex(3)}",
        "QRAPTOR_STORE_PASSWORD": passwords["store"],
        "QRAPTOR_POSTGRES_PASSWORD": passwords["postgres"],
        "QRAPTOR_WORKERS": "2",
        "QRAPTOR_PUBLISH": "127.0.0.1",
        "QRAPTOR_STORE_PORT": str(store_port),
        "QRAPTOR_MLFLOW_PORT": str(mlflow_port),
        "QRAPTOR_DASHBOARD_PORT": str(dashboard_port),
        "QRAPTOR_POSTGRES_PORT": str(postgres_port),
        "QRAPTOR_STORE_CACHE": "128M",
    }
    example = (DEPLOY / "stack.env.example").read_text()
    assert all(f"{key}=" in example for key in settings)  # every setting is documented
    stack_env = folder / "stack.env"
    stack_env.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    compose = [
        "docker",
        "compose",
        "--env-file",
        str(stack_env),
        "-f",
        str(DEPLOY / "compose.yaml"),
    ]
    if engine["network"] == "host":
        compose += ["-f", str(DEPLOY / "compose.host-network.yaml")]
    env = engine["env"]
    secret_file = folder / "store_password"
    secret_file.write_text(passwords["store"] + "\n")
    secret_file.chmod(0o600)
    client_env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("QRAPTOR_MONGO", "QRAPTOR_MLFLOW"))
        },
        "QRAPTOR_MONGO_URI": f"mongodb://qraptor@127.0.0.1:{store_port}/?authSource=admin&directConnection=true",
        "QRAPTOR_MONGO_PASSWORD_FILE": str(secret_file),
        "QRAPTOR_MLFLOW_URI": f"http://127.0.0.1:{mlflow_port}",
    }
    started = time.monotonic()
    try:
        up = subprocess.run(
            [*compose, "up", "-d", "--wait", "--wait-timeout", "300"],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if up.returncode != 0:
            logs = subprocess.run(
                [*compose, "logs", "--tail", "40"], env=env, capture_output=True, text=True
            )
            pytest.fail(f"stack did not come up:\n{up.stderr[-2000:]}\n{logs.stdout[-6000:]}")
        yield {
            "compose": compose,
            "env": env,
            "client_env": client_env,
            "passwords": passwords,
            "ports": {"store": store_port, "mlflow": mlflow_port, "dashboard": dashboard_port},
            "up_seconds": time.monotonic() - started,
            "settings": settings,
        }
    finally:
        subprocess.run(
            [*compose, "down", "-v", "-t", "30"], env=env, capture_output=True, timeout=300
        )


def _mongo(stack) -> MongoClient:
    uri = stack["client_env"]["QRAPTOR_MONGO_URI"].replace(
        "qraptor@", f"qraptor:{stack['passwords']['store']}@"
    )
    return MongoClient(uri, serverSelectionTimeoutMS=5000)


def _registry_report(doc, docs, versions, logs: str) -> str:
    """Why a session has not exactly one registered version, for whoever reads the failure:
    every session's run and attempts, every version's run and tags, and the workers' lines
    about runs, registration, leases and failures (not their training chatter)."""
    runs = {d["mlflow_run_id"]: d["_id"] for d in docs}
    lines = [
        f"session {doc['_id']} (run {doc['mlflow_run_id']}) has "
        f"{sum(v.run_id == doc['mlflow_run_id'] for v in versions)} registered versions"
    ]
    lines += [
        f"  session {d['_id']}: run {d['mlflow_run_id']}, worker {d.get('worker_id')}, "
        f"attempts {d.get('attempts')}"
        for d in docs
    ]
    lines += [
        f"  version {v.version} of {v.name}: run {v.run_id} "
        f"(session {runs.get(v.run_id, '?')}), source {v.source}, tags {v.tags}"
        for v in versions
    ]
    keys = (
        "regist",
        "MLflow run",
        "left as it is",
        "lost",
        "failed",
        "claimed",
        "done:",
        "Error",
        "WARNING",
        "store",
    )
    said = [line for line in logs.splitlines() if any(k in line for k in keys)]
    return "\n".join([*lines, "workers (selected lines):", *said[-150:]])


def _statuses(stack) -> dict[str, str] | None:
    try:
        with _mongo(stack) as client:
            return {d["_id"]: d["status"] for d in client.qraptor.sessions.find({}, {"status": 1})}
    except PyMongoError:
        return None  # the store is restarting


def test_the_stack_trains_a_sweep_from_this_host_and_keeps_every_result(stack, tiny_dataset: Path):
    compose, env, client = stack["compose"], stack["env"], stack["client_env"]
    qraptor = str(ROOT / ".venv" / "bin" / "qraptor")
    seeds = ",".join(map(str, SWEEP_SEEDS))
    _run(
        [
            qraptor,
            "train",
            "-m",
            "hydra/launcher=mongo",
            *SESSION,
            f"session.dataset={tiny_dataset}",
            f"session.seed={seeds}",
        ],
        client,
        cwd=ROOT,
    )
    statuses = _statuses(stack)
    assert statuses is not None and len(statuses) == len(SWEEP_SEEDS)

    # mid-run: restart the store container once a session is being trained
    deadline = time.monotonic() + 300
    while "running" not in (_statuses(stack) or {}).values():
        assert time.monotonic() < deadline, f"no session started: {_statuses(stack)}"
        time.sleep(0.5)
    _run([*compose, "restart", "-t", "20", "store"], env, timeout=120)

    deadline = time.monotonic() + 900
    while True:
        statuses = _statuses(stack)
        if statuses and all(s in ("succeeded", "failed") for s in statuses.values()):
            with _mongo(stack) as mongo:  # a worker completes a session, then ends its run:
                closing = mongo.qraptor.sessions.count_documents({"mlflow_run_open": True})
            if not closing:  # every MLflow run ended too (registered, closed)
                break
        assert time.monotonic() < deadline, f"sweep unfinished: {statuses}"
        time.sleep(2)

    with _mongo(stack) as mongo:
        docs = list(mongo.qraptor.sessions.find())
        assert {d["status"] for d in docs} == {"succeeded"}, [d.get("error") for d in docs]
        workers = {d["worker_id"] for d in docs}
        assert len(workers) == 2 or len(docs) < 2, workers  # both worker containers trained
        files = mongo.qraptor["sessions_files.files"]
        for doc in docs:
            kinds = {f["kind"] for f in doc["files"]}
            assert {"model", "keras_h5", "metrics", "equity_curve", "trade_log"} <= kinds
            for ref in doc["files"]:
                assert files.count_documents({"_id": ref["file_id"]}) == 1
            assert doc["data_version"]["hash"] and doc["metrics"]["timesteps"] == 4096
        stored = b"".join(BSON.encode(d) for d in docs)

    # MLflow, on PostgreSQL behind the server: one finished run and one version per session
    from mlflow.tracking import MlflowClient

    server = client["QRAPTOR_MLFLOW_URI"]  # the registry named too: MLflow prefers a global one
    tracking = MlflowClient(tracking_uri=server, registry_uri=server)
    experiment = tracking.get_experiment_by_name("tiny")
    runs = tracking.search_runs([experiment.experiment_id], "tags.`qraptor.session_id` != ''")
    by_session = {}
    for run in runs:
        by_session.setdefault(run.data.tags["qraptor.session_id"], []).append(run)
    assert set(by_session) == {d["_id"] for d in docs}
    for doc in docs:
        (run,) = by_session[doc["_id"]]
        assert run.info.status == "FINISHED" and run.info.run_id == doc["mlflow_run_id"]
        assert run.data.tags["qraptor.data_source"] == "store"  # trained on the shipped data
        assert run.info.artifact_uri.startswith("mlflow-artifacts:")  # served by the server
        assert any(a.path == "model_card.md" for a in tracking.list_artifacts(run.info.run_id))
    every = tracking.search_model_versions()
    for doc in docs:  # the model registry, on PostgreSQL too: one version per session
        versions = [v for v in every if v.run_id == doc["mlflow_run_id"]]
        if len(versions) != 1:
            pytest.fail(_registry_report(doc, docs, every, _run([*compose, "logs", "--no-color",
                "--tail", "2000", "worker"], env).stdout))  # fmt: skip
    counted = _run(
        [
            *compose,
            "exec",
            "-T",
            "postgres",
            "psql",
            "-U",
            "mlflow",
            "-d",
            "mlflow",
            "-tAc",
            "select count(*) from runs where status = 'FINISHED'",
        ],
        env,
    )
    assert int(counted.stdout.strip()) >= len(docs)  # the runs live in PostgreSQL (+ the parent)

    # the dashboard answers on its published port
    with urllib.request.urlopen(
        f"http://127.0.0.1:{stack['ports']['dashboard']}/", timeout=10
    ) as r:
        assert r.status == 200 and b"_dash" in r.read()

    # no password in docker inspect, the image layers, the logs, MLflow params or documents
    ids = _run([*compose, "ps", "-aq"], env).stdout.split()
    inspected = _run(["docker", "inspect", *ids], env).stdout
    layers = "".join(
        _run(["docker", "history", "--no-trunc", image], env).stdout
        + _run(["docker", "image", "inspect", image], env).stdout
        for image in (
            stack["settings"]["QRAPTOR_IMAGE"],
            stack["settings"]["QRAPTOR_POSTGRES_IMAGE"],
        )
    )
    logs = _run([*compose, "logs", "--no-color"], env).stdout
    params = json.dumps([r.data.params for r in runs] + [r.data.tags for r in runs])
    for password in stack["passwords"].values():
        for where, text in (
            ("docker inspect", inspected),
            ("image layers", layers),
            ("logs", logs),
            ("MLflow params/tags", params),
        ):
            assert password not in text, f"a password is in the {where}"
        assert password.encode() not in stored

    # every service healthy after all this, then down -v leaves no volume behind
    listed = _run([*compose, "ps", "--format", "{{.Service}} {{.Health}}"], env).stdout
    health = [line.split() for line in listed.splitlines() if line.strip()]
    assert sorted(s for s, _ in health) == sorted(
        ["dashboard", "mlflow", "postgres", "store", "worker", "worker"]
    )
    assert {h for _, h in health} == {"healthy"}, listed
    _run([*compose, "down", "-v", "-t", "30"], env, timeout=300)
    project = stack["settings"]["QRAPTOR_STACK_NAME"]
    volumes = _run(["docker", "volume", "ls", "-q"], env).stdout.split()
    assert not [v for v in volumes if v.startswith(project)], volumes
