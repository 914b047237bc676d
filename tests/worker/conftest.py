"""Fixtures of the worker tests: the tiny dataset and a submitter of tiny sessions."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
from worker_processes import TINY

from qraptor.store import SessionStore
from qraptor.worker.submit import enqueue, request_from_overrides


@pytest.fixture(scope="module")
def dataset(tiny_dataset: Path) -> Path:
    return tiny_dataset


@pytest.fixture
def submit(dataset) -> Callable[..., list[str]]:
    """submit(store, *overrides, seeds=range(1)) -> ids: tiny sessions, composed once."""

    def queue(store: SessionStore, *overrides: str, seeds=range(1)) -> list[str]:
        base = request_from_overrides([*TINY, f"session.dataset={dataset}", *overrides])
        requests = [
            dataclasses.replace(
                base, config={**base.config, "session": {**base.config["session"], "seed": s}}
            )
            for s in seeds
        ]
        return enqueue(store, requests)

    return queue
