"""A password never reaches a file, a stored document or a child's command line: refused on the
command line and in conf/ (exit status 2, nothing written, nothing queued), taken from
QRAPTOR_MONGO_URI_FILE (used for real: a user with a password on the test server).

Real processes as a user runs them; every check is on what is left behind: the files under the
folder the command ran in (outputs/, multirun/, anything), the database, the processes' argv.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from bson import BSON
from pymongo import MongoClient

from qraptor.cli.main import main
from qraptor.store import SessionStore
from qraptor.store.uri import URI_ENV, URI_FILE_ENV

SECRET = f"secret-{uuid.uuid4().hex[:8]}"  # unique: no other file can hold it by chance
PASSWORD_URI = f"mongodb://u:{SECRET}@127.0.0.1:1/"  # nothing listens: it must never be used


def run(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=180
    )  # fmt: skip


def train(*args: str) -> list[str]:
    return [sys.executable, "-m", "qraptor.train", *args]


def files_holding(folder: Path, secret: str, skip: Path | None = None) -> list[Path]:
    """Every file under `folder` (but `skip`) whose bytes contain `secret`."""
    return [
        path
        for path in folder.rglob("*")
        if path.is_file()
        and not (skip and path.is_relative_to(skip))
        and secret.encode() in path.read_bytes()
    ]


def stored_bytes(store: SessionStore) -> bytes:
    """Every document of the test database, sessions, trials and GridFS alike."""
    db = store._conn.db
    return b"".join(BSON.encode(d) for n in db.list_collection_names() for d in db[n].find())


@pytest.fixture
def queue_env(subprocess_env, mongo_server, store) -> dict[str, str]:
    """A queue that works: a command that is not refused would store sessions or trials."""
    return {**subprocess_env, URI_ENV: mongo_server.uri, "OMP_NUM_THREADS": "1"}


@pytest.mark.parametrize(
    "args",
    [
        (f"store.uri={PASSWORD_URI}", "experiment=tiny"),
        ("-m", "hydra/launcher=mongo", "session.seed=0,1", f"tracking.uri=https://u:{SECRET}@h/"),
        ("-m", "session.seed=0,1", f"store.uri='{PASSWORD_URI}'", "experiment=tiny"),
    ],
    ids=["run", "mongo-sweep", "basic-sweep"],
)
def test_a_password_override_is_refused_before_anything_is_written(
    queue_env, store, tmp_path: Path, args: tuple[str, ...]
) -> None:
    done = run(train(*args, f"store.database={store.database}"), queue_env, tmp_path)
    assert done.returncode == 2, done.stderr
    assert SECRET not in done.stdout + done.stderr
    assert files_holding(tmp_path, SECRET) == []
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "multirun").exists()
    assert stored_bytes(store) == b""  # no session queued, no trial recorded


@pytest.mark.parametrize(
    "args",
    [
        ("sessions", "submit", "experiment=tiny", f"store.uri={PASSWORD_URI}"),
        ("worker", "--once", f"uri={PASSWORD_URI}"),
        ("dashboard", "--no-db", "--mongo-uri", PASSWORD_URI),
        ("train", "experiment=tiny", f"+mlflow.password={SECRET}"),
    ],
    ids=["submit", "worker", "dashboard", "train"],
)
def test_every_command_refuses_a_password_among_its_arguments(
    mongo_server, store, monkeypatch, capsys, tmp_path: Path, args: tuple[str, ...]
) -> None:
    monkeypatch.setenv(URI_ENV, mongo_server.uri)  # the queue the command would otherwise use
    monkeypatch.chdir(tmp_path)
    code = main([*args, f"store.database={store.database}"])
    out, err = capsys.readouterr()
    assert code == 2 and SECRET not in out + err
    assert stored_bytes(store) == b""
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("group", "value", "args"),
    [
        ("store", PASSWORD_URI, ("experiment=tiny",)),
        ("tracking", f"https://u:{SECRET}@mlflow.lab/", ("-m", "session.seed=0,1")),
        ("store", PASSWORD_URI, ("-m", "hydra/launcher=mongo", "session.seed=0,1")),
    ],
    ids=["store-run", "tracking-sweep", "store-mongo-sweep"],
)
def test_a_password_in_a_config_file_is_refused_before_hydra_copies_it(
    subprocess_env, store, tmp_path: Path, group: str, value: str, args: tuple[str, ...]
) -> None:
    conf = tmp_path / "conf"
    shutil.copytree(Path(subprocess_env["QRAPTOR_CONF_DIR"]), conf)
    group_file = conf / group / "default.yaml"
    text, n = re.subn(r"(?m)^uri: null", f'uri: "{value}"', group_file.read_text())
    assert n == 1
    group_file.write_text(text)
    env = {**subprocess_env, "QRAPTOR_CONF_DIR": str(conf)}
    done = run(train(*args, f"store.database={store.database}"), env, tmp_path)
    assert done.returncode == 2, done.stderr
    assert f"'{group}.uri'" in done.stderr and SECRET not in done.stdout + done.stderr
    assert files_holding(tmp_path, SECRET, skip=conf) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conf"]
    assert stored_bytes(store) == b""


@pytest.fixture
def uri_file(mongo_server, store, tmp_path: Path) -> Iterator[Path]:
    """A 0600 file holding a URI with a real password: a user of the test's database."""
    user = f"u{uuid.uuid4().hex[:6]}"
    with MongoClient(mongo_server.uri) as client:
        client[store.database].command("createUser", user, pwd=SECRET, roles=["readWrite"])
    path = tmp_path / "secrets" / "mongo-uri"
    path.parent.mkdir()
    state = mongo_server.state
    path.write_text(
        f"mongodb://{user}:{SECRET}@{state.host}:{state.port}/"
        f"?directConnection=true&authSource={store.database}\n"
    )
    path.chmod(0o600)
    try:
        yield path
    finally:
        with MongoClient(mongo_server.uri) as client:
            client[store.database].command("dropUser", user)


def test_the_uri_file_is_what_commands_use_and_its_password_stays_in_it(
    subprocess_env, store, uri_file: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    database = f"store.database={store.database}"
    project = tmp_path / "project"
    project.mkdir()
    env = {**subprocess_env, URI_FILE_ENV: str(uri_file)}
    swept = run(train("-m", "hydra/launcher=mongo", "session.seed=0,1", database), env, project)
    assert swept.returncode == 0, swept.stderr
    monkeypatch.setenv(URI_FILE_ENV, str(uri_file))
    assert main(["sessions", "submit", "experiment=tiny", database]) == 0
    assert sum(store.counts().values()) == 3  # a sweep of two, one submitted
    assert list(project.glob("multirun/**/multirun.yaml"))  # Hydra wrote its files...
    assert files_holding(tmp_path, SECRET, skip=uri_file) == []  # ... without the password
    assert SECRET.encode() not in stored_bytes(store)
    assert SECRET not in swept.stdout + swept.stderr + "".join(capsys.readouterr())

    # The password is really sent: with a wrong one the server refuses and nothing is queued.
    uri_file.write_text(uri_file.read_text().replace(SECRET, "wrong-password"))
    assert main(["sessions", "submit", "experiment=tiny", database]) == 2
    assert sum(store.counts().values()) == 3


def test_no_child_process_gets_the_password_on_its_command_line(
    subprocess_env, store, uri_file: Path, tmp_path: Path
) -> None:
    """An in-process sweep on joblib's worker processes, the children qraptor starts that use
    the store (each job records its trial): their argv and environment, watched while they
    run, never hold the password; the environment holds only the file's name."""
    env = {**subprocess_env, URI_FILE_ENV: str(uri_file), "OMP_NUM_THREADS": "1"}
    args = train(
        "-m", "hydra/launcher=joblib_local", "session.seed=0,1", "experiment=tiny",
        f"store.database={store.database}", "tracking.enabled=false",
        "session.total_timesteps=-1",  # each job records its trial, then fails validation
    )  # fmt: skip
    sweep = subprocess.Popen(
        args, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    seen: dict[int, str] = {}  # pid -> its argv and environment, as one text
    try:
        parent = psutil.Process(sweep.pid)
        while sweep.poll() is None:
            for process in [parent, *parent.children(recursive=True)]:
                try:
                    if process.pid not in seen:
                        seen[process.pid] = " ".join(process.cmdline()) + repr(process.environ())
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    continue
            time.sleep(0.02)
        output = sweep.communicate(timeout=180)[0]
    finally:
        if sweep.poll() is None:
            sweep.kill()
            sweep.wait()
    workers = [text for pid, text in seen.items() if pid != sweep.pid and "loky" in text]
    assert len(workers) >= 2, (seen, output)  # the jobs ran in child processes
    assert all(str(uri_file) in text for text in workers)  # ... which had the file's name
    assert [text for text in seen.values() if SECRET in text] == []  # ... but not the password
    # Each job, in its child, used the store the file names (joblib's pool stops at the first
    # failed job, so the second may not have started).
    assert list(store._conn.db["trials"].find()), output
    assert SECRET not in output and files_holding(tmp_path, SECRET, skip=uri_file) == []
