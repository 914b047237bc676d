"""Session files in GridFS: linked only when complete, sha256-checked, latest K checkpoints."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from qraptor.store import FileIntegrityError, FileKind, LeaseLost, Session, SessionStore
from qraptor.store import files as gridfs_files
from qraptor.store.errors import StoreError


@pytest.fixture
def claimed(store: SessionStore) -> Session:
    store.submit({})
    return store.claim("w1")


@pytest.fixture
def running(claimed: Session) -> str:
    return claimed.id


def _blob(path: Path, size: int = 600_000) -> Path:  # several GridFS chunks
    path.write_bytes(os.urandom(size))
    return path


def _gridfs_ids(store: SessionStore) -> set:
    return {d["_id"] for d in store._conn.files_collection.find({}, {"_id": 1})}


def test_file_roundtrip_is_verified_and_linked(store: SessionStore, running: str, tmp_path: Path):
    model = _blob(tmp_path / "model.zip")
    ref = store.attach_file(running, FileKind.MODEL, model)
    assert ref.sha256 == hashlib.sha256(model.read_bytes()).hexdigest()
    assert ref.size == model.stat().st_size
    link = store.get(running)["files"][0]
    assert (link["name"], link["kind"], link["sha256"]) == ("model.zip", "model", ref.sha256)
    meta = store._conn.files_collection.find_one({"_id": ref.file_id})["metadata"]
    assert meta == {"session_id": running, "kind": "model"}
    out = store.download_file(running, "model", tmp_path / "out")
    assert out == tmp_path / "out" and out.read_bytes() == model.read_bytes()
    (tmp_path / "folder").mkdir()
    assert store.download_file(running, ref, tmp_path / "folder").name == "model.zip"


def test_same_kind_and_name_replaces_the_old_file(store: SessionStore, running, tmp_path):
    first = store.attach_file(running, "trade_log", _blob(tmp_path / "trades.csv", 1000))
    second = store.attach_file(running, "trade_log", _blob(tmp_path / "trades.csv", 2000))
    store.attach_file(running, "equity_curve", _blob(tmp_path / "equity.csv", 500))
    links = store.get(running)["files"]
    assert [(f["kind"], f["size"]) for f in links] == [("trade_log", 2000), ("equity_curve", 500)]
    assert first.file_id not in _gridfs_ids(store) and second.file_id in _gridfs_ids(store)


@pytest.mark.parametrize(
    ("damage", "reason"), [(b"\0" * 261_120, "sha256"), (b"\0" * 10, "truncated chunk")]
)
def test_corrupt_file_is_refused_naming_session_and_file(store, running, tmp_path, damage, reason):
    ref = store.attach_file(running, "model", _blob(tmp_path / "model.zip"))
    chunks = store._conn.db[f"{store.cfg.collection}_files.chunks"]
    chunks.update_one({"files_id": ref.file_id, "n": 1}, {"$set": {"data": damage}})
    dest = tmp_path / "restored.zip"
    with pytest.raises(FileIntegrityError, match=reason) as info:
        store.download_file(running, "model", dest)
    assert f"session '{running}'" in str(info.value) and "'model.zip'" in str(info.value)
    assert not dest.exists() and list(tmp_path.glob(".restored*")) == []


def test_checkpoints_keep_the_latest_k(store: SessionStore, claimed: Session, tmp_path: Path):
    running = claimed.id
    refs = {}
    for steps in (1000, 2000, 3000):
        path = _blob(tmp_path / f"ck{steps}.zip", 100_000)
        store.checkpoint(claimed.claim, path, steps)
        refs[steps] = hashlib.sha256(path.read_bytes()).hexdigest()
    linked = store.get(running)["checkpoints"]
    assert [c["timesteps"] for c in linked] == [2000, 3000]
    assert len(_gridfs_ids(store)) == store.cfg.keep_checkpoints  # the oldest was deleted
    path, steps = store.latest_checkpoint(running, dest_dir=tmp_path / "resume")
    assert steps == 3000 and hashlib.sha256(path.read_bytes()).hexdigest() == refs[3000]


def test_no_checkpoint_means_a_fresh_start(store: SessionStore, running: str):
    assert store.latest_checkpoint(running) is None


def test_a_worker_without_the_lease_cannot_store_files(store: SessionStore, tmp_path: Path):
    sid = store.submit({})
    claim = store.claim("w1").claim
    store.cancel(sid)
    with pytest.raises(LeaseLost):
        store.checkpoint(claim, _blob(tmp_path / "ck.zip"), 10)
    with pytest.raises(LeaseLost):
        store.attach_file(sid, "model", _blob(tmp_path / "m.zip"), claim=claim)
    doc = store.get(sid)
    assert doc["checkpoints"] == [] and doc["files"] == []
    assert _gridfs_ids(store) == set()  # the uploads were removed again


def test_a_failed_upload_links_nothing_and_leaves_no_chunks(
    store: SessionStore, running: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    real_read = gridfs_files._HashingReader.read

    def read_then_fail(self, n=-1):
        if self.size > 300_000:
            raise OSError("disk went away")
        return real_read(self, n)

    monkeypatch.setattr(gridfs_files._HashingReader, "read", read_then_fail)
    with pytest.raises(OSError, match="disk went away"):
        store.attach_file(running, "model", _blob(tmp_path / "model.zip"))
    assert store.get(running)["files"] == []
    chunks = store._conn.db[f"{store.cfg.collection}_files.chunks"]
    assert chunks.count_documents({}) == 0 and _gridfs_ids(store) == set()


def test_orphan_files_are_collected(store: SessionStore, running: str, tmp_path: Path):
    kept = store.attach_file(running, "model", _blob(tmp_path / "m.zip", 100))
    orphan = store._conn.bucket.upload_from_stream("lost.zip", b"x" * 100)  # crash before link
    assert store.collect_orphan_files(min_age_seconds=3600) == 0  # too young to be sure
    assert store.collect_orphan_files(min_age_seconds=0) == 1
    assert _gridfs_ids(store) == {kept.file_id} and orphan not in _gridfs_ids(store)


def test_results_are_linked_together_in_one_update(store: SessionStore, claimed, tmp_path):
    running = claimed.id
    old = store.attach_file(
        running, "trade_log", _blob(tmp_path / "old.csv", 100), "val_trades.csv"
    )
    store.heartbeat(claimed.claim)  # other fields change meanwhile: the link compares `files`
    refs = store.attach_files(
        running,
        [
            ("model", _blob(tmp_path / "model.zip", 700_000), "model.zip"),
            ("trade_log", _blob(tmp_path / "t.csv", 300), "val_trades.csv"),
            ("equity_curve", _blob(tmp_path / "e.csv", 200), "val_equity.csv"),
        ],
        claim=claimed.claim,
    )
    links = {(f["kind"], f["name"]): f for f in store.get(running)["files"]}
    assert set(links) == {
        ("model", "model.zip"),
        ("trade_log", "val_trades.csv"),
        ("equity_curve", "val_equity.csv"),
    }
    assert [links[(r.kind.value, r.name)]["file_id"] for r in refs] == [r.file_id for r in refs]
    assert old.file_id not in _gridfs_ids(store)  # replaced, then deleted
    assert store.download_file(running, "trade_log", tmp_path / "x").stat().st_size == 300


def test_a_bundle_is_all_or_nothing(store: SessionStore, tmp_path: Path):
    sid = store.submit({})
    claim = store.claim("w1").claim
    store.cancel(sid)
    bundle = [("model", _blob(tmp_path / "m.zip"), "model.zip"),
              ("metrics", _blob(tmp_path / "m.json", 50), "metrics.json")]  # fmt: skip
    with pytest.raises(LeaseLost):
        store.attach_files(sid, bundle, claim=claim)
    assert store.get(sid)["files"] == [] and _gridfs_ids(store) == set()
    with pytest.raises(StoreError, match="the same file twice"):
        store.attach_files(sid, [bundle[0], bundle[0]])


def test_one_failed_upload_of_a_bundle_removes_the_others(
    store: SessionStore, claimed: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    running = claimed.id
    real_read = gridfs_files._HashingReader.read

    def read_then_fail(self, n=-1):
        if self.size > 300_000:
            raise OSError("disk went away")
        return real_read(self, n)

    monkeypatch.setattr(gridfs_files._HashingReader, "read", read_then_fail)
    bundle = [(kind, _blob(tmp_path / f"{kind}.bin", 1000), f"{kind}.bin")
              for kind in ("trade_log", "equity_curve", "metrics")]  # fmt: skip
    bundle.insert(1, ("model", _blob(tmp_path / "model.zip"), "model.zip"))
    with pytest.raises(OSError, match="disk went away"):
        store.attach_files(running, bundle, claim=claimed.claim)
    assert store.get(running)["files"] == []
    chunks = store._conn.db[f"{store.cfg.collection}_files.chunks"]
    assert chunks.count_documents({}) == 0 and _gridfs_ids(store) == set()
