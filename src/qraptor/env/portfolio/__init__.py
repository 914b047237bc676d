"""The multi-asset environment, qraptor/Portfolio-v0 (issue 16).

    weights.py        target weights from the policy's scores (softmax, simplex, signed; caps)
    accounting.py     one step for B accounts: drift, the exact transaction remainder factor,
                      non-tradable instruments, the no-trade band
    panel.py          Panel: N instruments aligned on one calendar (missing bars, delistings)
    config.py         PortfolioEnvConfig, the schema of conf/env/portfolio.yaml
    book.py           B accounts' state and step, shared by both environments
    portfolio_env.py  PortfolioEnv (gymnasium.Env), id "qraptor/Portfolio-v0"
    vector_env.py     PortfolioVecEnv (stable_baselines3 VecEnv): B accounts per step

Importing this package registers "qraptor/Portfolio-v0" (kwargs ``panel=..., cfg=...``).
"""

from __future__ import annotations

import gymnasium as gym

ENV_ID = "qraptor/Portfolio-v0"

if ENV_ID not in gym.registry:
    gym.register(id=ENV_ID, entry_point="qraptor.env.portfolio.portfolio_env:PortfolioEnv")
