"""What the served model answers (qraptor.evaluation.serving) on bars a client has: the sample's
own bars give `qraptor backtest --data`'s decisions on the same span bar for bar; a client's
positions drive the account the agent decides on; the pyfunc model logged with a run answers
the same in process; bad requests are refused naming the column or row."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from sample_files import write_sample_csv

from qraptor.cli.main import main
from qraptor.core.errors import DataError
from qraptor.tracking.served_agent import ServedAgent

SPAN = 1500  # the sample's last bars: a file a client could have
COLUMNS = ["timestamp", "position", "action", "action_name", "target"]


@pytest.fixture(scope="module")
def decider(eurusd_run: Path) -> ServedAgent:
    return ServedAgent.load(eurusd_run)


@pytest.fixture(scope="module")
def bars(eurusd: Path, sample_frame: pd.DataFrame) -> pd.DataFrame:
    """The pipeline's bars of the sample's last SPAN rows (what the reduction made of them)."""
    bars = pd.read_parquet(eurusd / "bars.parquet")
    first = pd.Timestamp(pd.to_datetime(sample_frame["Time"].iloc[-SPAN], dayfirst=True), tz="UTC")
    return bars.loc[bars["timestamp"] >= first].reset_index(drop=True)


def test_the_decisions_are_the_backtests_on_the_same_bars(
    decider: ServedAgent,
    bars: pd.DataFrame,
    sample_frame: pd.DataFrame,
    eurusd_run,
    tmp_path,
    capsys,
) -> None:
    raw = write_sample_csv(sample_frame.iloc[-SPAN:], tmp_path / "recent.csv")
    out = tmp_path / "bt"
    assert main(["backtest", str(eurusd_run), "--data", str(raw), "--out", str(out)]) == 0
    capsys.readouterr()
    backtest = pd.read_csv(out / "decisions.csv")
    request = bars[["timestamp", "open", "high", "low", "close", "volume", "vwap"]]
    served = decider.decide(request, decisions=0)
    assert list(served.columns[:5]) == COLUMNS
    assert {"prob_short", "prob_flat", "prob_long"} <= set(served.columns)
    # the backtest liquidates at its last step and cannot decide at the last bar: two fewer
    assert len(served) == len(backtest) + 2 and len(backtest) > 1000
    head = served.iloc[: len(backtest)].reset_index(drop=True)
    assert (head["timestamp"] == pd.to_datetime(backtest["timestamp"], utc=True)).all()
    pd.testing.assert_frame_equal(head[COLUMNS[1:]], backtest[COLUMNS[1:]], check_dtype=False)
    assert served["action_name"].nunique() > 1  # a policy that trades: the test can fail
    probs = served.filter(like="prob_").to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    chosen = probs.argmax(axis=1)  # deterministic: the most likely action
    assert (chosen == served["action"].to_numpy()).all()


def test_the_latest_decision_by_default_and_the_clients_positions(
    decider: ServedAgent, bars: pd.DataFrame
) -> None:
    every = decider.decide(bars, decisions=0)
    latest = decider.decide(bars)
    assert len(latest) == 1
    pd.testing.assert_frame_equal(latest, every.iloc[-1:].reset_index(drop=True))
    # An account that held what the agent decided (the position at bar t is the target
    # decided at t-1) is the agent's own: the same decisions.
    own = bars.copy()
    held = every.set_index("timestamp")["target"].shift(1).fillna(0.0)
    own["position"] = held.reindex(pd.DatetimeIndex(own["timestamp"])).fillna(0.0).to_numpy()
    pd.testing.assert_frame_equal(decider.decide(own, decisions=0), every)
    # Always flat: every decision is made on a flat account, position 0.
    flat = bars.assign(position=0.0)
    on_flat = decider.decide(flat, decisions=0)
    assert (on_flat["position"] == 0).all()
    assert on_flat["action"].iloc[0] == every["action"].iloc[0]  # the same first state
    assert not on_flat["action"].equals(every["action"])  # the state is observed


def test_start_replays_from_that_time(decider: ServedAgent, bars: pd.DataFrame) -> None:
    start = bars["timestamp"].iloc[600]
    got = decider.decide(bars, decisions=0, start=start.isoformat())
    assert got["timestamp"].iloc[0] >= start and got["position"].iloc[0] == 0.0


def test_the_logged_pyfunc_answers_the_same(
    decider: ServedAgent, bars: pd.DataFrame, eurusd_run: Path
) -> None:
    from qraptor.tracking.pyfunc import log_policy_model

    with mlflow.start_run():
        info = log_policy_model(eurusd_run, eurusd_run / "model.zip")
    model = mlflow.pyfunc.load_model(info.model_uri)
    request = bars[["timestamp", "open", "high", "low", "close", "volume"]].copy()
    request["timestamp"] = request["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    got = model.predict(request, params={"decisions": 5})
    expected = decider.decide(bars.drop(columns=["vwap", "trades"], errors="ignore"), decisions=5)
    assert got["timestamp"].iloc[-1] == expected["timestamp"].iloc[-1].isoformat()
    pd.testing.assert_frame_equal(got.drop(columns="timestamp"), expected.drop(columns="timestamp"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda b: b.drop(columns=["volume"]), "no column(s) ['volume']"),
        (lambda b: b.assign(close=b["close"].where(b.index != 7, np.nan)), "row 7: close"),
        (lambda b: b.iloc[[0, 2, 1, *range(3, len(b))]], "row 2: timestamp"),
        (lambda b: b.assign(position=2.0), "row 0: position = 2 is outside -1..1"),
        (lambda b: b.iloc[:100], "too few bars"),
    ],
)
def test_bad_requests_are_refused_naming_what(decider: ServedAgent, bars, change, message) -> None:
    with pytest.raises(DataError) as caught:
        decider.decide(change(bars))
    assert message in str(caught.value) and "the request's bars" in str(caught.value)


def test_daily_bars_are_refused_by_an_hourly_model(decider: ServedAgent, bars) -> None:
    daily = bars.iloc[::24].reset_index(drop=True)
    with pytest.raises(DataError) as caught:
        decider.decide(daily)
    assert caught.value.rule == "bar_frequency"


def test_a_sessions_model_goes_to_its_run_whatever_run_was_left_active(eurusd_run: Path) -> None:
    """The logged model, and so its registered version, belongs to the run named: not to a
    run this thread happened to have active (a version under another run is refused)."""
    from qraptor.tracking.pyfunc import log_policy_model, register_policy
    from qraptor.tracking.runs import TrackingError

    client = mlflow.MlflowClient()
    with mlflow.start_run() as stray:
        session = client.create_run(stray.info.experiment_id).info.run_id
        info = log_policy_model(eurusd_run, eurusd_run / "model.zip", run_id=session)
        assert mlflow.active_run().info.run_id == session  # the stray one set aside, not ended
        assert client.get_run(stray.info.run_id).info.status == "RUNNING"
        assert client.get_logged_model(info.model_id).source_run_id == session
        version = register_policy(info.model_uri, "decisions-owner", session)
        assert client.get_model_version("decisions-owner", version).run_id == session
        with pytest.raises(TrackingError, match=f"not {stray.info.run_id}"):
            register_policy(info.model_uri, "decisions-owner-2", stray.info.run_id)
    mlflow.end_run()
