"""Keras HDF5 export: torch and TensorFlow agree on actions and values for every supported
algorithm, the file reloads to the same outputs, and importing the packages stays TF-free."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from qraptor.core.errors import QraptorError
from qraptor.env import BatchedTradingEnv, Market
from qraptor.tracking.keras_export import (
    ExportError,
    export_info,
    export_keras_h5,
    keras_outputs,
    load_keras_policy,
    predict_actions,
)
from qraptor.train.algos import build_model
from qraptor.train.config import load_train_config

TOLERANCE = 1e-5
SMALL = ("session.n_envs=4", "env.window=8", "env.episode.length=32", "env.features=null")
CONTINUOUS = ("env.action.type=continuous",)
REPLAY = ("algo.learning_starts=32", "algo.batch_size=32", "algo.buffer_size=500")
CASES = {
    "ppo_discrete": ("algo=ppo", "algo.n_steps=32", "algo.batch_size=64", "algo.n_epochs=1"),
    "ppo_continuous": ("algo=ppo", "algo.n_steps=32", "algo.batch_size=64", "algo.n_epochs=1",
                       "algo.policy_kwargs.activation_fn=elu", *CONTINUOUS),
    "a2c": ("algo=a2c", "algo.policy_kwargs.activation_fn=leaky_relu",
            "algo.policy_kwargs.net_arch=[32,16]"),
    "dqn": ("algo=dqn", *REPLAY, "algo.policy_kwargs.activation_fn=gelu"),
    "sac": ("algo=sac", *REPLAY, *CONTINUOUS),
    "td3": ("algo=td3", *REPLAY, *CONTINUOUS, "algo.policy_kwargs.activation_fn=silu"),
}  # fmt: skip


def _market(n: int = 300, seed: int = 0) -> Market:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    open_ = np.concatenate([[close[0]], close[:-1]])
    return Market(
        timestamps=1_704_067_200_000_000_000 + np.arange(n, dtype=np.int64) * 60_000_000_000,
        open=open_,
        high=np.maximum(open_, close) * 1.001,
        low=np.minimum(open_, close) * 0.999,
        close=close,
        vwap=(open_ + close) / 2,
        features=rng.normal(size=(n, 3)).astype(np.float32),
        feature_names=("f_a", "f_b", "f_c"),
    )


def _trained(case: str):
    """A model of `case`, trained for a few hundred steps (weights moved off their init)."""
    torch.set_num_threads(1)
    cfg = load_train_config([*SMALL, *CASES[case]])
    env = BatchedTradingEnv(_market(), cfg.env, num_envs=cfg.session.n_envs, seed=0)
    model = build_model(cfg.algo, env, seed=0, device="cpu")
    model.learn(192)
    return model


def _torch_reference(model, obs: np.ndarray) -> dict[str, np.ndarray]:
    """Actions and values from SB3's own API (not from the modules the export reads)."""
    policy = model.policy
    actions, _ = model.predict(obs, deterministic=True)
    tensor = torch.as_tensor(obs)
    with torch.no_grad():
        if hasattr(policy, "predict_values"):  # PPO / A2C
            values = policy.predict_values(tensor).numpy()
            dist = policy.get_distribution(tensor).distribution
            head = dist.probs.numpy() if hasattr(dist, "probs") else None
        elif hasattr(policy, "q_net"):  # DQN
            values, head = policy.q_net(tensor).numpy(), None
        else:  # SAC / TD3: Q of the deterministic action, critic 1
            scaled = (
                policy.actor(tensor, deterministic=True)
                if model.__class__.__name__ == "SAC"
                else policy.actor(tensor)
            )
            values, head = policy.critic.q1_forward(tensor, scaled).numpy(), None
    return {"actions": np.asarray(actions), "values": values, "probs": head}


def _keras_side(keras_model, info, obs: np.ndarray) -> dict[str, np.ndarray]:
    outputs = keras_outputs(keras_model, obs)
    value_name = next(n for n in ("value", "q_values", "q_value") if n in outputs)
    probs = None
    if "action_logits" in outputs:
        logits = outputs["action_logits"]
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs = exp / exp.sum(axis=1, keepdims=True)
    return {
        "actions": predict_actions(keras_model, info, obs),
        "values": outputs[value_name],
        "probs": probs,
    }


def _observations(model, n: int = 256) -> np.ndarray:
    """Random observations of the model's shape, wider than the training data on purpose."""
    shape = model.observation_space.shape
    return np.random.default_rng(42).normal(0.0, 2.0, size=(n, *shape)).astype(np.float32)


@pytest.mark.parametrize("case", list(CASES))
def test_torch_and_keras_agree_and_the_file_reloads(case, tmp_path: Path) -> None:
    model = _trained(case)
    observations = _observations(model)
    expected = _torch_reference(model, observations)
    path = export_keras_h5(model, tmp_path / f"{case}.h5")
    keras_model, info = load_keras_policy(path)  # the saved file, not the in-memory model
    got = _keras_side(keras_model, info, observations)

    if info["action_rule"]["kind"] == "argmax":
        assert np.array_equal(got["actions"], expected["actions"])
        assert len(set(expected["actions"].tolist())) >= 1
    else:
        assert got["actions"].shape == expected["actions"].shape
        assert np.max(np.abs(got["actions"] - expected["actions"])) < TOLERANCE
        assert np.all(np.abs(got["actions"]) <= 1.0 + 1e-6)  # clipped / squashed to the box
    assert np.max(np.abs(got["values"] - expected["values"])) < TOLERANCE
    if expected["probs"] is not None:
        assert np.max(np.abs(got["probs"] - expected["probs"])) < TOLERANCE
    assert info["algo"] == CASES[case][0].removeprefix("algo=")
    assert not list(tmp_path.glob(".*"))  # no staging debris next to the export


def test_continuous_ppo_actions_are_clipped_like_sb3(tmp_path: Path) -> None:
    """Huge observations push the Gaussian mean past the bounds: both sides clip to [-1, 1]."""
    model = _trained("ppo_continuous")
    extreme = _observations(model) * 1e3
    expected, _ = model.predict(extreme, deterministic=True)
    keras_model, info = load_keras_policy(export_keras_h5(model, tmp_path / "p.h5"))
    got = predict_actions(keras_model, info, extreme)
    assert np.max(np.abs(got - expected)) < TOLERANCE
    assert np.any(np.abs(expected) == 1.0)  # the case under test happened


def test_the_export_describes_itself(tmp_path: Path) -> None:
    path = export_keras_h5(_trained("dqn"), tmp_path / "dqn.h5")
    info = export_info(path)
    assert info["outputs"] == {"q_values": info["outputs"]["q_values"]}
    assert info["action_rule"] == {"kind": "argmax", "output": "q_values"}
    assert info["action_space"] == {"type": "Discrete", "n": 3, "start": 0}
    assert info["observation_shape"] == [8, 6]  # window x (3 features + 3 state columns)
    assert {"torch", "tensorflow", "keras", "stable_baselines3"} <= set(info["versions"])
    json.dumps(info)


def test_unsupported_policies_are_refused_with_a_reason(tmp_path: Path) -> None:
    cfg = load_train_config([*SMALL, *CASES["ppo_continuous"]])
    env = BatchedTradingEnv(_market(), cfg.env, num_envs=4, seed=0)
    from stable_baselines3 import PPO

    sde = PPO("MlpPolicy", env, use_sde=True, n_steps=32, batch_size=64, device="cpu")
    with pytest.raises(ExportError, match="gSDE"):
        export_keras_h5(sde, tmp_path / "sde.h5")
    with pytest.raises(QraptorError, match=r"\.h5"):
        export_keras_h5(_trained("dqn"), tmp_path / "model.zip")
    with pytest.raises(ExportError, match="no Keras export"):
        export_keras_h5(object(), tmp_path / "x.h5")
    assert not (tmp_path / "sde.h5").exists() and not (tmp_path / "x.h5").exists()


def test_importing_training_and_tracking_does_not_import_tensorflow() -> None:
    code = (
        "import sys, importlib.util\n"
        "import qraptor.train, qraptor.tracking, qraptor.tracking.keras_export\n"
        "import qraptor.evaluation.statistics\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_tensorflows_import_notices_are_dropped_and_nothing_else(capfd) -> None:
    """TensorFlow's C++ libraries print their notices straight to file descriptor 2 on
    import; those lines go, every other line written there (by C code or by Python) is
    still shown."""
    import os

    from qraptor.tracking.keras_export import TENSORFLOW_IMPORT_NOTICES, _stderr_without

    with _stderr_without(TENSORFLOW_IMPORT_NOTICES):
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are "
                    b"written to STDERR\n")  # fmt: skip
        os.write(2, b"E0000 a real error from C++\n")
        os.write(2, b"I0000 port.cc:153] oneDNN custom operations are on. You may see...\n")
        print("a Python warning", file=sys.stderr)
    err = capfd.readouterr().err
    assert sorted(err.splitlines()) == ["E0000 a real error from C++", "a Python warning"]


def test_importing_tensorflow_for_the_export_prints_none_of_its_notices() -> None:
    """In a fresh process, as an export does it: no notice of TensorFlow's on stderr."""
    probe = "from qraptor.tracking.keras_export import _quiet_tensorflow\n" \
            "with _quiet_tensorflow():\n    pass\n"  # fmt: skip
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr
