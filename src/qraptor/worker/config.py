"""Schema of conf/worker: how an idle worker polls and where a session's scratch files go.

Types and ranges only; every value lives in conf/worker/default.yaml. Keys in range errors
are relative to the `worker` group (`to_schema` adds the ``worker.``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qraptor.core.config import check, load_group


@dataclass
class WorkerConfig:
    """Schema of conf/worker/default.yaml."""

    poll_seconds: float  # first idle wait
    poll_max_seconds: float  # idle waits grow up to this
    poll_multiplier: float  # growth per empty poll
    work_dir: str | None  # parent of the per-session scratch folders; None = system temp
    keep_work_dir: bool  # keep scratch folders after the session (debugging)

    def __post_init__(self) -> None:
        check(self.poll_seconds > 0, "poll_seconds", "must be > 0")
        check(
            self.poll_max_seconds >= self.poll_seconds,
            "poll_max_seconds",
            "must be >= worker.poll_seconds",
        )
        check(self.poll_multiplier >= 1.0, "poll_multiplier", "must be >= 1")
        check(self.work_dir is None or bool(self.work_dir.strip()), "work_dir", "empty path")


def load_worker_config(overrides: Sequence[str] = ()) -> WorkerConfig:
    """conf/worker/default.yaml with dotlist `overrides` (``"poll_seconds=5"``; a leading
    ``worker.`` is accepted too), validated."""
    return load_group("worker", WorkerConfig, overrides)
