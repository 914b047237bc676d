"""`qraptor demo` (`make demo`): the pipeline on the shipped sample, then what it found.

Output a person reads top to bottom: DVC's stage lines (each stage's own log under it),
the offline plots' page, the data in brief, the agent-vs-baselines table with its verdict
(once), then where to look next, named after this run (its MLflow run and registered
model). `dvc repro` runs through DVC's API rather than its command, which closes with
"Use `dvc push` to send your updates to remote storage" and, when dvc.lock changed, a
`git add` hint: advice for a project with a remote, confusing on a fresh clone.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from qraptor.core.errors import QraptorError
from qraptor.core.log import get_logger

log = get_logger(__name__)
PLOTS_PAGE = "dvc_plots/index.html"


class DemoError(QraptorError):
    """A stage of the demo's pipeline failed (its own output above says why)."""


def run_demo(project: Path, console: Console) -> None:
    """Reproduce the pipeline in `project`, then print the summary and the next steps."""
    from qraptor.analysis.metrics_view import metrics_table
    from qraptor.analysis.project import project_paths
    from qraptor.evaluation.report import read_dvc_metrics, summary_table

    ran = reproduce(project)
    which = f" ({', '.join(ran)})" if ran else ", all up to date"
    console.print(f"pipeline: {len(ran)} stage(s) ran{which}", highlight=False)
    paths = project_paths(project)
    write_plots(project)
    console.print(f"plots: {PLOTS_PAGE} (open it in a browser; works offline)", highlight=False)
    console.print()
    console.print("[bold]data[/] (all figures: qraptor metrics)")
    console.print(metrics_table(paths.metrics))
    console.print()
    console.print(summary_table(read_dvc_metrics(paths.metrics / "evaluate.json")))
    console.print()
    console.print("One session's Sharpe on a few thousand bars proves little. Next:")
    for command, what in next_steps(project, paths.agent):
        console.print(f"  [bold]{escape(command)}[/]", highlight=False, soft_wrap=True)
        console.print(f"      {escape(what)}", highlight=False)


def reproduce(project: Path) -> list[str]:
    """`dvc repro` in `project`: the names of the stages that ran. DVC's logger prints the
    stage lines; the stages' commands share this process's terminal (progress bars)."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with Repo(str(project)) as repo:
            repo.scm_context.quiet = True  # no "git add dvc.lock" advice
            stages = repo.reproduce()
    except DvcException as exc:
        raise DemoError(f"dvc repro in {project} failed: {exc}") from None
    return [stage.addressing for stage in stages]


def write_plots(project: Path) -> None:
    """DVC's offline plots page (`dvc plots show`), its output kept out of the demo's."""
    done = subprocess.run(
        ["dvc", "plots", "show", "--out", "dvc_plots"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip()
        raise DemoError(f"dvc plots show in {project} failed: {said}")


def next_steps(project: Path, agent: Path) -> list[tuple[str, str]]:
    """(command, what it shows) to go on with, naming this run's MLflow run and registered
    model where they are found."""
    folder = _rel(agent, project)
    steps = [
        ("qraptor study", "walk-forward folds x seeds: a verdict that can hold"),
        (f"qraptor backtest {folder} --data FILE", "the trained agent on bars of your own"),
        (f"{folder}/model_card.md", "the agent's model card"),
        ("qraptor train experiment=portfolio_quick", "a portfolio of the 20-stock sample vs 1/N"),
        ("qraptor compare --sweep ID", "the best of a sweep, its Sharpe deflated (DSR)"),
        ("qraptor metrics", "every stage's figures, compact"),
    ]
    run = _pipeline_run(project, agent)
    if run is not None:
        steps.append(
            ("mlflow ui --backend-store-uri sqlite:///mlflow.db",
             f"this run: {run['run_id']} in experiment {run['experiment']!r}")
        )  # fmt: skip
        if run.get("model"):
            steps.append(
                (f"mlflow models serve -m models:/{run['model']} --env-manager local",
                 "the registered policy: bars in, decisions out")
            )  # fmt: skip
    steps.append(("qraptor dashboard", "this agent, the data, queued sessions and comparisons"))
    return steps


def _rel(path: Path, project: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path(project).resolve()))
    except ValueError:
        return str(path)


def _pipeline_run(project: Path, agent: Path) -> dict[str, Any] | None:
    """The MLflow run of the pipeline's train stage (found by its output folder tag) and
    its registered model version, or None when tracking is off or the store unreadable."""
    from qraptor.tracking.pipeline_run import find_pipeline_run

    try:
        return find_pipeline_run(project, agent)
    except QraptorError as exc:
        log.warning("the pipeline's MLflow run was not found: %s", exc)
        return None
