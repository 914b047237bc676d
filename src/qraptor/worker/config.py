"""Schema of conf/worker: how an idle worker polls, where scratch files go, housekeeping.

Types and ranges only; every value lives in conf/worker/default.yaml. Keys in range errors
are relative to the `worker` group (`to_schema` adds the ``worker.``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from omegaconf import DictConfig

from qraptor.core.config import check, load_section, to_schema


@dataclass
class WorkerConfig:
    """Schema of conf/worker/default.yaml."""

    poll_seconds: float  # first idle wait
    poll_max_seconds: float  # idle waits grow up to this
    poll_multiplier: float  # growth per empty poll
    work_dir: str | None  # parent of the per-session scratch folders; None = system temp
    keep_work_dir: bool  # keep scratch folders after the session (debugging)
    dataset_cache: (
        str | None
    )  # datasets fetched from the store; None = <system temp>/qraptor-datasets
    housekeeping_every_seconds: float  # between sweeps for what dead workers left
    housekeeping_min_age_seconds: float  # only older leftovers are touched

    def __post_init__(self) -> None:
        check(self.poll_seconds > 0, "poll_seconds", "must be > 0")
        check(
            self.poll_max_seconds >= self.poll_seconds,
            "poll_max_seconds",
            "must be >= worker.poll_seconds",
        )
        check(self.poll_multiplier >= 1.0, "poll_multiplier", "must be >= 1")
        check(self.work_dir is None or bool(self.work_dir.strip()), "work_dir", "empty path")
        check(
            self.dataset_cache is None or bool(self.dataset_cache.strip()),
            "dataset_cache",
            "empty path",
        )
        check(self.housekeeping_every_seconds > 0, "housekeeping_every_seconds", "must be > 0")
        check(
            self.housekeeping_min_age_seconds >= 0, "housekeeping_min_age_seconds", "must be >= 0"
        )


def worker_config_from(section: DictConfig | dict) -> WorkerConfig:
    """Validate the `worker` section of a composed config."""
    return to_schema(section, WorkerConfig, "worker")


def load_worker_config(overrides: Sequence[str] = ()) -> WorkerConfig:
    """The `worker` section of conf/qraptor.yaml with Hydra `overrides` (``poll_seconds=5``),
    validated."""
    return load_section("qraptor", "worker", WorkerConfig, overrides)
