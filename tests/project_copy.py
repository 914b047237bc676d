"""Copies of the project for tests that run `dvc repro` or the CLI elsewhere, as a clone would.

A copy holds the files a fresh clone has (tracked and unignored ones, `dvc.lock` removed so
it starts as if nothing ever ran there), in its own git repository (DVC wants one). Commands
run with this virtualenv's tools first, the copy's own sources first, DVC's analytics off and
no inherited `QRAPTOR_CONF_DIR`, so each copy is its own project.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_GIT_USER = ["-c", "user.email=t@example.com", "-c", "user.name=t"]


def project_env(project: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a command run in `project` (a copy, or the project itself)."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(project / "src")
    env["DVC_NO_ANALYTICS"] = "1"
    env.pop("QRAPTOR_CONF_DIR", None)
    return {**env, **(extra or {})}


def run(
    args: Sequence[str],
    cwd: Path,
    *,
    check: bool = True,
    extra_env: Mapping[str, str] | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Run `args` in `cwd` (see `project_env`); with `check`, a failure shows its output."""
    done = subprocess.run(
        list(args),
        cwd=cwd,
        env=project_env(cwd, extra_env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
        )
    return done


def copy_project(dest: Path, *, skip: tuple[str, ...] = (), commit: bool = False) -> Path:
    """Copy the project's clone-visible files to `dest` (except paths starting with one of
    `skip`), without dvc.lock, as a git repository (with `commit`: its files committed)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in listed:
        source = ROOT / name
        if source.is_file() and not (skip and name.startswith(skip)):
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    (dest / "dvc.lock").unlink(missing_ok=True)
    run(["git", "init", "-q"], dest)
    if commit:
        commit_all(dest, "copy")
    return dest


def commit_all(repo: Path, message: str) -> None:
    """`git add -A && git commit` in `repo`, as a throwaway user."""
    run(["git", *_GIT_USER, "add", "-A"], repo)
    run(["git", *_GIT_USER, "commit", "-qm", message], repo)
