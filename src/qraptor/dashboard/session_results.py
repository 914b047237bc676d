"""A session's evaluation results from GridFS: equity (agent, price, position), the
baselines' equity and the trade log of one split, as the worker stored them.

Workers attach each split's evaluation files (`qraptor.core.layout`: `val_equity.csv`...)
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

from qraptor.core import layout
from qraptor.dashboard.problems import Unavailable
from qraptor.dashboard.store_source import StoreSource
from qraptor.evaluation.report import equity_frame
from qraptor.evaluation.verdict import Verdict, judge_stored_curves
from qraptor.store.run_records import download_evaluation
from qraptor.store.session import FileRef
from qraptor.store.status import FileKind, Status

CACHED_RESULTS = 32
RUN_DIR = "run_dir"  # a document read from a run folder (pipeline_session), not the store


@dataclass(frozen=True)
class SplitResult:
    split: str
    equity: pd.DataFrame  # timestamp, close, position, agent, one column per baseline
    trades: pd.DataFrame  # the trade log (empty when the agent never traded)
    weights: pd.DataFrame | None = None  # a portfolio session's weights per bar (cash first)


def result_splits(doc: dict[str, Any]) -> list[str]:
    """Splits with a stored agent equity curve, in the order the session evaluated them
    (a run folder's: those with an eval/<split>/ equity file, in its summary's order)."""
    if doc.get(RUN_DIR):
        splits = ((doc.get("metrics") or {}).get("splits") or {}).keys()
        return [s for s in splits if (layout.eval_dir(doc[RUN_DIR], s) / layout.EQUITY).is_file()]
    names = [f["name"] for f in doc.get("files") or [] if f["kind"] == FileKind.EQUITY_CURVE]
    splits = [layout.split_of(name, layout.EQUITY) for name in names]
    return [s for s in splits if s is not None]


def split_verdict(doc: dict[str, Any], result: SplitResult) -> Verdict | None:
    """The split's verdict the summary keeps, else (a session evaluated before verdicts)
    judged from its stored curves."""
    section = ((doc.get("metrics") or {}).get("splits") or {}).get(result.split) or {}
    if isinstance(section.get("verdict"), dict):
        return Verdict.from_dict(result.split, section["verdict"])
    sharpe = (section.get("agent") or {}).get("sharpe")
    return judge_stored_curves(
        result.equity, split=result.split, sharpe=float("nan") if sharpe is None else sharpe
    )


def no_results(doc: dict[str, Any]) -> Unavailable:
    """Why a session has nothing to plot, and what would produce it."""
    status = doc["status"]
    what = f"results of session {doc['_id']}"
    if doc.get(RUN_DIR):
        return Unavailable(what, f"no eval/<split>/ files in {doc[RUN_DIR]}", "dvc repro")
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
        if doc.get(RUN_DIR):  # on disk already: read it where it is
            if split not in result_splits(doc):
                raise no_results(doc)
            return read_split(Path(doc[RUN_DIR]), split)
        refs = [
            FileRef.from_document(f)
            for f in doc.get("files") or []
            if f["kind"] in (FileKind.EQUITY_CURVE, FileKind.TRADE_LOG, FileKind.WEIGHTS)
        ]
        by_name = {ref.name: ref for ref in refs}
        if layout.stored_name(split, layout.EQUITY) not in by_name:
            raise no_results(doc)
        files = (*layout.EVAL_FILES, layout.WEIGHTS)
        wanted = [by_name.get(layout.stored_name(split, f)) for f in files]
        key = (doc["_id"], split, *(r.sha256 if r else "-" for r in wanted))
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        result = self.source.call(lambda store: _download(store, doc["_id"], split, refs))
        with self._lock:
            self._cache[key] = result
            while len(self._cache) > CACHED_RESULTS:
                self._cache.popitem(last=False)
        return result


def _download(store, session_id: str, split: str, refs: list[FileRef]) -> SplitResult:
    with tempfile.TemporaryDirectory(prefix="qraptor-dashboard-") as tmp:
        if download_evaluation(store, session_id, refs, split, Path(tmp)) is None:
            raise RuntimeError(f"session {session_id}: no {split} equity file")  # checked above
        return read_split(Path(tmp), split)


def read_split(run_dir: Path, split: str) -> SplitResult:
    """The results of `split` in a run folder's eval/<split>/ (a downloaded one or the
    pipeline's)."""
    folder = layout.eval_dir(run_dir, split)
    trades_path = folder / layout.TRADES
    trades = (
        pd.read_csv(trades_path, parse_dates=["timestamp"])
        if trades_path.is_file()
        else pd.DataFrame()
    )
    weights_path = folder / layout.WEIGHTS
    weights = (
        pd.read_csv(weights_path, parse_dates=["timestamp"]) if weights_path.is_file() else None
    )
    return SplitResult(split, equity_frame(run_dir, split), trades, weights)
