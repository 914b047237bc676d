"""Identifiers that join records across the store, MLflow and files, defined once."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

# Set by `qraptor train` for the jobs of a -m sweep (joblib's processes inherit it): every job
# nests its MLflow run under the same parent and records its ledger trial under that sweep.
SWEEP_ENV = "QRAPTOR_SWEEP_ID"


def new_sweep_id() -> str:
    """Readable and time-sorted: sweep-20261125-174749-3fa9c2."""
    return f"sweep-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


# The MLflow tag of a session run's output folder (`qraptor train` sets it): how the run of a
# DVC pipeline's train stage, which never went through the store, is found again.
OUTPUT_DIR_TAG = "qraptor.output_dir"
