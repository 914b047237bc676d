"""`qraptor study [overrides]`: a purged walk-forward study of training sessions.

Composes conf/study.yaml (the study) and conf/train.yaml (the sessions' base config) once
each, runs the study (qraptor.study) and prints its table and verdict. An override whose
key is a section or group of a session (experiment, session, algo, env, tracking, ledger)
goes to conf/train.yaml after `study.overrides`; `store.*` and `study=NAME` go to
conf/study.yaml; any other key is a key of the study (`seeds=5` is study.seeds).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

SESSION_KEYS = ("experiment", "session", "algo", "env", "tracking", "ledger")

DESCRIPTION = (
    "Run a walk-forward study: every trial (one configuration of a training session) is "
    "trained on each walk-forward fold's training span with `seeds` seeds (default 3) and "
    "evaluated on the fold's test window; the out-of-sample bar returns are stitched across "
    "folds per seed and the trial is scored on the median across seeds of their per-bar "
    "Sharpe (score=lcb: a lower confidence bound), never on the best seed. Trials come from "
    "the sessions' own config (search=none), a grid, or Optuna's TPE (search=optuna, a "
    "global n_trials budget). The best trial is then retrained on the chronological train "
    "split per seed and evaluated ONCE on the held-out test span; nothing else touches it. "
    "Writes study.json (trials, PBO, DSR, the bars of live or paper record still needed, "
    "the held-out verdict), oos_returns.parquet and oos_equity.png to study.out_dir "
    "(default reports/studies/<name>). Sessions train here (runner=process, each an MLflow "
    "run under the study's parent run) or on `qraptor worker`s (runner=queue). Defaults: "
    "conf/study/default.yaml."
)
EXAMPLES = """examples:
  qraptor study experiment=tiny                      # 1 config x 4 folds x 3 seeds, seconds
  qraptor study experiment=tiny seeds=2 folds=[2,3]  # fewer sessions
  qraptor study                                      # the default session at full size
  qraptor study study=ppo_search                     # Optuna: 20 trials, median pruning
  qraptor study study=ppo_search n_trials=8 score=lcb
  qraptor study runner=queue experiment=quick        # sessions for `qraptor worker`s
  qraptor study experiment=tiny tracking.enabled=false out_dir=/tmp/my-study"""


def split_overrides(overrides: Sequence[str]) -> tuple[list[str], list[str]]:
    """(overrides of conf/study.yaml, overrides of conf/train.yaml for the sessions)."""
    study, session = [], []
    for override in overrides:
        body = override.lstrip("+~")
        head = body.split("=", 1)[0].split(".", 1)[0].split("@", 1)[0]
        (session if head in SESSION_KEYS else study).append(override)
    return study, session


def run(overrides: Sequence[str], progress: bool = True) -> dict[str, Any]:
    """`qraptor study`: compose, run, print; the study's summary."""
    from omegaconf import OmegaConf
    from rich.console import Console

    from qraptor.core.config import compose
    from qraptor.core.paths import project_root
    from qraptor.store.config import store_config_from
    from qraptor.study.config import compose_study, study_config_from
    from qraptor.study.driver import run_study
    from qraptor.study.report import closing_lines, terminal_table
    from qraptor.train.config import TRAIN_CONFIG

    study_overrides, session_overrides = split_overrides(overrides)
    composed = compose_study(study_overrides)
    cfg = study_config_from(composed)
    train = compose(TRAIN_CONFIG, [*cfg.overrides, *session_overrides])
    base = OmegaConf.to_container(train, resolve=True)
    assert isinstance(base, dict)
    store = store_config_from(composed.store) if cfg.runner == "queue" else None
    summary = run_study(cfg, base, project_root(), store, progress=progress)
    out = Console()
    out.print(terminal_table(summary))
    for line in closing_lines(summary):
        out.print(line, highlight=False, soft_wrap=True)
    return summary
