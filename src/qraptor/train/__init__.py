"""Training sessions: Hydra configs validated into a TrainConfig, SB3 models, the trainer.

    config.py       TrainConfig (session, algo, env), load_train_config / train_config_from
    algo_config.py  one schema per algorithm (conf/algo), action-space compatibility checks
    algos.py        algo.name -> stable-baselines3 class; models built from config
    callbacks.py    TrainHooks and the SB3 callback: progress, checkpoints, cooperative stop
    trainer.py      train_session: train, checkpoint, resume, evaluate (no database)
    learnability.py a session on a planted dataset next to the oracle; DSR and PBO over runs
    __main__.py     `python -m qraptor.train [overrides]` (@hydra.main on conf/train.yaml)

The config side imports no torch; `train_session`, `TrainHooks` and `TrainResult` load
stable-baselines3 (and torch) on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qraptor.train.config import TrainConfig, load_train_config, train_config_from

if TYPE_CHECKING:
    from qraptor.train.callbacks import TrainHooks
    from qraptor.train.result import TrainResult
    from qraptor.train.trainer import train_session

__all__ = [
    "TrainConfig",
    "TrainHooks",
    "TrainResult",
    "load_train_config",
    "train_config_from",
    "train_session",
]


def __getattr__(name: str) -> object:
    if name == "TrainHooks":
        from qraptor.train.callbacks import TrainHooks

        return TrainHooks
    if name == "TrainResult":
        from qraptor.train.result import TrainResult

        return TrainResult
    if name == "train_session":
        from qraptor.train.trainer import train_session

        return train_session
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
