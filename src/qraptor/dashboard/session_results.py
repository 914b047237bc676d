"""A session's evaluation results from GridFS: equity (agent, price, position), the
baselines' equity and the trade log of one split, as the worker stored them.

Workers attach `<split>_equity.csv`, `<split>_baselines_equity.csv` and `<split>_trades.csv`
(qraptor.worker.attempt); the frames are rebuilt with the same function the reports
use (`evaluation.report.equity_frame`). Stored files never change under their sha256, so
the parsed frames are cached by it: a second look at a session costs no download.
"""

from __future__ import annotations

import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from qraptor.dashboard.problems import Unavailable
from qraptor.dashboard.store_source import StoreSource
from qraptor.evaluation.report import equity_frame
from qraptor.store.session import FileRef
from qraptor.store.status import FileKind, Status

CACHED_RESULTS = 32


@dataclass(frozen=True)
class SplitResult:
    split: str
    equity: pd.DataFrame  # timestamp, close, position, agent, one column per baseline
    trades: pd.DataFrame  # the trade log (empty when the agent never traded)


def result_splits(doc: dict[str, Any]) -> list[str]:
    """Splits with a stored agent equity curve, in the order the session evaluated them."""
    names = [f["name"] for f in doc.get("files") or [] if f["kind"] == FileKind.EQUITY_CURVE]
    splits = [n.removesuffix("_equity.csv") for n in names if n.endswith("_equity.csv")]
    return [s for s in splits if not s.endswith("_baselines")]


def no_results(doc: dict[str, Any]) -> Unavailable:
    """Why a session has nothing to plot, and what would produce it."""
    status = doc["status"]
    what = f"results of session {doc['_id']}"
    if status in (Status.QUEUED, Status.RUNNING):
        return Unavailable(what, f"the session is {status}", "qraptor worker (trains it)")
    if status == Status.SUCCEEDED:
        return Unavailable(what, "no equity CSVs are linked", f"qraptor sessions show {doc['_id']}")
    return Unavailable(what, f"the session {status}", f"qraptor sessions retry {doc['_id']}")


class ResultFiles:
    """Loads and caches SplitResults through the shared store."""

    def __init__(self, source: StoreSource) -> None:
        self.source = source
        self._cache: OrderedDict[tuple[str, ...], SplitResult] = OrderedDict()
        self._lock = threading.Lock()

    def load(self, doc: dict[str, Any], split: str) -> SplitResult:
        refs = {
            f["name"]: FileRef.from_document(f)
            for f in doc.get("files") or []
            if f["kind"] in (FileKind.EQUITY_CURVE, FileKind.TRADE_LOG)
        }
        agent = refs.get(f"{split}_equity.csv")
        if agent is None:
            raise no_results(doc)
        wanted = {
            "equity.csv": agent,
            "baselines_equity.csv": refs.get(f"{split}_baselines_equity.csv"),
            "trades.csv": refs.get(f"{split}_trades.csv"),
        }
        key = (doc["_id"], split, *(r.sha256 if r else "-" for r in wanted.values()))
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        result = self.source.call(lambda store: _download(store, doc["_id"], split, wanted))
        with self._lock:
            self._cache[key] = result
            while len(self._cache) > CACHED_RESULTS:
                self._cache.popitem(last=False)
        return result


def _download(store, session_id: str, split: str, wanted: dict[str, FileRef | None]) -> SplitResult:
    with tempfile.TemporaryDirectory(prefix="qraptor-dashboard-") as tmp:
        folder = Path(tmp) / "eval" / split
        folder.mkdir(parents=True)
        for name, ref in wanted.items():
            if ref is not None:
                store.download_file(session_id, ref, folder / name)
        if wanted["baselines_equity.csv"] is None:  # an agent without baselines still plots
            stamps = pd.read_csv(folder / "equity.csv", usecols=["timestamp"])
            stamps.to_csv(folder / "baselines_equity.csv", index=False)
        equity = equity_frame(Path(tmp), split)
        trades_path = folder / "trades.csv"
        trades = (
            pd.read_csv(trades_path, parse_dates=["timestamp"])
            if trades_path.is_file()
            else pd.DataFrame()
        )
    return SplitResult(split, equity, trades)
