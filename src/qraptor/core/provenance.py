"""Where a session's results came from: the code's git commit and the dataset's version.

Recorded on the session document (`git_commit`, `data_version`) when it is submitted (the
submitter's checkout) and again by the worker that trains it (what actually ran), so a
model found months later can be traced to the code and the exact data it was trained on.

The data version is DVC's hash of the dataset folder as dvc.lock records it for the
`split` stage's output, when that output is the folder in use and its file count and size
still match (a cheap guard against a folder changed since `dvc repro`). Otherwise it is a
sha256 over the folder's files (names and bytes), cached per process while the files'
sizes and modification times stay the same.
"""

from __future__ import annotations

import functools
import hashlib
import subprocess
from pathlib import Path
from typing import Any

import yaml

from qraptor.core.log import get_logger
from qraptor.core.paths import project_root

log = get_logger(__name__)

DVC_LOCK = "dvc.lock"
DVC_STAGE = "split"  # the stage whose output is the training dataset
_READ_BYTES = 1 << 20
_hash_cache: dict[tuple, str] = {}


def git_commit(root: Path | None = None) -> str | None:
    """`git rev-parse HEAD` of the project (None outside a repository or before a commit)."""
    # cached per resolved folder, not per argument: `root=None` means the current
    # directory's project, which a chdir changes
    return _head_commit(Path(root or project_root()).resolve())


@functools.lru_cache(maxsize=8)
def _head_commit(folder: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None


def git_dirty(root: Path | None = None) -> bool | None:
    """Whether tracked files differ from HEAD (uncommitted changes: the commit alone does
    not say what ran); None outside a repository. Untracked files are not counted."""
    folder = root or project_root()
    try:
        done = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=folder, capture_output=True, text=True, timeout=10,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(done.stdout.strip()) if done.returncode == 0 else None


def code_record(root: Path | None = None) -> dict[str, Any]:
    """What a run folder's provenance.json holds: the code a session was trained with."""
    return {"git_commit": git_commit(root), "git_dirty": git_dirty(root)}


def data_version(dataset: Path, root: Path | None = None) -> dict[str, Any] | None:
    """{"dataset", "method" (dvc.lock | sha256), "hash", "files", "bytes"} of a dataset
    folder; None when it does not exist here (a submitter without the data)."""
    dataset = Path(dataset).resolve()
    if not dataset.is_dir():
        return None
    root = (root or project_root()).resolve()
    files = sorted(p for p in dataset.rglob("*") if p.is_file())
    stats = [(p.relative_to(dataset).as_posix(), p.stat()) for p in files]
    total = sum(s.st_size for _, s in stats)
    shown = dataset.relative_to(root).as_posix() if dataset.is_relative_to(root) else str(dataset)
    version = {"dataset": shown, "files": len(files), "bytes": total}
    out = _dvc_out(root, dataset)
    if out is not None:
        if out.get("nfiles") == len(files) and out.get("size") == total and out.get("md5"):
            return {**version, "method": DVC_LOCK, "hash": str(out["md5"])}
        log.warning(
            "%s: dvc.lock's hash does not describe this folder any more (files or size "
            "differ; run `dvc repro`): recording a sha256 of its files instead",
            shown,
        )
    key = (str(dataset), tuple((name, s.st_size, s.st_mtime_ns) for name, s in stats))
    if key not in _hash_cache:
        _hash_cache[key] = _sha256_of(dataset, [name for name, _ in stats])
    return {**version, "method": "sha256", "hash": _hash_cache[key]}


def _dvc_out(root: Path, dataset: Path) -> dict[str, Any] | None:
    """dvc.lock's record of `dataset` as an output of the split stage, if it is one."""
    lock = root / DVC_LOCK
    try:
        stat = lock.stat()
    except OSError:
        return None
    try:
        stages = _stages(str(lock), stat.st_mtime_ns, stat.st_size)
    except (OSError, yaml.YAMLError) as exc:
        log.warning("%s is unreadable (%s): hashing the dataset instead", lock, exc)
        return None
    for out in (stages.get(DVC_STAGE) or {}).get("outs") or []:
        if isinstance(out, dict) and (root / str(out.get("path", ""))).resolve() == dataset:
            return out
    return None


@functools.lru_cache(maxsize=4)
def _stages(path: str, mtime_ns: int, size: int) -> dict[str, Any]:
    """The `stages` of a dvc.lock, parsed once per version of the file (~35 ms each)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return (yaml.load(Path(path).read_text(), Loader=loader) or {}).get("stages") or {}


def file_sha256(path: Path) -> str:
    """The sha256 of one file, read in blocks (what downloads and copied samples record)."""
    with Path(path).open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def _sha256_of(folder: Path, names: list[str]) -> str:
    """One digest over every file's relative name and bytes, in name order."""
    digest = hashlib.sha256()
    for name in names:
        digest.update(name.encode() + b"\0")
        with (folder / name).open("rb") as stream:
            while chunk := stream.read(_READ_BYTES):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()
