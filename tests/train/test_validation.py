"""In-training validation: evaluations at the configured timesteps, equal to a direct backtest
of the same model on val; the best model is the argmax row's; select=best_val evaluates it;
a resumed session keeps its rows and best model; validation leaves training unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from qraptor.core import layout
from qraptor.core.errors import ConfigError
from qraptor.env.market import load_market
from qraptor.evaluation.backtest import backtest_model
from qraptor.evaluation.metric_names import METRIC_NAMES
from qraptor.evaluation.metrics import bars_per_year, compute_metrics
from qraptor.train import TrainHooks, load_train_config, train_session
from qraptor.train.algos import load_model
from qraptor.train.callbacks import checkpoint_path
from qraptor.train.validation import best_row, read_validation

# PPO rollouts of 4 envs x 32 steps = 128 timesteps; validation every 128 as well.
RUN = (
    "session.total_timesteps=512",
    "session.checkpoint_every=128",
    "session.validation.every_timesteps=128",
    "session.eval.splits=[val]",
    "session.eval.baselines=[flat]",
    "session.eval.random_runs=1",
)


def _weights(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.policy.state_dict().items()}


def _same_weights(a, b) -> bool:
    wa, wb = _weights(a), _weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.fixture(scope="module")
def validated(fast_overrides, tmp_path_factory):
    """One session validated every 128 timesteps, with what its hook heard."""
    out = tmp_path_factory.mktemp("validated")
    cfg = load_train_config(fast_overrides("ppo", *RUN))
    heard: list[tuple[int, dict[str, float]]] = []
    hooks = TrainHooks(on_validation=lambda metrics, t: heard.append((t, metrics)))
    result = train_session(cfg, out, hooks)
    return cfg, out, result, heard


def test_rows_at_the_configured_timesteps_equal_a_direct_backtest(validated) -> None:
    cfg, out, result, heard = validated
    rows = read_validation(out / layout.VALIDATION)
    assert [r["timesteps"] for r in rows] == [128, 256, 384, 512]
    assert list(pd.read_csv(out / layout.VALIDATION).columns) == ["timesteps", *METRIC_NAMES]
    assert [t for t, _ in heard] == [128, 256, 384, 512]
    # the row at 256 is the checkpoint at 256 backtested on val, deterministically
    s = cfg.session
    model = load_model("ppo", checkpoint_path(out, 256), None, device="cpu")
    dataset = Path(s.dataset)
    per_year = bars_per_year(load_market(dataset, "train", None, cfg.env.features).timestamps)
    val = load_market(dataset, "val", None, cfg.env.features)
    direct = compute_metrics(
        backtest_model(model, val, cfg.env, True, liquidate=s.eval.liquidate).curve,
        per_year,
        min_annualised_days=s.eval.min_annualised_days,
    )
    row = rows[1]
    for metric in METRIC_NAMES:
        assert row[metric] == pytest.approx(direct[metric], rel=1e-12, nan_ok=True), metric
        assert heard[1][1][metric] == pytest.approx(direct[metric], rel=1e-12, nan_ok=True)
    assert result.validations == 4 and result.validation_seconds > 0
    assert not list(out.rglob("*.tmp")), "atomic writes leave no temporary files"


def test_best_model_is_the_argmax_rows_checkpoint(validated) -> None:
    _, out, result, _ = validated
    rows = read_validation(out / layout.VALIDATION)
    best = best_row(rows, "sharpe")
    assert best is not None
    assert best["sharpe"] == max(r["sharpe"] for r in rows)
    kept = load_model("ppo", out / layout.BEST_MODEL, None, device="cpu")
    # the last row is the final model (evaluated after its last update), the others the
    # checkpoints of their timesteps (saved at the same step)
    final = best["timesteps"] == result.timesteps
    source = out / layout.MODEL if final else checkpoint_path(out, int(best["timesteps"]))
    at_best = load_model("ppo", source, None, device="cpu")
    assert kept.num_timesteps == best["timesteps"]
    assert _same_weights(kept, at_best)
    others = [r for r in rows if r["sharpe"] != best["sharpe"]]
    if others:  # a model of another row has other weights: the comparison can fail
        other = load_model("ppo", checkpoint_path(out, int(others[0]["timesteps"])), None,
                           device="cpu")  # fmt: skip
        assert not _same_weights(kept, other)
    summary = json.loads((out / layout.METRICS).read_text())
    assert summary["selected"]["model"] == "final"  # conf/train.yaml's default
    assert summary["selected"]["timesteps"] == 512
    assert summary["selected"]["validation"] == {
        "metric": "sharpe", "evaluations": 4, "best_timesteps": int(best["timesteps"]),
        "best_value": best["sharpe"],
    }  # fmt: skip
    # the final evaluation on val of the final model is the last row (same backtest)
    assert summary["splits"]["val"]["agent"]["sharpe"] == pytest.approx(rows[-1]["sharpe"])


def test_select_best_val_evaluates_the_best_model(validated, fast_overrides, tmp_path) -> None:
    _, first, _, _ = validated
    rows = read_validation(first / layout.VALIDATION)
    # max_drawdown is minimised: pick a metric whose best row differs from the final one
    # when there is one, so the selection is visible in the evaluated metrics
    metric = next(
        (m for m in ("sharpe", "total_return", "max_drawdown")
         if best_row(rows, m)["timesteps"] != 512),  # type: ignore[index]
        "sharpe",
    )  # fmt: skip
    select = ("session.select=best_val", f"session.validation.metric={metric}")
    cfg = load_train_config(fast_overrides("ppo", *RUN, *select))
    result = train_session(cfg, tmp_path)
    best = best_row(read_validation(tmp_path / layout.VALIDATION), metric)
    assert best is not None
    same = (tmp_path / layout.VALIDATION).read_text() == (first / layout.VALIDATION).read_text()
    assert same, "same seed, same training: the same rows"
    assert result.model_path == tmp_path / layout.BEST_MODEL
    assert (tmp_path / layout.MODEL).is_file()  # the final model kept beside it
    summary = json.loads((tmp_path / layout.METRICS).read_text())
    assert summary["selected"]["model"] == "best_val"
    assert summary["selected"]["timesteps"] == best["timesteps"]
    evaluated = summary["splits"]["val"]["agent"]
    for key in ("sharpe", "total_return", "n_trades"):
        assert evaluated[key] == pytest.approx(best[key]), key


def test_resume_keeps_rows_and_best_model(validated, fast_overrides, tmp_path) -> None:
    """Resumed from the checkpoint at 256 (a worker killed after the evaluation at 384 left
    a validation.csv with rows past it): rows 128 and 256 kept, 384 and 512 redone, none twice."""
    cfg, first, _, _ = validated
    out = tmp_path / "run"
    out.mkdir()
    (out / layout.VALIDATION).write_text((first / layout.VALIDATION).read_text())
    result = train_session(cfg, out, resume_from=checkpoint_path(first, 256))
    rows = read_validation(out / layout.VALIDATION)
    earlier = read_validation(first / layout.VALIDATION)
    assert [r["timesteps"] for r in rows] == [128, 256, 384, 512]
    assert pd.DataFrame(rows[:2]).equals(pd.DataFrame(earlier[:2]))
    assert result.validations == 4
    best = best_row(rows, "sharpe")
    assert best is not None
    kept = load_model("ppo", out / layout.BEST_MODEL, None, device="cpu")
    assert kept.num_timesteps == best["timesteps"]
    if best["timesteps"] <= 256:  # restored from the checkpoint, not re-made
        expected = load_model("ppo", checkpoint_path(first, int(best["timesteps"])), None,
                              device="cpu")  # fmt: skip
        assert _same_weights(kept, expected)


def test_validation_leaves_training_unchanged(validated, fast_overrides, tmp_path) -> None:
    _, first, _, _ = validated
    cfg = load_train_config(fast_overrides("ppo", *RUN, "session.validation.every_timesteps=null"))
    train_session(cfg, tmp_path)
    assert (tmp_path / layout.MODEL).read_bytes() == (first / layout.MODEL).read_bytes()
    assert not (tmp_path / layout.VALIDATION).exists()
    assert not (tmp_path / layout.BEST_MODEL).exists()
    assert json.loads((tmp_path / layout.METRICS).read_text())["selected"] == {
        "model": "final", "timesteps": 512,
    }  # fmt: skip


def test_a_fold_session_does_not_validate() -> None:
    cfg = load_train_config(
        ["session.fold=0", "session.eval.splits=[test]", "session.objective=test.sharpe"]
    )
    assert not cfg.session.validation.enabled


@pytest.mark.parametrize(
    ("overrides", "key", "says"),
    [
        (["session.select=best_val", "session.validation.every_timesteps=null"],
         "session.select", "needs in-training validation"),
        (["session.select=best"], "session.select", "valid: final, best_val"),
        (["session.validation.metric=sharp"], "session.validation.metric", "not a metric"),
        (["session.validation.every_timesteps=-5"], "session.validation.every_timesteps", ">= 0"),
        (["session.fold=0", "session.eval.splits=[test]", "session.objective=test.sharpe",
          "session.select=best_val"], "session.select", "walk-forward fold"),
        (["session.init_from=' '"], "session.init_from", "must name a model"),
    ],
)  # fmt: skip
def test_bad_keys_refused_with_the_key_named(overrides, key, says) -> None:
    with pytest.raises(ConfigError) as caught:
        load_train_config(overrides)
    assert caught.value.key == key
    assert says in str(caught.value)
