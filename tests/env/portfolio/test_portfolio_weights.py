"""Target weights from actions (issue 16): every mapping sums to 1 to 1e-12; the softmax of
unbounded scores reaches any weight (not FinRL's 1/N trap); the simplex projection is the
nearest point and gives exact zeros; shorts respect the gross and per-instrument caps."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from qraptor.env.portfolio.weights import MAPPINGS, project_simplex, target_weights

SCORES = arrays(np.float64, st.integers(2, 40), elements=st.floats(-50, 50))


@settings(max_examples=300, deadline=None)
@given(scores=SCORES, mapping=st.sampled_from(MAPPINGS), cap=st.floats(0.05, 1.0))
def test_weights_sum_to_one_and_respect_the_cap(scores, mapping, cap) -> None:
    w = target_weights(scores, mapping, temperature=0.7, gross_cap=1.5, max_weight=cap)
    assert abs(w.sum() - 1.0) <= 1e-12
    assert (np.abs(w[1:]) <= cap + 1e-15).all()
    if mapping != "signed":
        assert (w >= -1e-15).all()
    else:
        assert np.abs(w[1:]).sum() <= 1.5 + 1e-12


def test_softmax_of_unbounded_scores_reaches_far_from_one_over_n() -> None:
    """30 instruments: FinRL's softmax of actions clipped to [0, 1] keeps every weight in
    [0.0125, 0.0857]; scores in qraptor's action box (+-10) reach 0.99 and 1e-9."""
    scores = np.full(31, -10.0)
    scores[5] = 10.0
    w = target_weights(scores, "softmax")
    assert w[5] > 0.99 and w.min() < 1e-8
    clipped = target_weights(np.clip(scores, 0, 1), "softmax")  # the trap, for contrast
    assert clipped.min() > 0.0125 and clipped.max() < 0.0857


@settings(max_examples=200, deadline=None)
@given(v=arrays(np.float64, st.integers(2, 20), elements=st.floats(-5, 5)))
def test_the_simplex_projection_is_the_nearest_point(v) -> None:
    p = project_simplex(v)
    assert abs(p.sum() - 1) <= 1e-12 and (p >= 0).all()
    rng = np.random.default_rng(0)
    others = rng.dirichlet(np.ones(len(v)), size=200)
    assert np.linalg.norm(p - v) <= np.linalg.norm(others - v, axis=1).min() + 1e-12


def test_shorts_are_scaled_to_the_gross_cap_and_cash_is_the_rest() -> None:
    w = target_weights(np.array([0.0, 1.0, -1.0, 0.5]), "signed", gross_cap=1.0)
    np.testing.assert_allclose(w[1:], [0.4, -0.4, 0.2])
    assert w[0] == pytest.approx(0.8)


def test_an_unknown_mapping_is_refused_naming_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="softmax, simplex, signed"):
        target_weights(np.zeros(3), "clip")
