"""`qraptor card RUN_FOLDER`: (re)make a training run's model card from its files.

Training writes the card already (model_card.md in the run folder); this remakes it, e.g.
for a run trained before cards existed, after the template changed, or with another
conf/ to diff against. It reads the run folder only (qraptor.tracking.card_facts) and
conf/train.yaml's defaults (`--conf`, else the project's conf/; `--no-diff` skips them).
A folder that is not a finished run names the file it lacks.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from qraptor.core.config import find_conf_dir
from qraptor.core.errors import ConfigError


def run(args: argparse.Namespace) -> Path:
    """The command: gather, render, write; prints where the card went."""
    from qraptor.tracking.card_facts import default_train_config
    from qraptor.tracking.model_card import write_model_card

    defaults = None
    if not args.no_diff:
        try:
            conf = Path(args.conf) if args.conf else find_conf_dir()
        except ConfigError as exc:
            raise ConfigError(exc.key, f"{exc.problem} (or --no-diff: a card without it)") from None
        defaults = default_train_config(conf)
    path = write_model_card(args.run_folder, defaults)
    print(f"model card: {path}")  # the command's result: stdout (logs go to stderr)
    if args.print:
        print(path.read_text(encoding="utf-8"), end="")
    return path
