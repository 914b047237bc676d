"""From the policy's action to target weights over cash and N instruments (issue 16).

The action is a vector of unbounded scores, one per asset, cash first (N + 1). Never a
softmax of values clipped to [0, 1] (FinRL's StockPortfolioEnv: with 30 assets every
weight is then stuck between 0.0125 and 0.0857):

- ``softmax`` (long-only, the default): ``softmax(scores / temperature)``; a temperature
  below 1 sharpens, above 1 flattens. Any weight from 0 to 1 is reachable.
- ``simplex`` (long-only): the Euclidean projection of the scores onto the simplex (Duchi,
  Shalev-Shwartz, Singer & Chandra 2008): sparse weights, exact zeros.
- ``signed`` (shorts allowed): the instrument scores are the weights themselves, scaled
  down together when their gross exposure ``sum |w_i|`` exceeds `gross_cap`; cash is the
  rest (``1 - sum w_i``, above 1 when net short).

Then, for every mapping, a per-instrument cap ``|w_i| <= max_weight`` (the excess goes to
cash). Weights always sum to 1 (to 1e-12, tested): cash is computed as the rest.
"""

from __future__ import annotations

import numpy as np

MAPPINGS = ("softmax", "simplex", "signed")


def softmax(scores: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = scores / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def project_simplex(v: np.ndarray) -> np.ndarray:
    """The nearest point of the probability simplex to each row of `v` (Euclidean)."""
    n = v.shape[-1]
    u = -np.sort(-v, axis=-1)
    cumulative = np.cumsum(u, axis=-1) - 1.0
    index = np.arange(1, n + 1)
    condition = u - cumulative / index > 0
    rho = n - 1 - np.argmax(condition[..., ::-1], axis=-1)  # the last index where it holds
    theta = np.take_along_axis(cumulative, rho[..., None], axis=-1) / (rho[..., None] + 1.0)
    return np.maximum(v - theta, 0.0)


def target_weights(
    scores: np.ndarray,
    mapping: str = "softmax",
    *,
    temperature: float = 1.0,
    gross_cap: float = 1.0,
    max_weight: float = 1.0,
) -> np.ndarray:
    """[..., N + 1] target weights (cash first) of [..., N + 1] scores (module docstring)."""
    scores = np.asarray(scores, dtype=np.float64)
    if mapping == "softmax":
        weights = softmax(scores, temperature)
    elif mapping == "simplex":
        weights = project_simplex(scores)
    elif mapping == "signed":
        risky = scores[..., 1:]
        gross = np.abs(risky).sum(axis=-1, keepdims=True)
        scale = np.where(gross > gross_cap, gross_cap / np.where(gross > 0, gross, 1.0), 1.0)
        weights = np.concatenate([np.zeros_like(scores[..., :1]), risky * scale], axis=-1)
    else:
        raise ValueError(f"unknown weight mapping '{mapping}'; valid: {', '.join(MAPPINGS)}")
    risky = np.clip(weights[..., 1:], -max_weight, max_weight)
    cash = 1.0 - risky.sum(axis=-1, keepdims=True)
    if mapping != "signed":  # long-only: no cash below 0 from rounding (-1e-15)
        cash = np.maximum(cash, 0.0)
    return np.concatenate([cash, risky], axis=-1)
