"""runner=queue: a study's sessions go through the MongoDB queue (a real SecantusDB server)
and are trained by a real worker (`run_worker` in a thread); the study reads every result
back from the store, the per-bar equity from GridFS."""

from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf
from study_helpers import TINY

from qraptor.core.config import compose
from qraptor.core.layout import BASELINES_EQUITY, EQUITY, stored_name
from qraptor.store import SessionStore
from qraptor.study.config import compose_study, study_config_from
from qraptor.study.driver import run_study
from qraptor.worker.config import load_worker_config
from qraptor.worker.loop import run_worker


def test_a_study_through_the_queue_and_a_worker(
    sample_dataset: Path, mongo_server, database_name: str, make_config, tmp_path: Path
) -> None:
    store_cfg = make_config(f"uri={mongo_server.uri}", f"database={database_name}")
    out = tmp_path / "queued"
    cfg = study_config_from(
        compose_study(
            [
                "runner=queue",
                "folds=[2,3]",
                "seeds=2",
                "queue.poll_seconds=0.2",
                "queue.timeout_seconds=300",
                f"out_dir={out}",
            ]
        )
    )
    base = OmegaConf.to_container(
        compose("train", [*TINY, f"session.dataset={sample_dataset}"]), resolve=True
    )
    stop = threading.Event()
    worker = threading.Thread(
        target=run_worker,
        args=(store_cfg,),
        kwargs={
            "worker_id": "w-study",
            "worker_cfg": load_worker_config(),
            "stop": stop,
            "poll_seconds": 0.2,
            "root": tmp_path,
        },
        daemon=True,
    )
    worker.start()
    try:
        summary = run_study(cfg, base, tmp_path, store_cfg, progress=False)  # type: ignore[arg-type]
    finally:
        stop.set()
        worker.join(timeout=60)

    sessions = summary["sessions"]
    assert [(s["fold"], s["seed"], s["status"]) for s in sessions] == [
        (2, 0, "succeeded"),
        (2, 1, "succeeded"),
        (3, 0, "succeeded"),
        (3, 1, "succeeded"),
        (None, 0, "succeeded"),
        (None, 1, "succeeded"),
    ]  # fmt: skip  (the trial's folds queued together; the held-out sessions after the search)
    with SessionStore(mongo_server.uri, database_name, store_cfg) as store:
        for session in sessions:
            doc = store.get(session["run"])  # the queued session's id
            assert doc["status"] == "succeeded" and doc["worker_id"] == "w-study"
            assert doc["sweep_id"] == summary["study_id"]
            assert f"study:{summary['study_id']}" in doc["tags"]
            assert doc["config"]["session"]["fold"] == session["fold"]
            names = {f["name"] for f in doc["files"]}
            assert {stored_name("test", EQUITY), stored_name("test", BASELINES_EQUITY)} <= names
    # the study's series is the worker's equity, read back from GridFS
    fold_session = sessions[2]
    downloaded = out / "sessions" / "trial000-fold3-seed0" / stored_name("test", EQUITY)
    frame = pd.read_csv(downloaded)
    equity = frame["equity"].to_numpy()
    stamps = pd.to_datetime(frame["timestamp"], utc=True)
    seeds = pd.read_parquet(out / "oos_seed_returns.parquet")["trial_000.seed_0"]
    fold3 = seeds.loc[stamps.iloc[1:]]  # fold 3's window of the stitched series
    assert fold3.notna().all() and len(fold3) == len(equity) - 1
    assert abs(fold3.to_numpy() - (equity[1:] / equity[:-1] - 1)).max() < 1e-12
    assert summary["trials"][0]["status"] == "finished"
    assert summary["held_out"]["verdict"] is not None and fold_session["seconds"] > 0
