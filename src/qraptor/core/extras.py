"""Optional parts of qraptor and the extra that installs each.

The core install (data pipeline, environment, training, evaluation) carries no database,
MLflow, TensorFlow, Dash or notebook runner. A part that needs one checks for it where it
is first used, and a missing package is an error that says what to install, not an
ImportError from deep inside.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from qraptor.core.errors import QraptorError

# extra -> (what it is for, the packages it provides, by import name)
EXTRAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "store": ("the MongoDB session store (workers, queued sessions, sweep ledgers)",
              ("pymongo", "secantus")),
    "tracking": ("MLflow runs and TensorBoard curves",
                 ("mlflow", "tensorboardX", "tensorboard")),
    "keras": ("the Keras HDF5 export of trained policies", ("tensorflow", "h5py")),
    "dashboard": ("`qraptor dashboard`", ("dash", "plotly")),
    "notebooks": ("executing notebooks", ("nbclient", "nbformat", "ipykernel")),
    "connectors": ("the ccxt and yfinance download connectors (`qraptor data download`)",
                   ("ccxt", "yfinance")),
    "portfolio": ("the multi-asset sample and the optimiser baselines (skfolio)",
                  ("skfolio",)),
}  # fmt: skip
# what else a user can do instead of installing the extra
ALTERNATIVES = {
    "tracking": "or train without them: tracking.enabled=false tracking.tensorboard=false",
    "keras": "or skip the export: tracking.artifacts.keras_h5=false",
    "connectors": "or download without them: data=binance_klines (public dumps, stdlib HTTP)",
}


class MissingExtra(QraptorError):
    """An optional part was used without the packages of its extra."""

    def __init__(self, module: str, extra: str) -> None:
        self.module = module
        self.extra = extra
        purpose = EXTRAS[extra][0]
        alternative = f"; {ALTERNATIVES[extra]}" if extra in ALTERNATIVES else ""
        super().__init__(
            f"the Python package '{module}' is not installed; it comes with qraptor's "
            f"'{extra}' extra, for {purpose}: pip install 'qraptor[{extra}]' "
            f"(or 'qraptor[all]'){alternative}"
        )


def require(module: str, extra: str) -> ModuleType:
    """Import `module`, or raise MissingExtra naming the extra that installs it."""
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}")
    if importlib.util.find_spec(module) is None:
        raise MissingExtra(module, extra)
    return importlib.import_module(module)


def installed(extra: str) -> bool:
    """Whether every package of `extra` can be imported (without importing any)."""
    return all(importlib.util.find_spec(name) is not None for name in EXTRAS[extra][1])
