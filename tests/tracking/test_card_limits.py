"""The known limits follow the run's numbers: a weak agent on a short span gets every
warning, a strong one on a long span only the backtest's assumptions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qraptor.evaluation.verdict import sharpe_uncertainty
from qraptor.tracking.card_facts import RunFacts
from qraptor.tracking.card_limits import known_limits

PER_YEAR = 252.0
CONFIG = {
    "session": {"eval": {"deterministic": True}},
    "env": {"costs": {"fee_rate": 0.0002, "slippage_bps": 0.5}, "execution": {"price": "open"}},
}
RECORD = {"periods_per_year": PER_YEAR, "pipeline": {"data": {"name": "sample_googl",
                                                                "source": "sample"}}}  # fmt: skip


def _facts(agent: dict[str, Any], held_sharpe: float, share: float, edge: bool) -> RunFacts:
    split = {
        "agent": agent,
        "baselines": {"buy_and_hold": {"sharpe": held_sharpe}},
        "random_sharpes": [0.0] * 16,
        "agent_beats_random_share": share,
        "verdict": {"edge": edge, "text": "..."},
    }
    return RunFacts(Path("run"), CONFIG, {"splits": {"test": split}}, record=RECORD)


def _limits(facts: RunFacts) -> list[str]:
    u = {s: sharpe_uncertainty(v["agent"], PER_YEAR) for s, v in facts.splits.items()}
    return known_limits(facts, u)


def test_a_weak_agent_on_a_short_span_gets_every_warning() -> None:
    agent = {"sharpe": 0.3, "sharpe_per_bar": 0.02, "bars": 60, "skewness": 0.0,
             "kurtosis": 3.0, "span_days": 87.0, "n_trades": 4}  # fmt: skip
    text = "\n".join(_limits(_facts(agent, held_sharpe=1.1, share=0.5, edge=False)))
    assert "60 bars (87.0 days), less than a year" in text
    assert "Only 4 trades on test" in text
    assert "interval [" in text and "includes 0" in text
    assert "does not beat buy-and-hold's (1.10)" in text
    assert "above 50% of the 16 matched random runs'" in text
    assert "No evidence of an edge on test" in text
    assert "2 bp and 0.5 bp of slippage" in text and "sample_googl" in text
    assert "deterministic policy" in text


def test_a_strong_agent_on_a_long_span_gets_only_the_assumptions() -> None:
    agent = {"sharpe": 3.2, "sharpe_per_bar": 0.2, "bars": 2520, "skewness": 0.0,
             "kurtosis": 3.0, "span_days": 3650.0, "n_trades": 400}  # fmt: skip
    lines = _limits(_facts(agent, held_sharpe=0.8, share=1.0, edge=True))
    text = "\n".join(lines)
    assert "2,520 bars (3,650.0 days): one stretch of history" in text
    for warning in ("less than a year", "trades on", "includes 0", "does not beat",
                    "matched random", "No evidence"):  # fmt: skip
        assert warning not in text, warning
    assert len(lines) == 4  # span, costs, one instrument, deterministic policy


def test_a_card_that_cannot_be_made_does_not_fail_training(tmp_path: Path, caplog) -> None:
    """write_run_card (what training calls) logs and returns None, whatever went wrong."""
    from qraptor.tracking.model_card import write_run_card

    assert write_run_card(tmp_path / "missing", None) is None  # a DataError
    (tmp_path / "config.yaml").write_text("session: {}\n")
    (tmp_path / "metrics.json").write_text('{"splits": {"test": {"agent": "not a mapping"}}}')
    assert write_run_card(tmp_path, None) is None  # an unexpected shape
    assert not (tmp_path / "model_card.md").exists()
    assert "no model card for" in caplog.text
