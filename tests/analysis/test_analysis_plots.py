"""Figures of the data overview and the results: the axes, lines and marks a reader relies on."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from qraptor.analysis import data_overview as overview
from qraptor.analysis import data_plots, results_plots
from qraptor.analysis import results as res


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_price_overview_shades_every_span_and_marks_weekday_gaps(sample_project):
    bars = overview.load_bars(sample_project)
    _, metadata = overview.load_dataset(sample_project)
    spans = overview.split_spans(metadata)
    gaps = overview.find_gaps(bars["timestamp"])
    fig = data_plots.price_overview(bars, "t", spans, gaps)
    price_ax, spacing_ax = fig.axes
    labels = [h.get_label() for h in price_ax.get_legend().legend_handles]
    assert [lab for lab in labels if "bars)" in lab] == [
        f"{s} ({r:,} bars)" for s, r in zip(spans["span"], spans["rows"], strict=True)
    ]
    assert "weekday gap" in labels
    assert spacing_ax.get_yscale() == "log"


def test_return_distribution_draws_the_histogram_the_normal_and_a_qq_plot():
    returns = pd.Series(np.random.default_rng(0).standard_t(4, size=2000), name="r")
    fig = data_plots.return_distribution(returns, "t")
    hist_ax, qq_ax = fig.axes
    assert hist_ax.get_yscale() == "log" and len(hist_ax.patches) == 100
    assert len(hist_ax.lines) == 1  # the normal
    assert len(qq_ax.collections[0].get_offsets()) == 2000


def test_correlation_heatmap_shows_the_matrix():
    corr = pd.DataFrame([[1.0, 0.5], [0.5, 1.0]], index=["a", "b"], columns=["a", "b"])
    fig = data_plots.correlation_heatmap(corr, "t")
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), corr.to_numpy())
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["a", "b"]


def test_equity_and_drawdown_charts_draw_agent_and_baselines(sample_project):
    results = res.load_dvc_results(sample_project, ["bootstrap.reps=500"])
    frame = results.equity[results.best_id]
    fig = results_plots.equity_vs_baselines(results.equity, "t")
    lines = {line.get_label(): line for line in fig.axes[0].lines}
    random = {"random, matched (median)", "random, uniform (median)"}
    assert {"buy and hold", "flat", *random, f"agent {results.best_id}"} <= set(lines)
    assert lines[f"agent {results.best_id}"].get_ydata()[0] == pytest.approx(1.0)
    fig = results_plots.drawdown_chart(frame, "t")
    assert {"buy and hold", *random} <= {line.get_label() for line in fig.axes[0].lines}
    assert max(np.max(line.get_ydata()) for line in fig.axes[0].lines) <= 0.0


def test_metric_distributions_and_the_deflated_sharpe_chart(store_sweep, monkeypatch):
    monkeypatch.setenv("QRAPTOR_MONGO_URI", store_sweep.uri)
    results = res.load_store_results(
        sweep=store_sweep.sweep_id,
        store_overrides=[f"database={store_sweep.database}"],
        compare_overrides=["bootstrap.reps=500"],
    )
    values, summaries = res.metric_values(results), res.group_summaries(results)
    fig = results_plots.metric_distributions(values, summaries, "t")
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in shown] == list(dict.fromkeys(values["metric"]))
    assert all(len(ax.get_xticklabels()) == 2 for ax in shown)  # two learning rates
    sweep = results.comparison.sweep
    fig = results_plots.deflated_sharpe_chart(sweep, res.trial_sharpes(results))
    vertical = {
        line.get_label().split(" ")[0]: line.get_xdata()[0]
        for line in fig.axes[0].lines
        if line.get_label().startswith(("SR0", "0 "))
    }
    assert vertical["SR0"] == pytest.approx(sweep.expected_max_sharpe)
    assert f"DSR = {sweep.dsr:.3f}" in [c.get_label() for c in fig.axes[0].collections]
