"""EnvConfig: conf/env/default.yaml validates; bad values fail naming the key."""

from __future__ import annotations

import pytest

from qraptor.core.errors import ConfigError
from qraptor.env import TradingEnv, load_env_config


def test_default_config_loads() -> None:
    cfg = load_env_config()
    assert cfg.window >= 1 and cfg.action.type in {"discrete", "long_only", "levels", "continuous"}
    assert load_env_config(["env.window=7", "reward.type=differential_sharpe"]).window == 7


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("window=0", "env.window"),
        ("state=[position,leverage]", "env.state"),
        ("features=[]", "env.features"),
        ("action.type=short_only", "env.action.type"),
        ("action.levels=[0.0,1.5]", "env.action.levels"),
        ("execution.price=high", "env.execution.price"),
        ("costs.fee_rate=-0.1", "env.costs.fee_rate"),
        ("limits.max_units=0", "env.limits.max_units"),
        ("stop.max_drawdown=1.5", "env.stop.max_drawdown"),
        ("reward.type=sortino", "env.reward.type"),
        ("episode.mode=forever", "env.episode.mode"),
        ("initial_cash=0", "env.initial_cash"),
        ("no_such_key=1", "env"),
    ],
)
def test_bad_values_name_their_key(override: str, key: str) -> None:
    overrides = [override, "action.type=levels"] if "levels" in override else [override]
    with pytest.raises(ConfigError) as error:
        load_env_config(overrides)
    assert error.value.key.startswith(key)


def test_episode_must_fit_the_market(make_bars, env_config) -> None:
    market = make_bars(close=[100.0 + k for k in range(50)])
    with pytest.raises(ConfigError, match=r"env\.episode\.length"):
        cfg = env_config("window=10", "episode.mode=random_window", "episode.length=45")
        TradingEnv(market, cfg)
    with pytest.raises(ConfigError, match=r"env\.window"):
        TradingEnv(market, env_config("window=50", "episode.mode=full"))
