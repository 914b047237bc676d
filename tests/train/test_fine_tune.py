"""Fine-tuning (`session.init_from`): a session starts from another model's weights, with
its own timestep count; a model of other spaces or another network is refused, naming the
key and both shapes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from qraptor.core import layout
from qraptor.core.errors import ConfigError
from qraptor.train import load_train_config, train_session
from qraptor.train.algos import load_model
from qraptor.train.callbacks import checkpoint_path

SHORT = (
    "session.total_timesteps=128",
    "session.checkpoint_every=128",
    "session.validation.every_timesteps=null",
    "session.eval.splits=[val]",
    "session.eval.baselines=[flat]",
    "session.eval.random_runs=1",
)


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_model("ppo", path, None, device="cpu").policy.state_dict()


@pytest.fixture(scope="module")
def source(fast_overrides, tmp_path_factory) -> Path:
    """A trained model (seed 7) to fine-tune from."""
    out = tmp_path_factory.mktemp("source")
    cfg = load_train_config(fast_overrides("ppo", *SHORT, "session.seed=7"))
    train_session(cfg, out)
    return out


def test_fine_tune_starts_from_the_checkpoints_weights(source, fast_overrides, tmp_path) -> None:
    """With a learning rate too small to move a weight, the fine-tuned model IS the source's
    (a fresh seed-0 model is not): the weights came from the checkpoint."""
    zip_path = checkpoint_path(source, 128)
    overrides = fast_overrides(
        "ppo", *SHORT, f"session.init_from={zip_path}", "algo.learning_rate=1e-12"
    )
    result = train_session(load_train_config(overrides), tmp_path / "tuned")
    assert result.timesteps == 128  # its own count: 128 more, not 128 + 128
    tuned, start = _weights(tmp_path / "tuned" / layout.MODEL), _weights(zip_path)
    assert all(torch.allclose(tuned[k], start[k], atol=1e-8) for k in start)
    fresh = fast_overrides("ppo", *SHORT, "algo.learning_rate=1e-12")
    train_session(load_train_config(fresh), tmp_path / "fresh")
    other = _weights(tmp_path / "fresh" / layout.MODEL)
    assert not all(torch.allclose(other[k], start[k], atol=1e-8) for k in start)


def test_a_run_folder_means_its_model_zip(source, fast_overrides, tmp_path) -> None:
    overrides = fast_overrides("ppo", *SHORT, "algo.learning_rate=1e-12")
    cfg = load_train_config([*overrides, f"session.init_from={source}"])
    train_session(cfg, tmp_path)
    tuned, start = _weights(tmp_path / layout.MODEL), _weights(source / layout.MODEL)
    assert all(torch.allclose(tuned[k], start[k], atol=1e-8) for k in start)


def test_space_mismatch_refused_with_both_shapes(source, fast_overrides, tmp_path) -> None:
    cfg = load_train_config(
        fast_overrides("ppo", *SHORT, "env.window=12", f"session.init_from={source}")
    )
    with pytest.raises(ConfigError) as caught:
        train_session(cfg, tmp_path)
    assert caught.value.key == "session.init_from"
    message = str(caught.value)
    assert "observation space is Box(8, " in message and "this session's is Box(12, " in message


def test_another_network_refused(source, fast_overrides, tmp_path) -> None:
    narrow = ("algo.policy_kwargs.net_arch=[8]", f"session.init_from={source}")
    cfg = load_train_config(fast_overrides("ppo", *SHORT, *narrow))
    with pytest.raises(ConfigError, match="network does not fit") as caught:
        train_session(cfg, tmp_path)
    assert caught.value.key == "session.init_from"


def test_a_missing_model_refused(fast_overrides, tmp_path) -> None:
    cfg = load_train_config(fast_overrides("ppo", *SHORT, f"session.init_from={tmp_path}/no.zip"))
    with pytest.raises(ConfigError, match="no such model zip") as caught:
        train_session(cfg, tmp_path / "run")
    assert caught.value.key == "session.init_from"
