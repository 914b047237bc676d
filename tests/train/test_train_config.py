"""Every training config file composes and validates; mistakes fail before training, naming
the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from qraptor.core.config import find_conf_dir
from qraptor.core.errors import ConfigError
from qraptor.train import load_train_config, train_config_from
from qraptor.train.algo_config import ACTION_TYPES, PPOConfig

CONF = find_conf_dir()
ALGOS = sorted(p.stem for p in (CONF / "algo").glob("*.yaml"))
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))


def test_the_group_files_are_the_ones_documented() -> None:
    assert ALGOS == ["a2c", "dqn", "ppo", "sac", "td3"]
    assert {"quick", "learnability", "sac_continuous"} <= set(EXPERIMENTS)


def test_default_session_is_ppo_on_the_batched_env_with_one_thread() -> None:
    cfg = load_train_config()
    assert isinstance(cfg.algo, PPOConfig)
    assert cfg.session.torch_threads == 1 and cfg.session.n_envs > 1
    assert cfg.algo.batch_size <= cfg.algo.n_steps * cfg.session.n_envs
    assert cfg.session.objective == "val.sharpe"


@pytest.mark.parametrize("algo", ALGOS)
def test_every_algo_file_validates(algo: str) -> None:
    action = "continuous" if "discrete" not in ACTION_TYPES[algo] else "discrete"
    cfg = load_train_config([f"algo={algo}", f"env.action.type={action}"])
    assert cfg.algo.name == algo


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_validates(experiment: str) -> None:
    cfg = load_train_config([f"experiment={experiment}"])
    assert cfg.session.name == experiment


def _compose_with_hydra(overrides: list[str]):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("train", overrides=overrides, return_hydra_config=True)


def test_optuna_search_targets_existing_keys_and_maximises() -> None:
    composed = _compose_with_hydra(["hparams_search=ppo_optuna"])
    sweeper = composed.hydra.sweeper
    assert "optuna" in sweeper._target_
    assert sweeper.direction == "maximize"
    for key in sweeper.params:
        assert OmegaConf.select(composed, key) is not None, f"sweeps a missing key {key}"
    train_config_from({k: v for k, v in composed.items() if k != "hydra"})


def test_joblib_launcher_runs_one_job_per_core() -> None:
    launcher = _compose_with_hydra(["hydra/launcher=joblib_local"]).hydra.launcher
    assert "JoblibLauncher" in launcher._target_
    assert launcher.n_jobs == 2 and launcher.prefer == "processes"


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["session.total_timestep=5"], "session.total_timestep"),  # typo, Hydra refuses
        (["+session.total_timestep=5"], "session.total_timestep"),  # typo, schema refuses
        (["+sesion.seed=1"], "sesion"),
        (["session.seed=abc"], "session.seed"),
        (["session.n_envs=0"], "session.n_envs"),
        (["session.device=tpu"], "session.device"),
        (["session.objective=val.profit"], "session.objective"),
        (["session.objective=train.sharpe"], "session.objective"),
        (["session.objective=val/buy_and_hold/sharpe"], "session.objective"),
        (["session.objective=val/agent/profit"], "session.objective"),
        (["session.eval.splits=[val,holdout]"], "session.eval.splits"),
        (["session.fold=1"], "session.eval.splits"),
        (["session.eval.min_annualised_days=-1"], "session.eval.min_annualised_days"),
        (["session.eval.liquidate=maybe"], "session.eval.liquidate"),
        (["session.eval.baselines=[random_walk]"], "session.eval.baselines"),
        (["algo.learning_rate=0"], "algo.learning_rate"),
        (["algo.batch_size=4096"], "algo.batch_size"),
        (["algo.policy_kwargs.activation_fn=swish"], "algo.policy_kwargs.activation_fn"),
        (["algo.policy_kwargs.net_arch=[64,0]"], "algo.policy_kwargs.net_arch"),
        (["algo=dqn", "+algo.n_epochs=3"], "algo.n_epochs"),
        (["algo=sac", "algo.ent_coef=-1"], "algo.ent_coef"),
        (["algo=nope"], "algo"),
        (["env.window=0"], "env.window"),
    ],
)
def test_bad_values_fail_naming_the_key(overrides: list[str], key: str) -> None:
    action = ["env.action.type=continuous"] if "algo=sac" in overrides else []
    with pytest.raises(ConfigError) as error:
        load_train_config([*overrides, *action])
    assert key in str(error.value)


@pytest.mark.parametrize(
    ("overrides", "algo"),
    [
        (["algo=dqn", "env.action.type=continuous"], "dqn"),
        (["algo=sac"], "sac"),
        (["algo=td3", "env.action.type=levels"], "td3"),
    ],
)
def test_algorithms_refuse_action_types_they_cannot_drive(overrides: list[str], algo: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_train_config(overrides)
    assert error.value.key == "env.action.type"
    assert f"algo.name={algo}" in error.value.problem


def test_the_objective_may_be_named_by_its_metric_key() -> None:
    """``val/agent/sharpe`` (MLflow's and DVC's name) is ``val.sharpe``."""
    cfg = load_train_config(["session.objective=val/agent/sharpe"])
    assert cfg.session.objective == "val/agent/sharpe"


def test_fold_sessions_evaluate_on_the_fold_test_span() -> None:
    cfg = load_train_config(
        ["session.fold=1", "session.eval.splits=[test]", "session.objective=test.sharpe"]
    )
    assert cfg.session.fold == 1


def test_a_stored_resolved_config_validates_again(tmp_path: Path) -> None:
    cfg = load_train_config(["algo=a2c", "session.seed=7"])
    again = train_config_from(cfg.to_dict())
    assert again == cfg
    stored = {**cfg.to_dict(), "store": {"uri": None}}  # the session store's own section
    assert train_config_from(stored) == cfg
