"""Schema of conf/store: where the session database is and how the store behaves.

Types and ranges only; every value lives in conf/store/default.yaml. Keys in range errors
are relative to the `store` group (`to_schema` adds the ``store.``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from omegaconf import DictConfig

from qraptor.core.config import check, load_section, to_schema


@dataclass
class LocalServerConfig:
    """The SecantusDB server qraptor manages when no URI is configured."""

    dir: str  # data folder; relative paths are under the project root
    host: str  # loopback: the local server runs without authentication
    port: int | None  # None = a free port, remembered in server.json
    cache_size: str  # WiredTiger cache, e.g. 256M
    sync_on_commit: bool  # durable acknowledged writes across a server crash
    start_timeout_seconds: float
    stop_timeout_seconds: float

    def __post_init__(self) -> None:
        check(bool(self.dir.strip()), "local.dir", "must not be empty")
        check(self.port is None or 0 < self.port < 65536, "local.port", "must be in 1..65535")
        check(
            self.cache_size[-1:].upper() in ("K", "M", "G") and self.cache_size[:-1].isdigit(),
            "local.cache_size",
            f"'{self.cache_size}' is not a size like 256M or 1G",
        )
        check(self.start_timeout_seconds > 0, "local.start_timeout_seconds", "must be > 0")
        check(self.stop_timeout_seconds > 0, "local.stop_timeout_seconds", "must be > 0")


@dataclass
class RetryConfig:
    """Exponential backoff while the database is unreachable."""

    initial_delay_seconds: float
    multiplier: float
    max_delay_seconds: float
    total_seconds: float  # overall bound; then StoreUnavailable

    def __post_init__(self) -> None:
        check(self.initial_delay_seconds > 0, "retry.initial_delay_seconds", "must be > 0")
        check(self.multiplier >= 1.0, "retry.multiplier", "must be >= 1")
        check(
            self.max_delay_seconds >= self.initial_delay_seconds,
            "retry.max_delay_seconds",
            "must be >= retry.initial_delay_seconds",
        )
        check(self.total_seconds >= 0, "retry.total_seconds", "must be >= 0")


@dataclass
class StoreConfig:
    """Schema of conf/store/default.yaml."""

    uri: str | None  # None: QRAPTOR_MONGO_URI, else the local server
    database: str
    collection: str
    local: LocalServerConfig
    lease_seconds: float
    heartbeat_seconds: float
    max_attempts: int
    requeue_delay_seconds: float  # after a failed attempt; doubles per attempt
    requeue_delay_max_seconds: float
    keep_checkpoints: int
    claim_batch: int
    ship_datasets: bool  # submitters publish each dataset version for workers elsewhere
    server_selection_timeout_seconds: float
    retry: RetryConfig

    def __post_init__(self) -> None:
        check(self.uri is None or "://" in self.uri, "uri", "must be a mongodb:// URI or null")
        bad = set('/\\. "$') & set(self.database)
        check(bool(self.database) and not bad, "database", "must be a plain MongoDB name")
        check(bool(self.collection) and "$" not in self.collection, "collection", "invalid name")
        check(self.lease_seconds > 0, "lease_seconds", "must be > 0")
        check(
            0 < self.heartbeat_seconds <= self.lease_seconds / 3 + 1e-9,  # 1.2 / 3 < 0.4
            "heartbeat_seconds",
            f"must be > 0 and at most lease_seconds / 3 (here {self.lease_seconds / 3:g}), so "
            "a lease survives two missed or slow heartbeats",
        )
        check(self.max_attempts >= 1, "max_attempts", "must be >= 1")
        check(self.requeue_delay_seconds >= 0, "requeue_delay_seconds", "must be >= 0")
        check(
            self.requeue_delay_max_seconds >= self.requeue_delay_seconds,
            "requeue_delay_max_seconds",
            "must be >= store.requeue_delay_seconds",
        )
        check(self.keep_checkpoints >= 1, "keep_checkpoints", "must be >= 1")
        check(self.claim_batch >= 1, "claim_batch", "must be >= 1")
        check(
            self.server_selection_timeout_seconds > 0,
            "server_selection_timeout_seconds",
            "must be > 0",
        )


def store_config_from(section: DictConfig | dict) -> StoreConfig:
    """Validate the `store` section of a composed config (e.g. ``cfg.store``)."""
    return to_schema(section, StoreConfig, "store")


def load_store_config(overrides: Sequence[str] = ()) -> StoreConfig:
    """The `store` section of conf/qraptor.yaml with Hydra `overrides` (``lease_seconds=30``,
    ``store.lease_seconds=30``, ``store=other``), validated."""
    return load_section("qraptor", "store", StoreConfig, overrides)
