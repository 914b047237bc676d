"""The words of the session store: session statuses and file kinds, defined once.

Every module (store, worker, CLI, dashboard) imports these instead of spelling strings, so a
typo is a NameError, not a session stuck in a status nobody queries.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """Lifecycle of a session: queued -> running -> succeeded | failed | cancelled.

    A running session whose lease expired is claimable again (another attempt); failed and
    cancelled sessions go back to queued only through an explicit `retry`.
    """

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL = frozenset({Status.SUCCEEDED, Status.FAILED, Status.CANCELLED})
RETRYABLE = frozenset({Status.FAILED, Status.CANCELLED})
CANCELLABLE = frozenset({Status.QUEUED, Status.RUNNING})


class FileKind(StrEnum):
    """What a GridFS file linked from a session holds."""

    MODEL = "model"  # the final SB3 model zip
    CHECKPOINT = "checkpoint"  # periodic training state; the latest K are kept
    KERAS_H5 = "keras_h5"  # the Keras HDF5 export of the policy
    TRADE_LOG = "trade_log"  # evaluation trade log (CSV)
    EQUITY_CURVE = "equity_curve"  # evaluation equity curve (CSV)
    VEC_NORMALIZE = "vec_normalize"  # SB3 VecNormalize statistics, needed to reuse a model
    METRICS = "metrics"  # evaluation metrics (JSON)
    DATA_RECORD = "data_record"  # the data path the model was trained on (data.json)
    MODEL_CARD = "model_card"  # the run's model card (Markdown)
    VALIDATION = "validation"  # the in-training validation curve (validation.csv)
    WEIGHTS = "weights"  # a portfolio evaluation's weights per bar (CSV)


def parse_status(value: str | Status) -> Status:
    """`value` as a Status, or a StoreError listing the valid ones."""
    from qraptor.store.errors import StoreError

    try:
        return Status(value)
    except ValueError:
        valid = ", ".join(s.value for s in Status)
        raise StoreError(f"unknown session status '{value}' (valid: {valid})") from None


def parse_kind(value: str | FileKind) -> FileKind:
    """`value` as a FileKind, or a StoreError listing the valid ones."""
    from qraptor.store.errors import StoreError

    try:
        return FileKind(value)
    except ValueError:
        valid = ", ".join(k.value for k in FileKind)
        raise StoreError(f"unknown file kind '{value}' (valid: {valid})") from None
