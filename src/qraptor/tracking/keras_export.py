"""Keras HDF5 export of a trained policy: the SB3 network rebuilt in tf.keras, saved as `.h5`.

Why: an `.h5` file runs wherever TensorFlow or Keras runs (TF Serving, converters, another
language's HDF5 reader) with neither torch nor stable-baselines3, and it is the format the
project was asked to keep trained models in. The export is exact, not a distillation: the
same layers, the torch weights copied (Linear [out, in] -> Dense kernel [in, out]), float32.

What is rebuilt (input: one observation batch [n, window, columns], flattened like SB3 does):

    PPO / A2C  ActorCriticPolicy  discrete actions:   [action_logits, value]
                                  continuous actions: [action, value]   (mean, clipped like
                                                                         SB3's predict)
    DQN        QNetwork           [q_values]
    SAC / TD3  actor + critic 1   [action, q_value]   (the deterministic action in the env's
                                  bounds; Q of that action from the first critic)

A deterministic action is argmax(action_logits) or argmax(q_values) for discrete actions and
the `action` output itself for continuous ones: `predict_actions` applies that rule, read
from the JSON the file carries in its root attribute ``qraptor_export``. Not supported (a
QraptorError says why): gSDE, non-flatten feature extractors (images, dict observations),
multi-discrete or multi-binary actions, and layers other than Linear and the activations of
conf/algo (tanh, relu, elu, leaky_relu, gelu, silu).

TensorFlow costs 6-7 s to import: it is imported only inside these functions, never when
`qraptor.tracking` or `qraptor.train` is imported.

Storing the file with a session is the store's job, after this export:
``store.attach_file(session_id, FileKind.KERAS_H5, path, claim=claim)``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from qraptor.core.atomic import atomic_path
from qraptor.core.extras import require
from qraptor.core.log import get_logger
from qraptor.tracking.keras_export_layers import ExportError

log = get_logger(__name__)
INFO_ATTRIBUTE = "qraptor_export"
FORMAT_VERSION = 1
H5_SUFFIXES = (".h5", ".hdf5")


def export_keras_h5(model: Any, path: str | Path) -> Path:
    """Rebuild `model`'s policy (an SB3 algorithm or its policy) in Keras and save it to
    `path` (.h5) atomically, with the export description as an HDF5 attribute.

    Returns `path`. Raises ExportError for what cannot be rebuilt exactly.
    """
    path = Path(path)
    if path.suffix.lower() not in H5_SUFFIXES:
        raise ExportError(f"{path}: a Keras HDF5 export needs a .h5 or .hdf5 file name")
    with _quiet_tensorflow():  # the first import of TensorFlow: its C++ info logs off
        require("tensorflow", "keras")
        require("h5py", "keras")
    keras_model, info = build_keras_policy(model)
    with atomic_path(path) as tmp:
        staging = tmp.with_name(tmp.name + ".h5")  # Keras picks the format by the suffix
        try:
            with _quiet_tensorflow():
                keras_model.save(staging)
            import h5py

            with h5py.File(staging, "a") as h5:
                h5.attrs[INFO_ATTRIBUTE] = json.dumps(info)
            os.replace(staging, tmp)
        finally:
            staging.unlink(missing_ok=True)
    log.info("exported the %s policy to %s (%s)", info["algo"], path, ", ".join(info["outputs"]))
    return path


def build_keras_policy(model: Any) -> tuple[Any, dict[str, Any]]:
    """(keras.Model, export description) for an SB3 algorithm or policy, weights copied."""
    policy = getattr(model, "policy", model)
    algo = type(model).__name__.lower() if hasattr(model, "policy") else type(policy).__name__
    with _quiet_tensorflow():
        import keras

        from qraptor.tracking import keras_export_layers as layers

        builder = _builder_for(policy)
        inputs, outputs, meanings = builder(keras, layers, policy)
        keras_model = keras.Model(inputs=inputs, outputs=outputs, name=f"{algo}_policy")
    info = {
        "format_version": FORMAT_VERSION,
        "algo": algo,
        "policy": type(policy).__name__,
        "observation_shape": list(policy.observation_space.shape),
        "action_space": _describe_space(policy.action_space),
        "outputs": meanings,
        "action_rule": _action_rule(policy.action_space, list(meanings)),
        "versions": _versions(),
    }
    return keras_model, info


def load_keras_policy(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """The saved Keras model and its export description (`export_info`)."""
    with _quiet_tensorflow():
        import keras

        keras_model = keras.models.load_model(str(path), compile=False)
    return keras_model, export_info(path)


def export_info(path: str | Path) -> dict[str, Any]:
    """The export description stored in the file (algo, outputs, action rule, versions)."""
    import h5py

    with h5py.File(path, "r") as h5:
        raw = h5.attrs.get(INFO_ATTRIBUTE)
    if raw is None:
        raise ExportError(f"{path}: not a qraptor Keras export (no '{INFO_ATTRIBUTE}' attribute)")
    return json.loads(raw)


def keras_outputs(keras_model: Any, observations: np.ndarray) -> dict[str, np.ndarray]:
    """Run the Keras model on a batch of observations: output name -> array."""
    batch = np.asarray(observations, dtype=np.float32)
    with _quiet_tensorflow():
        raw = keras_model(batch, training=False)
    values = raw if isinstance(raw, list | tuple) else [raw]
    names = [name.split("/")[0] for name in keras_model.output_names]
    return {name: np.asarray(value) for name, value in zip(names, values, strict=True)}


def predict_actions(keras_model: Any, info: dict[str, Any], observations: np.ndarray) -> np.ndarray:
    """Deterministic actions for a batch of observations, as SB3's `predict` returns them."""
    outputs = keras_outputs(keras_model, observations)
    rule = info["action_rule"]
    if rule["kind"] == "argmax":
        return np.argmax(outputs[rule["output"]], axis=1)
    return outputs[rule["output"]]


# -- what each kind of policy becomes ---------------------------------------------------


def _builder_for(policy: Any):
    from stable_baselines3.common.policies import ActorCriticPolicy

    if getattr(policy, "use_sde", False):
        raise ExportError(
            f"{type(policy).__name__}: gSDE exploration (use_sde=True) is not exported"
        )
    if isinstance(policy, ActorCriticPolicy):
        return _actor_critic
    kind = type(policy).__name__
    if hasattr(policy, "q_net") and hasattr(policy, "q_net_target"):
        return _q_network
    if hasattr(policy, "actor") and hasattr(policy, "critic"):
        return _actor_and_critic
    raise ExportError(
        f"{kind}: no Keras export for this policy; supported: PPO/A2C (ActorCriticPolicy), "
        "DQN (DQNPolicy), SAC and TD3 (MlpPolicy)"
    )


def _actor_critic(keras: Any, layers: Any, policy: Any):
    """PPO / A2C: separate (or shared-extractor) MLPs for the policy and the value."""
    from gymnasium import spaces

    space = policy.action_space
    if not isinstance(space, spaces.Discrete | spaces.Box):
        raise ExportError(f"{type(space).__name__} actions are not exported (Discrete, Box)")
    for name in ("features_extractor", "pi_features_extractor", "vf_features_extractor"):
        if hasattr(policy, name):
            layers.check_flatten(getattr(policy, name), name)
    obs, flat = layers.observation_input(keras, policy.observation_space.shape)
    latent_pi = layers.mlp(keras, flat, policy.mlp_extractor.policy_net, "pi")
    latent_vf = layers.mlp(keras, flat, policy.mlp_extractor.value_net, "vf")
    head = layers.dense(keras, latent_pi, policy.action_net, "action_net")
    value = layers.dense(keras, latent_vf, policy.value_net, "value")
    if isinstance(space, spaces.Discrete):
        logits = layers.rename(keras, head, "action_logits")
        meanings = {
            "action_logits": "unnormalised log-probabilities of each discrete action",
            "value": "state value V(s) of the critic",
        }
        return obs, [logits, value], meanings
    action = layers.clip_to_box(keras, head, space, "action")
    meanings = {
        "action": "mean of the Gaussian policy, clipped to the action bounds (deterministic)",
        "value": "state value V(s) of the critic",
    }
    return obs, [action, value], meanings


def _q_network(keras: Any, layers: Any, policy: Any):
    """DQN: the online Q-network (the target network is a training device only)."""
    q_net = policy.q_net
    layers.check_flatten(q_net.features_extractor, "q_net.features_extractor")
    obs, flat = layers.observation_input(keras, policy.observation_space.shape)
    q_values = layers.mlp(keras, flat, q_net.q_net, "q")
    return (
        obs,
        [layers.rename(keras, q_values, "q_values")],
        {"q_values": "Q(s, a) of every discrete action (greedy action: argmax)"},
    )


def _actor_and_critic(keras: Any, layers: Any, policy: Any):
    """SAC / TD3: the deterministic actor in the env's bounds, and Q of that action."""
    from gymnasium import spaces

    actor, critic = policy.actor, policy.critic
    if not isinstance(policy.action_space, spaces.Box):
        raise ExportError("SAC/TD3 export expects a Box action space")
    layers.check_flatten(actor.features_extractor, "actor.features_extractor")
    layers.check_flatten(critic.features_extractor, "critic.features_extractor")
    obs, flat = layers.observation_input(keras, policy.observation_space.shape)
    if hasattr(actor, "latent_pi"):  # SAC: tanh(mu(latent)) is the deterministic action
        latent = layers.mlp(keras, flat, actor.latent_pi, "actor")
        mean = layers.dense(keras, latent, actor.mu, "actor_mu")
        squashed = keras.layers.Activation("tanh", name="actor_tanh")(mean)
    else:  # TD3: mu ends with its own Tanh
        squashed = layers.mlp(keras, flat, actor.mu, "actor")
    concat = keras.layers.Concatenate(name="critic_input")([flat, squashed])
    q_value = layers.mlp(keras, concat, critic.q_networks[0], "critic")
    action = layers.unscale_from_unit(keras, squashed, policy.action_space, "action")
    meanings = {
        "action": "deterministic action in the action space's bounds",
        "q_value": "Q(s, action) of the first critic",
    }
    return obs, [action, layers.rename(keras, q_value, "q_value")], meanings


# -- descriptions -----------------------------------------------------------------------


def _describe_space(space: Any) -> dict[str, Any]:
    from gymnasium import spaces

    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.Box):
        return {
            "type": "Box",
            "shape": list(space.shape),
            "low": np.asarray(space.low, dtype=float).tolist(),
            "high": np.asarray(space.high, dtype=float).tolist(),
        }
    return {"type": type(space).__name__}


def _action_rule(space: Any, outputs: list[str]) -> dict[str, str]:
    from gymnasium import spaces

    if isinstance(space, spaces.Discrete):
        return {"kind": "argmax", "output": outputs[0]}
    return {"kind": "identity", "output": "action"}


def _versions() -> dict[str, str]:
    import keras
    import stable_baselines3
    import tensorflow as tf
    import torch

    return {
        "stable_baselines3": stable_baselines3.__version__,
        "torch": torch.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }


@contextlib.contextmanager
def _quiet_tensorflow() -> Iterator[None]:
    """Import TensorFlow with its C++ info logs off and Keras' legacy-format notice muted:
    HDF5 is the format asked for here, so "considered legacy" is noise in every run's log.
    Keras says it through absl's logger (not `warnings`), so that logger gets a filter."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    absl = logging.getLogger("absl")
    absl.addFilter(_not_the_legacy_notice)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*HDF5 file via `model.save\\(\\)`.*")
            warnings.filterwarnings("ignore", category=UserWarning, module="keras.*")
            warnings.filterwarnings("ignore", category=DeprecationWarning, module="keras.*")
            with _stderr_without(TENSORFLOW_IMPORT_NOTICES):
                import tensorflow  # noqa: F401 - the backend, before keras picks one
            yield
    finally:
        absl.removeFilter(_not_the_legacy_notice)


# What TensorFlow's C++ libraries print on every import, straight to file descriptor 2 (past
# sys.stderr, logging and TF_CPP_MIN_LOG_LEVEL, which TensorFlow 2.21 no longer applies to them)
TENSORFLOW_IMPORT_NOTICES = (
    "All log messages before absl::InitializeLog() is called are written to STDERR",
    "oneDNN custom operations are on",
    "cpu_feature_guard",
)


@contextlib.contextmanager
def _stderr_without(notices: tuple[str, ...]) -> Iterator[None]:
    """File descriptor 2 caught for the block, then written back to stderr line by line,
    except the lines holding one of `notices`: everything else (an error, a warning) is
    shown as it was, after the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            text = caught.read().decode("utf-8", errors="replace")
            kept = [line for line in text.splitlines(keepends=True)
                    if not any(notice in line for notice in notices)]  # fmt: skip
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def _not_the_legacy_notice(record: logging.LogRecord) -> bool:
    return "HDF5 file via `model.save()`" not in record.getMessage()
