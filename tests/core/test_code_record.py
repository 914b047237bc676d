"""provenance.json's code record: the commit, and whether tracked files had changed."""

from __future__ import annotations

import subprocess
from pathlib import Path

from qraptor.core.provenance import code_record


def _git(folder: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=folder, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def test_code_record_names_the_commit_and_a_dirty_checkout(tmp_path: Path) -> None:
    assert code_record(tmp_path) == {"git_commit": None, "git_dirty": None}  # no repository
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "a.py").write_text("x = 1\n")
    _git(repo, "add", "a.py")
    _git(repo, "commit", "-qm", "one")
    head = _git(repo, "rev-parse", "HEAD")
    assert code_record(repo) == {"git_commit": head, "git_dirty": False}
    (repo / "untracked.txt").write_text("not code of the commit\n")
    assert code_record(repo)["git_dirty"] is False  # untracked files do not count
    (repo / "a.py").write_text("x = 2\n")
    assert code_record(repo) == {"git_commit": head, "git_dirty": True}
