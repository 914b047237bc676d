"""The session lifecycle on a real server: submit, claim, lease, finish, cancel, retry."""

from __future__ import annotations

import time

import numpy as np
import pytest
from pymongo.errors import WriteError

from qraptor.store import (
    Claim,
    DocumentRejected,
    InvalidTransition,
    LeaseKeeper,
    LeaseLost,
    SessionNotFound,
    SessionStore,
    Status,
    StoreError,
)


def test_submitted_session_is_queued_with_its_metadata(store: SessionStore):
    sid = store.submit(
        {"algo": {"name": "ppo", "lr": 3e-4}}, priority=2, sweep_id="sw1", tags=["a", "b"],
        experiment="baseline", overrides=["algo=ppo"], git_commit="abc123",
        data_version={"data/processed": "md5:1f2e"},
    )  # fmt: skip
    doc = store.get(sid)
    assert doc["status"] == Status.QUEUED and doc["attempts"] == 0
    assert doc["config"] == {"algo": {"name": "ppo", "lr": 3e-4}}
    assert (doc["priority"], doc["sweep_id"], doc["tags"]) == (2, "sw1", ["a", "b"])
    assert (doc["experiment"], doc["git_commit"]) == ("baseline", "abc123")
    assert doc["data_version"] == {"data/processed": "md5:1f2e"}
    assert doc["max_attempts"] == store.cfg.max_attempts
    assert store.find_id(sid[:-4]) == sid


def test_a_session_is_found_by_its_id_prefix_or_its_random_tail(store: SessionStore):
    # sessions made in the same second share their leading characters: the tail is unique
    first, second = store.submit({"n": 1}), store.submit({"n": 2})
    assert store.find_id(first[-4:]) == first and store.find_id(second[-8:]) == second
    assert store.find_id(first[:-2]) == first
    with pytest.raises(StoreError, match="matches several sessions"):
        store.find_id(first[:9])  # the date: both
    with pytest.raises(SessionNotFound, match="'zz9'"):
        store.find_id("zz9")
    with pytest.raises(SessionNotFound):
        store.find_id(".*")  # a tail is text, not a pattern


def test_claim_order_is_priority_then_age(store: SessionStore):
    low_old = store.submit({"n": 1}, priority=0)
    high = store.submit({"n": 2}, priority=5)
    low_new = store.submit({"n": 3}, priority=0)
    order = [store.claim("w").id for _ in range(3)]
    assert order == [high, low_old, low_new]
    assert store.claim("w") is None


def test_list_filters_and_counts(store: SessionStore):
    a = store.submit({}, sweep_id="s1", tags=["x"])
    b = store.submit({}, sweep_id="s1", tags=["y"])
    store.submit({}, sweep_id="s2")
    store.cancel(b)
    assert [d["_id"] for d in store.list(sweep_id="s1")] == [b, a]  # newest first
    assert [d["_id"] for d in store.list(tag="x")] == [a]
    assert [d["_id"] for d in store.list(status="cancelled")] == [b]
    assert "config" not in store.list()[0] and "config" in store.list(with_config=True)[0]
    assert store.counts() == {
        "queued": 2, "running": 0, "succeeded": 0, "failed": 0, "cancelled": 1,
    }  # fmt: skip


def test_claim_heartbeat_complete(store: SessionStore):
    sid = store.submit({"algo": "ppo"})
    session = store.claim("w1")
    assert session.id == sid and session.attempts == 1 and not session.resumes
    assert session.status is Status.RUNNING and session.config == {"algo": "ppo"}
    lease = store.get(sid)["lease_expires_at"]
    time.sleep(0.05)
    store.heartbeat(session.claim, {"timesteps": 500, "total_timesteps": 1000})
    doc = store.get(sid)
    assert doc["lease_expires_at"] > lease and doc["progress"]["timesteps"] == 500
    store.complete(session.claim, {"sharpe": np.float64(1.25), "trades": np.int64(7)}, "run-1")
    doc = store.get(sid)
    assert doc["status"] == Status.SUCCEEDED and doc["finished_at"] is not None
    assert doc["metrics"] == {"sharpe": 1.25, "trades": 7} and doc["mlflow_run_id"] == "run-1"


def test_expired_lease_is_reclaimed_and_the_old_worker_loses_it(store: SessionStore):
    sid = store.submit({})
    first = store.claim("w1")
    assert store.claim("w2") is None  # lease still valid
    time.sleep(store.cfg.lease_seconds + 0.2)
    taken = store.claim("w2")
    assert taken.id == sid and taken.attempts == 2
    with pytest.raises(LeaseLost, match="running under worker 'w2'"):
        store.heartbeat(first.claim)
    with pytest.raises(LeaseLost):
        store.complete(first.claim, {"from": "w1"})  # no duplicate result
    store.complete(taken.claim, {"from": "w2"})
    doc = store.get(sid)
    assert doc["metrics"] == {"from": "w2"}
    assert doc["errors"][0]["worker_id"] == "w1" and "lost its lease" in doc["errors"][0]["error"]


def test_a_renewed_lease_is_not_reclaimed(store: SessionStore):
    sid = store.submit({})
    session = store.claim("w1")
    assert session.id == sid
    for _ in range(4):
        time.sleep(store.cfg.lease_seconds / 3)
        store.heartbeat(session.claim)
    assert store.claim("w2") is None


def test_fail_with_retry_requeues_until_attempts_run_out(open_store):
    store = open_store("max_attempts=2")
    sid = store.submit({})
    first = store.claim("w1")
    store.fail(first.claim, "Traceback ...\nValueError: first", retry=True)
    doc = store.get(sid)
    assert doc["status"] == Status.QUEUED and doc["error"].endswith("first")
    second = store.claim("w2")
    store.fail(second.claim, "Traceback ...\nValueError: second", retry=True)
    doc = store.get(sid)
    assert doc["status"] == Status.FAILED and doc["attempts"] == 2
    assert doc["error"].endswith("second") and [e["attempt"] for e in doc["errors"]] == [1, 2]
    assert store.claim("w3") is None


def test_release_hands_back_without_counting_the_attempt(store: SessionStore):
    sid = store.submit({})
    store.release(store.claim("w1").claim)
    doc = store.get(sid)
    assert doc["status"] == Status.QUEUED and doc["attempts"] == 0
    assert store.claim("w2").attempts == 1


def test_cancel_stops_a_running_worker_and_retry_requeues(store: SessionStore):
    sid = store.submit({})
    first = store.claim("w1")
    store.cancel(sid)
    with pytest.raises(LeaseLost, match="now cancelled"):
        store.heartbeat(first.claim)
    store.cancel(sid)  # idempotent
    store.retry(sid)
    doc = store.get(sid)
    assert doc["status"] == Status.QUEUED and doc["attempts"] == 0
    session = store.claim("w2")
    store.complete(session.claim, {})
    with pytest.raises(InvalidTransition, match="only queued or running"):
        store.cancel(sid)
    with pytest.raises(InvalidTransition, match="cancelled or failed"):
        store.retry(session.id)


def test_unknown_session_is_named(store: SessionStore):
    with pytest.raises(SessionNotFound, match="'nope'"):
        store.get("nope")
    with pytest.raises(SessionNotFound):
        store.heartbeat(Claim("nope", "w1", "token"))


def test_validator_guards_the_collection_and_rejections_name_the_field(store: SessionStore):
    with pytest.raises(WriteError) as raw:  # the server itself refuses a malformed document
        store._conn.sessions.insert_one({"_id": "x", "status": "runing"})
    assert raw.value.code == 121
    sid = store.submit({})
    session = store.claim("w1")
    with pytest.raises(DocumentRejected) as info:
        store.heartbeat(session.claim, {"timesteps": -5})
    message = str(info.value)
    assert f"session '{sid}'" in message and "heartbeat" in message
    assert "progress.timesteps" in message and "minimum 0" in message and "-5" in message


def test_invalid_submission_is_rejected_readably(store: SessionStore):
    with pytest.raises(DocumentRejected, match=r"data_version: type did not match"):
        store.submit({}, data_version="md5:abc")  # type: ignore[arg-type]
    assert store.counts()["queued"] == 0


def test_lease_keeper_heartbeats_in_the_background_and_reports_loss(store: SessionStore):
    sid = store.submit({})
    session = store.claim("w1")
    with LeaseKeeper(store, session.claim, interval_seconds=0.2) as lease:
        lease.report(40, 100)
        time.sleep(store.cfg.lease_seconds + 0.5)  # longer than the lease: kept alive
        assert store.claim("w2") is None
        assert store.get(sid)["progress"] == {"timesteps": 40, "total_timesteps": 100}
        store.cancel(sid)
        assert lease.lost.wait(2.0)
        with pytest.raises(LeaseLost, match="cancelled"):
            lease.check()


def test_an_outdated_validator_is_replaced_on_open(mongo_server, database_name, make_config):
    from pymongo import MongoClient

    from qraptor.store.schema import SESSION_SCHEMA

    with MongoClient(mongo_server.uri) as client:
        client[database_name].create_collection("sessions", validator={"$jsonSchema": {}})
        with SessionStore(mongo_server.uri, database_name, make_config()) as store:
            assert store._conn.sessions.options()["validator"] == {"$jsonSchema": SESSION_SCHEMA}
            assert set(store._conn.sessions.index_information()) >= {"claim", "lease"}
        client.drop_database(database_name)


def test_the_claim_order_holds_whatever_this_process_saw_before(store: SessionStore):
    # The claim reads only the head of the queue, starting where it last saw it: a higher
    # priority submitted later, or an older session queued again, must still come first.
    old = store.submit({"n": 0})
    newer = [store.submit({"n": i}) for i in range(1, 4)]
    first = store.claim("w")
    assert first.id == old
    urgent = store.submit({"n": 9}, priority=3)
    assert store.claim("w").id == urgent
    store.release(first.claim)  # the oldest is queued again: ahead of the newer ones
    assert [store.claim("w").id for _ in range(4)] == [old, *newer]
    assert store.claim("w") is None
    assert all("claim_key" not in store.get(sid) for sid in (old, *newer))  # only while queued


def test_only_queued_sessions_are_claimed_whatever_keys_they_carry(store: SessionStore):
    sid = store.submit({})
    key = store.get(sid)["claim_key"]
    store.cancel(sid)
    store._conn.sessions.update_one({"_id": sid}, {"$set": {"claim_key": key}})  # stray key
    assert store.claim("w") is None and store.get(sid)["status"] == Status.CANCELLED


def test_a_store_from_before_claim_keys_is_keyed_on_open(store: SessionStore, mongo_server):
    ids = [store.submit({"n": i}) for i in range(3)]
    urgent = store.submit({"n": 9}, priority=2)
    store._conn.sessions.update_many({}, {"$unset": {"claim_key": ""}})  # as an older version
    store._conn.sessions.drop_index("claim_key")  # left them
    reopened = SessionStore(mongo_server.uri, store.database, store.cfg)
    assert [reopened.claim("w").id for _ in range(4)] == [urgent, *ids]
