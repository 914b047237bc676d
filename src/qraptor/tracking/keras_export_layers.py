"""Torch modules -> Keras layers, weights copied: the building blocks of keras_export.py.

Every function takes the `keras` module as an argument, so importing this file imports
neither TensorFlow nor Keras (only keras_export's functions do, on demand). Only what SB3's
MLP policies contain is translated; anything else is an ExportError naming the module, so an
export is exact or refused, never approximately right.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qraptor.core.errors import QraptorError


class ExportError(QraptorError):
    """The policy cannot be rebuilt in Keras (an unsupported algorithm, layer or space)."""


def _export_error(message: str) -> QraptorError:
    return ExportError(message)


def check_flatten(extractor: Any, where: str) -> None:
    """SB3's FlattenExtractor is the only feature extractor rebuilt (MlpPolicy's)."""
    from stable_baselines3.common.torch_layers import FlattenExtractor

    if not isinstance(extractor, FlattenExtractor):
        raise _export_error(
            f"{where} is {type(extractor).__name__}; only MlpPolicy's FlattenExtractor is exported"
        )


def observation_input(keras: Any, shape: tuple[int, ...]) -> tuple[Any, Any]:
    """The observation input and its row-major flattening (torch's nn.Flatten order)."""
    obs = keras.Input(shape=tuple(int(n) for n in shape), dtype="float32", name="observation")
    return obs, keras.layers.Flatten(name="flatten")(obs)


def dense(keras: Any, x: Any, linear: Any, name: str) -> Any:
    """A Dense layer with the weights of a torch nn.Linear."""
    weight = linear.weight.detach().cpu().numpy().astype(np.float32)  # [out, in]
    bias = linear.bias
    layer = keras.layers.Dense(
        weight.shape[0], use_bias=bias is not None, dtype="float32", name=name
    )
    y = layer(x)
    weights = [weight.T]
    if bias is not None:
        weights.append(bias.detach().cpu().numpy().astype(np.float32))
    layer.set_weights(weights)
    return y


def activation(keras: Any, x: Any, module: Any, name: str) -> Any:
    """The Keras twin of a torch activation module, same constants."""
    from torch import nn

    kind = type(module)
    if kind is nn.Tanh:
        return keras.layers.Activation("tanh", name=name)(x)
    if kind is nn.ReLU:
        return keras.layers.Activation("relu", name=name)(x)
    if kind is nn.SiLU:
        return keras.layers.Activation("silu", name=name)(x)
    if kind is nn.GELU and module.approximate == "none":
        return keras.layers.Activation("gelu", name=name)(x)  # exact (erf) in both
    if kind is nn.ELU:
        return keras.layers.ELU(alpha=float(module.alpha), name=name)(x)
    if kind is nn.LeakyReLU:
        return keras.layers.LeakyReLU(negative_slope=float(module.negative_slope), name=name)(x)
    raise _export_error(f"layer {module!r} has no exact Keras counterpart here")


def mlp(keras: Any, x: Any, sequential: Any, prefix: str) -> Any:
    """An nn.Sequential of Linear and activation layers (an empty one is the identity)."""
    from torch import nn

    for index, module in enumerate(sequential):
        name = f"{prefix}_{index}"
        if isinstance(module, nn.Linear):
            x = dense(keras, x, module, name)
        elif isinstance(module, nn.Identity):
            continue
        else:
            x = activation(keras, x, module, name)
    return x


def rename(keras: Any, x: Any, name: str) -> Any:
    """An identity layer, so the model's output carries a readable name."""
    return keras.layers.Activation("linear", name=name)(x)


def _fixed_affine(keras: Any, x: Any, scale: np.ndarray, offset: np.ndarray, name: str) -> Any:
    """x * scale + offset per dimension, as a frozen Dense layer (serialises plainly)."""
    n = len(scale)
    layer = keras.layers.Dense(n, dtype="float32", trainable=False, name=name)
    y = layer(x)
    layer.set_weights([np.diag(scale).astype(np.float32), offset.astype(np.float32)])
    return y


def _bounds(space: Any) -> tuple[np.ndarray, np.ndarray]:
    low = np.asarray(space.low, dtype=np.float64).reshape(-1)
    high = np.asarray(space.high, dtype=np.float64).reshape(-1)
    if len(space.shape) != 1:
        raise _export_error(f"Box actions of shape {space.shape} are not exported (1-D only)")
    return low, high


def clip_to_box(keras: Any, x: Any, space: Any, name: str) -> Any:
    """clip(x, low, high) as SB3's predict does for unsquashed Box actions:
    unit-scale, ReLU capped at 1, scale back (exact to float32 rounding)."""
    low, high = _bounds(space)
    finite = np.isfinite(low) & np.isfinite(high)
    if not finite.any():
        return rename(keras, x, name)  # clipping to +-inf changes nothing
    if not finite.all():
        raise _export_error("Box actions with some infinite bounds are not exported")
    width = high - low
    unit = _fixed_affine(keras, x, 1.0 / width, -low / width, f"{name}_to_unit")
    capped = keras.layers.ReLU(max_value=1.0, name=f"{name}_clip")(unit)
    return _fixed_affine(keras, capped, width, low, name)


def unscale_from_unit(keras: Any, x: Any, space: Any, name: str) -> Any:
    """[-1, 1] -> [low, high], as SB3's `unscale_action` for squashed policies."""
    low, high = _bounds(space)
    if not (np.isfinite(low).all() and np.isfinite(high).all()):
        raise _export_error("squashed Box actions need finite bounds")
    if np.allclose(low, -1.0) and np.allclose(high, 1.0):
        return rename(keras, x, name)
    half = 0.5 * (high - low)
    return _fixed_affine(keras, x, half, low + half, name)
