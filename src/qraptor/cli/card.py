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


def run(args: argparse.Namespace) -> Path:
    """The command: gather, render, write; prints where the card went."""
    from qraptor.tracking.card_facts import default_train_config
    from qraptor.tracking.model_card import write_model_card

    defaults = None
    if not args.no_diff:
        defaults = default_train_config(Path(args.conf) if args.conf else find_conf_dir())
    path = write_model_card(args.run_folder, defaults)
    print(f"model card: {path}")  # the command's result: stdout (logs go to stderr)
    if args.print:
        print(path.read_text(encoding="utf-8"), end="")
    return path
