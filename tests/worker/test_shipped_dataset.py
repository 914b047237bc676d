"""Datasets carried by the store: a worker on a host without the submitter's folder (a
container, another machine) trains on exactly the submitted version, fetched once; a
corrupted copy is refused and leaves nothing in the cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from qraptor.core.provenance import data_version
from qraptor.store import SessionStore, Status
from qraptor.store.datasets import bucket_name
from qraptor.store.errors import DatasetIntegrityError
from qraptor.worker.config import load_worker_config
from qraptor.worker.loop import run_worker
from qraptor.worker.submit import enqueue, request_from_overrides

TINY = (
    "experiment=tiny",
    "session.total_timesteps=64",
    "session.checkpoint_every=64",
    "session.eval.random_runs=1",
    "algo.n_steps=16",
    "algo.batch_size=32",
    "algo.n_epochs=1",
    "tracking.artifacts.keras_h5=false",
)


@pytest.fixture
def queue(mongo_server, database_name, make_config):
    cfg = make_config(f"uri={mongo_server.uri}", f"database={database_name}", "lease_seconds=10")
    store = SessionStore.from_config(cfg)
    yield cfg, store
    store._conn.client.drop_database(database_name)
    store.close()


@pytest.fixture
def own_dataset(tiny_dataset: Path, tmp_path: Path) -> Path:
    """A copy of the tiny dataset that the test can take away from the 'worker host'."""
    copy = tmp_path / "submitter" / "dataset"
    shutil.copytree(tiny_dataset, copy)
    return copy


def test_a_worker_without_the_folder_trains_on_the_submitted_version(
    queue, own_dataset, tmp_path, monkeypatch
):
    cfg, store = queue
    submitted = data_version(own_dataset)
    request = request_from_overrides([*TINY, f"session.dataset={own_dataset}"])
    first, second = enqueue(store, [request, request])
    files = store._conn.db[f"{bucket_name(store._conn)}.files"]
    assert files.count_documents({"filename": submitted["hash"]}) == 1  # once per version

    moved = own_dataset.with_name("elsewhere")
    own_dataset.rename(moved)  # the worker's host has no such folder
    cache = tmp_path / "cache"
    worker_cfg = load_worker_config([f"dataset_cache={cache}", f"work_dir={tmp_path}"])
    assert run_worker(cfg, max_sessions=2, idle_exit=0, worker_cfg=worker_cfg) == 2

    for sid in (first, second):
        doc = store.get(sid)
        assert doc["status"] == Status.SUCCEEDED, doc.get("error")
        assert doc["data_version"] == submitted  # the version trained on is the submitted one
    fetched = cache / submitted["hash"]
    assert sorted(p.name for p in cache.iterdir()) == [submitted["hash"]]  # no scratch left
    assert data_version(fetched)["hash"] == submitted["hash"]  # same files, same bytes

    from mlflow.tracking import MlflowClient

    run = MlflowClient().get_run(store.get(first)["mlflow_run_id"])
    assert run.data.tags["qraptor.data_hash"] == submitted["hash"]
    assert run.data.tags["qraptor.data_source"] == "store"
    assert run.data.params["session.dataset"] == str(own_dataset)  # the session as submitted


def test_a_worker_with_the_same_version_uses_its_own_folder(queue, own_dataset, tmp_path):
    cfg, store = queue
    request = request_from_overrides([*TINY, f"session.dataset={own_dataset}"])
    (sid,) = enqueue(store, [request])
    cache = tmp_path / "cache"
    worker_cfg = load_worker_config([f"dataset_cache={cache}", f"work_dir={tmp_path}"])
    assert run_worker(cfg, once=True, worker_cfg=worker_cfg) == 1
    assert store.get(sid)["status"] == Status.SUCCEEDED
    assert not cache.exists()  # nothing fetched


def test_a_corrupted_copy_is_refused_and_nothing_is_cached(queue, own_dataset, tmp_path):
    _, store = queue
    version = data_version(own_dataset)
    assert store.publish_dataset(own_dataset, version) is True
    assert store.publish_dataset(own_dataset, version) is False  # already there
    chunks = store._conn.db[f"{bucket_name(store._conn)}.chunks"]
    chunk = chunks.find_one({"n": 0})
    data = bytearray(chunk["data"])
    data[600] ^= 0xFF
    chunks.update_one({"_id": chunk["_id"]}, {"$set": {"data": bytes(data)}})
    cache = tmp_path / "cache"
    with pytest.raises(DatasetIntegrityError, match=version["hash"]):
        store.fetch_dataset(version, cache)
    assert list(cache.iterdir()) == []
    assert store.fetch_dataset({**version, "hash": "0" * 32}, cache) is None  # unpublished


def test_submitting_without_shipping_publishes_nothing(
    mongo_server, database_name, make_config, own_dataset
):
    cfg = make_config(f"uri={mongo_server.uri}", f"database={database_name}", "ship_datasets=false")
    with SessionStore.from_config(cfg) as store:
        enqueue(store, [request_from_overrides([*TINY, f"session.dataset={own_dataset}"])])
        files = store._conn.db[f"{bucket_name(store._conn)}.files"]
        assert files.count_documents({}) == 0
        store._conn.client.drop_database(database_name)


def test_a_copy_with_a_path_outside_its_folder_is_refused(queue, tmp_path):
    """A tar that someone else put in the bucket under a version's name cannot write
    outside the cache (no extraction filters on Debian 12's Python 3.11.2)."""
    import io
    import tarfile

    from gridfs import GridFSBucket

    _, store = queue
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    key = "f" * 32
    GridFSBucket(store._conn.db, bucket_name=bucket_name(store._conn)).upload_from_stream(
        key, raw.getvalue()
    )
    cache = tmp_path / "cache"
    with pytest.raises(DatasetIntegrityError, match="escaped"):
        store.fetch_dataset({"hash": key, "dataset": "x"}, cache)
    assert not (tmp_path / "escaped.txt").exists() and list(cache.iterdir()) == []
