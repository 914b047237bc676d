"""`qraptor study [overrides]`: a purged walk-forward study of training sessions.

Composes conf/study.yaml (the study) and conf/train.yaml (the sessions' base config) once
each, runs the study (qraptor.study) and prints its table and verdict. An override whose
key is a section or group of a session (experiment, session, algo, env, tracking, ledger)
goes to conf/train.yaml after `study.overrides`; `store.*` and `study=NAME` go to
conf/study.yaml; any other key is a key of the study (`seeds=5` is study.seeds).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

SESSION_KEYS = ("experiment", "session", "algo", "env", "tracking", "ledger")


def split_overrides(overrides: Sequence[str]) -> tuple[list[str], list[str]]:
    """(overrides of conf/study.yaml, overrides of conf/train.yaml for the sessions)."""
    study: list[str] = []
    session: list[str] = []
    for override in overrides:
        body = override.lstrip("+~")
        head = body.split("=", 1)[0].split(".", 1)[0].split("@", 1)[0]
        (session if head in SESSION_KEYS else study).append(override)
    return study, session


def run(overrides: Sequence[str], progress: bool = True) -> dict[str, Any]:
    """`qraptor study`: compose, run, print; the study's summary."""
    from omegaconf import OmegaConf

    from qraptor.core.config import compose
    from qraptor.core.log import console_for_stdout
    from qraptor.core.paths import project_root
    from qraptor.study.config import compose_study, study_config_from
    from qraptor.study.driver import run_study, study_dir
    from qraptor.study.report import closing_lines, terminal_table
    from qraptor.train.config import TRAIN_CONFIG

    study_overrides, session_overrides = split_overrides(overrides)
    composed = compose_study(study_overrides)
    cfg = study_config_from(composed)
    train = compose(TRAIN_CONFIG, [*cfg.overrides, *session_overrides])
    base = cast("dict[str, Any]", OmegaConf.to_container(train, resolve=True))
    store = None
    if cfg.runner == "queue":
        from qraptor.store.config import store_config_from

        store = store_config_from(composed.store)
    root = project_root()
    card_defaults = None
    if cfg.runner == "process":  # queued sessions get their cards from the workers
        from qraptor.core.config import find_conf_dir
        from qraptor.tracking.card_facts import train_defaults

        card_defaults = train_defaults(find_conf_dir())
    summary = run_study(cfg, base, root, store, progress=progress, card_defaults=card_defaults)
    out = console_for_stdout()
    out.print(terminal_table(summary))
    for line in closing_lines(summary):
        out.print(line, highlight=False, soft_wrap=True)
    out.print(f"study.json, oos_returns.parquet, oos_equity.png in {study_dir(cfg, root)}",
              highlight=False, soft_wrap=True)  # fmt: skip
    return summary
