"""Run the analysis notebooks without Jupyter, and keep committed notebooks free of outputs.

    python -m qraptor.analysis.run_notebook notebooks/01-data-overview.ipynb
    python -m qraptor.analysis.run_notebook notebooks/02-results-analysis.ipynb --out /tmp/r.ipynb
    python -m qraptor.analysis.run_notebook --strip notebooks/*.ipynb   # before committing

The kernel is this interpreter's (`python3` resolves to `sys.executable`), started in the
notebook's folder with matplotlib's inline backend (figures become PNG outputs, no display
needed); parameters come from the
environment (QRAPTOR_PROJECT, QRAPTOR_SWEEP, ...: see each notebook's parameters cell).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from qraptor.core.errors import QraptorError
from qraptor.core.extras import require

if TYPE_CHECKING:
    from nbformat import NotebookNode

DEFAULT_OUT = Path("reports/notebooks")
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


def execute_notebook(
    path: str | Path, *, env: Mapping[str, str] | None = None, timeout: int = 600
) -> NotebookNode:
    """Execute every cell of the notebook at `path` in a fresh kernel started in its folder;
    `env` adds to this process's environment. A failing cell raises nbclient's
    CellExecutionError naming the cell and the traceback."""
    nbformat = require("nbformat", "notebooks")
    NotebookClient = require("nbclient", "notebooks").NotebookClient
    path = Path(path).resolve()
    notebook = nbformat.read(path, as_version=4)
    kernel_env = {**os.environ, "MPLBACKEND": INLINE_BACKEND, **(env or {})}
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=timeout,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute(env=kernel_env)
    return notebook


def has_outputs(notebook: NotebookNode) -> bool:
    """True when any code cell carries outputs or an execution count."""
    return any(
        cell.get("outputs") or cell.get("execution_count") is not None
        for cell in notebook.cells
        if cell.cell_type == "code"
    )


def strip_outputs(path: str | Path) -> bool:
    """Remove outputs and execution counts from the notebook at `path`; True if it changed."""
    nbformat = require("nbformat", "notebooks")
    notebook = nbformat.read(path, as_version=4)
    if not has_outputs(notebook):
        return False
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nbformat.write(notebook, path)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qraptor.analysis.run_notebook")
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, help=f"executed copy (default: {DEFAULT_OUT}/NAME)")
    parser.add_argument("--strip", action="store_true", help="only remove outputs in place")
    args = parser.parse_args(argv)
    for path in args.notebooks:
        if args.strip:
            print(f"{path}: {'stripped' if strip_outputs(path) else 'no outputs'}")
            continue
        out = args.out if args.out and len(args.notebooks) == 1 else DEFAULT_OUT / path.name
        executed = execute_notebook(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        require("nbformat", "notebooks").write(executed, out)
        print(f"{path}: executed -> {out}")
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except QraptorError as exc:  # a missing extra, a missing pipeline output: one line
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
