"""A training run's folder and the names its files have in GridFS, defined once.

    <run dir>/
        config.yaml                 the resolved config
        model.zip                   the final SB3 model
        model_best_val.zip          the model with the best in-training validation metric
        validation.csv              the in-training validation curve: one row per
                                    evaluation, timesteps + every metric (train/validation.py)
        metrics.json                the session summary (qraptor.train.summary)
        timings.json                its wall-clock figures (kept out of DVC's hash)
        policy.h5                   the Keras HDF5 export (when tracking exports it)
        data.json                   the data path it was trained on (qraptor.data.record):
                                    pipeline settings, frozen normalisation, spans, version
        provenance.json             the code it was trained with: git commit, dirty or not
                                    (kept out of DVC's hash: a new commit is not a new model)
        model_card.md               the model card (qraptor.tracking.model_card), made from
        model_card_curve.png        the files above only; its training-curve figure (both
                                    kept out of DVC's hash)
        eval/<split>/               trades.csv, equity.csv, baselines_equity.csv, metrics.json

In GridFS a session's evaluation files are flat: ``<split>_<file>`` (``val_equity.csv``),
the others keep their names. Writers and readers (trainer, worker, tracking, compare, the
dashboard, notebooks) all take the names from here.
"""

from __future__ import annotations

from pathlib import Path

CONFIG = "config.yaml"
MODEL = "model.zip"
BEST_MODEL = "model_best_val.zip"
VALIDATION = "validation.csv"
METRICS = "metrics.json"
TIMINGS = "timings.json"
KERAS_H5 = "policy.h5"
DATA_RECORD = "data.json"
PROVENANCE = "provenance.json"
MODEL_CARD = "model_card.md"
CARD_CURVE = "model_card_curve.png"
EVAL_DIR = "eval"
TRADES = "trades.csv"
EQUITY = "equity.csv"
WEIGHTS = "weights.csv"  # a portfolio session: its weights after each bar
BASELINES_EQUITY = "baselines_equity.csv"
EVAL_FILES = (TRADES, EQUITY, BASELINES_EQUITY)


def eval_dir(run_dir: str | Path, split: str) -> Path:
    """The folder of one split's evaluation inside a run folder."""
    return Path(run_dir) / EVAL_DIR / split


def stored_name(split: str, file: str) -> str:
    """The GridFS name of one split's evaluation file: ``val_equity.csv``."""
    return f"{split}_{file}"


def split_of(stored: str, file: str) -> str | None:
    """The split of a stored evaluation file name, None when it is not one of `file`'s."""
    if not stored.endswith(f"_{file}"):
        return None
    split = stored.removesuffix(f"_{file}")
    # `val_baselines_equity.csv` also ends with `_equity.csv`
    others = [f for f in EVAL_FILES if f != file and f.endswith(file)]
    return None if any(stored.endswith(f"_{o}") for o in others) else split
