"""The README's "Your own data" commands work as written: `dvc add` on a folder under
data/raw/, then the `git add` it gives, in a git copy of the project. The project's
.gitignore already keeps data/raw/* out of git, so DVC writes no data/raw/.gitignore; a
`git add` naming one fails (`pathspec ... did not match`) and stages nothing at all."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
NAME = "mine"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["DVC_NO_ANALYTICS"] = "1"
    return env


def git(args: list[str], cwd: Path) -> str:
    identity = ["-c", "user.email=t@example.com", "-c", "user.name=t"]
    done = subprocess.run(["git", *identity, *args], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def readme_commands(readme: Path) -> list[str]:
    """The `dvc add` / `git add` commands of the "Your own data" section that version a
    folder `data/raw/<name>`, in the order the README gives them."""
    text = readme.read_text(encoding="utf-8")
    section = text[text.index("### Your own data") :]
    section = section[: section.index("\n## ", 1)] if "\n## " in section else section
    spans = re.findall(r"`([^`\n]+)`", section)
    return [s for s in spans if s.startswith(("dvc add ", "git add ")) and "<name>" in s]


def test_the_readme_versions_a_folder_of_own_data_as_written(
    project_root: Path, tmp_path: Path
) -> None:
    commands = readme_commands(project_root / "README.md")
    assert [c.split()[0] for c in commands] == ["dvc", "git"], commands
    listed = git(["ls-files"], project_root).split()
    repo = tmp_path / "clone"
    for name in listed:
        source = project_root / name
        if source.is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    git(["init", "-q"], repo)
    git(["add", "-A"], repo)
    git(["commit", "-qm", "clone"], repo)
    folder = repo / "data/raw" / NAME
    folder.mkdir(parents=True)
    for day in ("2024-01-02", "2024-01-03"):
        (folder / f"{day}.csv").write_text(f"timestamp,price,size\n{day}T09:00:00Z,1.5,2\n")

    for command in commands:
        args = shlex.split(command.replace("<name>", NAME))
        done = subprocess.run(args, cwd=repo, env=_env(), capture_output=True, text=True)
        assert done.returncode == 0, f"{command}:\n{done.stdout}\n{done.stderr}"

    staged = git(["diff", "--cached", "--name-only"], repo).split()
    assert staged == [f"data/raw/{NAME}.dvc"]  # the pointer file, and only it
    untracked = git(["status", "--porcelain", "--untracked-files=all"], repo).splitlines()
    assert [line for line in untracked if not line.startswith("A ")] == []  # data: DVC's
    pointer = (repo / f"data/raw/{NAME}.dvc").read_text()
    assert f"path: {NAME}" in pointer and "nfiles: 2" in pointer
