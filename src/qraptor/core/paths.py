"""The project root, defined once: the folder holding the project's `conf/` (and dvc.yaml).

Entry points find it (from $QRAPTOR_CONF_DIR or the current directory) and hand it down;
relative paths in configs (`session.dataset`, `store.local.dir`, the default MLflow store)
are relative to it, so a command behaves the same from any subfolder of the project.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from qraptor.core.config import find_conf_dir
from qraptor.core.errors import ConfigError


def find_project_root(start: str | Path | None = None) -> Path:
    """The folder holding `conf/`: $QRAPTOR_CONF_DIR's parent when that is set, else the
    nearest folder at or above `start` (default: the current directory). ConfigError when
    there is none."""
    return find_conf_dir(start).parent


def project_root(start: str | Path | None = None) -> Path:
    """`find_project_root`, or `start` (the current directory) outside any project: for
    commands that also work on a bare folder (a worker with a URI, a notebook's copy)."""
    try:
        return find_project_root(start)
    except ConfigError:
        return Path(start or Path.cwd()).resolve()


def installed_command(name: str) -> str | None:
    """The console script `name` of this interpreter's environment (the venv a command runs
    from, whether or not it is on PATH), else the one on PATH, else None."""
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.exists() else shutil.which(name)
