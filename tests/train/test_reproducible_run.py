"""The same session trained twice, at different times into different folders, leaves the
same bytes in every file of its run folder that DVC hashes (issue 13, problem 10): the
`train` stage's `models/agent` hash in dvc.lock is the same on every rerun. The files left
out of the hash are exactly the .dvcignore patterns of the run folder; model zips hold no
wall-clock bytes and still load and resume."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
import zipfile
from fnmatch import fnmatch
from pathlib import Path

import cloudpickle

from qraptor.core import layout
from qraptor.core.paths import project_root
from qraptor.train import load_train_config, train_session
from qraptor.train.algos import load_model
from qraptor.train.model_zip import FIXED_DATE

RUN_FOLDER = "/models/agent/"  # dvc.yaml vars.paths.agent


def ignored_patterns() -> list[str]:
    """The run folder's .dvcignore patterns, relative to the run folder."""
    lines = (project_root() / ".dvcignore").read_text().splitlines()
    return [line.removeprefix(RUN_FOLDER) for line in lines if line.startswith(RUN_FOLDER)]


def hashed_files(run: Path) -> dict[str, str]:
    """md5 of every file of `run` that DVC hashes (not matched by .dvcignore)."""
    patterns = ignored_patterns()
    out = {}
    for path in sorted(p for p in run.rglob("*") if p.is_file()):
        rel = path.relative_to(run).as_posix()
        if any(rel.startswith(p) if p.endswith("/") else fnmatch(rel, p) for p in patterns):
            continue
        out[rel] = hashlib.md5(path.read_bytes()).hexdigest()
    return out


def test_same_session_same_hashed_bytes(fast_overrides, tmp_path: Path) -> None:
    cfg = load_train_config(fast_overrides("ppo"))
    a = train_session(cfg, tmp_path / "a")
    time.sleep(2.1)  # zip dates have a 2 s resolution; start_time is in nanoseconds
    b = train_session(cfg, tmp_path / "elsewhere" / "b")
    files = hashed_files(tmp_path / "a")
    assert {layout.MODEL, layout.METRICS, layout.CONFIG} <= files.keys()
    assert any(name.startswith("checkpoints/") for name in files)
    assert files == hashed_files(tmp_path / "elsewhere" / "b")
    # the wall-clock figures are kept, next to the summary, out of the hash
    summary = json.loads((tmp_path / "a" / layout.METRICS).read_text())
    assert not {"seconds", "timesteps_per_second", "eval_seconds"} & summary.keys()
    timings = json.loads((tmp_path / "elsewhere" / "b" / layout.TIMINGS).read_text())
    assert timings["seconds"] == round(b.seconds, 3) > 0
    assert "logs/" in ignored_patterns() and a.timesteps == b.timesteps


def test_model_zip_has_no_clock_and_resumes(fast_overrides, tmp_path: Path) -> None:
    cfg = load_train_config(fast_overrides("ppo"))
    done = train_session(cfg, tmp_path / "a")
    with zipfile.ZipFile(done.model_path) as archive:
        assert {i.date_time for i in archive.infolist()} == {FIXED_DATE}
        text = archive.read("data").decode()
        data = json.loads(text)
        assert "- OS:" not in archive.read("system_info.txt").decode()
    assert "start_time" not in data
    # the readable class descriptions without memory addresses (new in every process, so
    # two sessions in this one process cannot show it)
    assert "<function ActorCriticPolicy.forward>" in text and " at 0x" not in text
    buffer = base64.b64decode(data["ep_info_buffer"][":serialized:"])
    episodes = cloudpickle.load(io.BytesIO(buffer))
    assert episodes and all(set(e) == {"r", "l"} for e in episodes)  # rewards, lengths kept
    loaded = load_model("ppo", done.model_path, None, device="cpu")
    assert loaded.num_timesteps == done.timesteps and len(loaded.ep_info_buffer) == len(episodes)
    longer = load_train_config(fast_overrides("ppo", "session.total_timesteps=512"))
    resumed = train_session(longer, tmp_path / "b", resume_from=done.checkpoints[-1])
    assert resumed.timesteps >= 512 and "sharpe" in resumed.metrics["val"]
