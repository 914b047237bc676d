"""The notebooks run top to bottom on real sample outputs (nbclient, this venv's kernel), in
both of the results notebook's modes, and are committed without outputs."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from qraptor.analysis.run_notebook import execute_notebook, has_outputs, strip_outputs

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
DATA = NOTEBOOKS / "01-data-overview.ipynb"
RESULTS = NOTEBOOKS / "02-results-analysis.ipynb"


def _text(notebook) -> str:
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def _images(notebook) -> int:
    return sum(
        "image/png" in o.get("data", {}) for c in notebook.cells for o in c.get("outputs", [])
    )


@pytest.mark.parametrize("path", [DATA, RESULTS], ids=lambda p: p.name)
def test_committed_notebooks_have_no_outputs(path: Path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    assert not has_outputs(notebook), f"{path.name}: strip it (run_notebook --strip)"
    assert notebook.metadata.kernelspec.name == "python3"


def test_strip_outputs_clears_an_executed_copy(sample_project, tmp_path):
    executed = execute_notebook(DATA, env={"QRAPTOR_PROJECT": str(sample_project.root)})
    assert has_outputs(executed) and _images(executed) >= 3
    assert "weekday" in _text(executed)
    copy = tmp_path / "copy.ipynb"
    nbformat.write(executed, copy)
    assert strip_outputs(copy) and not has_outputs(nbformat.read(copy, as_version=4))


def test_the_results_notebook_reads_the_dvc_outputs_without_a_database(sample_project):
    executed = execute_notebook(
        RESULTS, env={"QRAPTOR_PROJECT": str(sample_project.root), "QRAPTOR_MONGO_URI": ""}
    )
    text = _text(executed)
    assert "dvc repro: the sample run" in text and "deflated Sharpe DSR" in text
    assert _images(executed) >= 4
    # issue 14: the verdict cell, one line per split from evaluate.json (numbers, no text)
    for split in ("val", "test"):
        assert f"dvc-evaluate {split}: " in text
    assert "evidence of an edge over buy-and-hold after costs (PSR " in text
    # the concluding cell: the best run's verdict in a sentence, and what it means
    assert re.search(r"Best run dvc-evaluate on val: .*evidence of an edge", text)
    assert re.search(r"Conclusion: (an edge|no evidence of an edge)", text)


def test_the_results_notebook_analyses_a_stored_sweep(sample_project, store_sweep):
    env = {
        "QRAPTOR_PROJECT": str(sample_project.root),
        "QRAPTOR_MONGO_URI": store_sweep.uri,
        "QRAPTOR_SWEEP": store_sweep.sweep_id,
        "QRAPTOR_STORE_OVERRIDES": f"database={store_sweep.database}",
        "QRAPTOR_COMPARE_OVERRIDES": "bootstrap.reps=500",
    }
    text = _text(execute_notebook(RESULTS, env=env))
    assert f"sweep {store_sweep.sweep_id}: 5 runs" in text
    assert "'failed': 1" in text and "deflated Sharpe DSR" in text
    # the best run's verdict (judged from its stored curves) with the DSR over 5 trials
    assert re.search(r"evidence of an edge over buy-and-hold after costs \(PSR [^)]*; DSR "
                     r"\d\.\d\d over 5 trials\)", text)  # fmt: skip


def test_the_project_environment_opens_and_converts_the_notebooks(tmp_path: Path):
    """The [notebooks] extra brings JupyterLab (`make lab`) and nbconvert into the project's
    own environment: a user opens and converts the notebooks without another install."""
    import subprocess
    import sys

    bin_dir = Path(sys.executable).parent
    lab = subprocess.run([bin_dir / "jupyter", "lab", "--version"], capture_output=True, text=True)
    assert lab.returncode == 0 and re.match(r"4\.", lab.stdout), lab.stderr
    done = subprocess.run(
        [bin_dir / "jupyter", "nbconvert", "--to", "html", "--output-dir", str(tmp_path), RESULTS],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "02-results-analysis.html").read_text()
    assert "<title>02-results-analysis</title>" in page and ">Conclusion<" in page
