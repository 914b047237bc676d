"""`qraptor backtest RUN --split ...` is training's evaluation again: every number of
eval/<split>/metrics.json, and trades.csv, equity.csv and baselines_equity.csv byte for byte;
a checkpoint resolves to its run folder; a run without data.json and a changed dataset are
refused, naming what is missing or what differs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qraptor.agent.backtest import recorded_bars_per_year, split_replay
from qraptor.agent.resolve import AgentNotFound, resolve_agent
from qraptor.cli.main import main
from qraptor.core import layout
from qraptor.core.errors import DataError
from qraptor.data.record import observations_from_bars
from qraptor.evaluation.metrics import bars_per_year
from qraptor.evaluation.report import read_run


def _backtest(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = main(["backtest", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("split", ["test", "val"])
def test_a_split_replays_trainings_evaluation_exactly(
    eurusd_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], split: str
) -> None:
    out = tmp_path / split
    code, printed, _ = _backtest(capsys, eurusd_run, "--split", split, "--out", out)
    assert code == 0
    trained = layout.eval_dir(eurusd_run, split)
    for name in layout.EVAL_FILES:
        assert (out / name).read_bytes() == (trained / name).read_bytes(), name
    ours = json.loads((out / layout.METRICS).read_text())
    theirs = json.loads((trained / layout.METRICS).read_text())
    assert {key: ours[key] for key in theirs} == theirs  # agent, baselines, randoms, verdict
    summary = read_run(eurusd_run)["splits"][split]
    assert ours["agent_beats_random_share"] == summary["agent_beats_random_share"]
    interval = ours["uncertainty"]
    assert interval["sharpe_low"] < ours["agent"]["sharpe"] < interval["sharpe_high"]
    assert 0 <= interval["psr"] <= 1
    assert (out / "equity.png").stat().st_size > 10_000
    assert theirs["verdict"]["text"] in " ".join(printed.split())  # the verdict line


def test_a_checkpoint_is_replayed_with_its_run_folders_settings(
    eurusd_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (checkpoint,) = sorted((eurusd_run / "checkpoints").glob("model_*.zip"))
    agent = resolve_agent(str(checkpoint), tmp_path)
    assert agent.folder == eurusd_run.resolve() and agent.model_path == checkpoint
    assert agent.name == f"{eurusd_run.name}-{checkpoint.stem}"
    code, _, _ = _backtest(capsys, checkpoint, "--out", tmp_path / "checkpoint")
    assert code == 0
    # the same as the run folder with that checkpoint as its model (which it is not: the
    # checkpoint was taken before the last update)
    run = tmp_path / "run"
    shutil.copytree(eurusd_run, run)
    shutil.copyfile(checkpoint, run / layout.MODEL)
    code, _, _ = _backtest(capsys, run, "--out", tmp_path / "model")
    assert code == 0
    for name in layout.EVAL_FILES:
        assert (tmp_path / "checkpoint" / name).read_bytes() == (
            tmp_path / "model" / name
        ).read_bytes()
    about = json.loads((tmp_path / "checkpoint" / layout.METRICS).read_text())["backtest"]
    assert about["agent"]["model"] == str(checkpoint)


def test_the_annualisation_is_the_trainers(eurusd_run: Path, eurusd: Path) -> None:
    agent = resolve_agent(str(eurusd_run), eurusd_run)
    replay = split_replay(agent, "test")
    train = pd.read_parquet(eurusd / "dataset" / "dataset.parquet").query("split == 'train'")
    assert replay.periods_per_year == bars_per_year(train["timestamp"])
    # the trainer records its own figure: a backtest away from the dataset uses it as is
    assert recorded_bars_per_year(agent.record, "train") == replay.periods_per_year
    # an older record has only the span, which counts the normalisation's warm-up rows
    older = {k: v for k, v in agent.record.items() if k != "periods_per_year"}
    recorded = recorded_bars_per_year(older, "train")
    assert recorded == pytest.approx(replay.periods_per_year, rel=0.02)
    assert recorded != replay.periods_per_year


def test_a_run_folder_without_a_data_record_is_refused(
    eurusd_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = tmp_path / "old-run"
    shutil.copytree(eurusd_run, old)
    (old / layout.DATA_RECORD).unlink()
    with pytest.raises(AgentNotFound, match=r"data\.json: .*missing: this run predates"):
        resolve_agent(str(old), tmp_path)
    code, _, err = _backtest(capsys, old, "--split", "test")
    assert code == 2 and "data.json" in err and "predates data records" in err
    code, _, err = _backtest(capsys, tmp_path / "nowhere", "--split", "test")
    assert code == 2 and "no such run folder" in err


def test_a_changed_dataset_is_refused_with_both_versions(
    eurusd_run: Path, eurusd: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = tmp_path / "dataset"
    shutil.copytree(eurusd / "dataset", dataset)
    run = tmp_path / "run"
    shutil.copytree(eurusd_run, run)
    config = (run / layout.CONFIG).read_text()
    (run / layout.CONFIG).write_text(config.replace(str(eurusd / "dataset"), str(dataset)))
    agent = resolve_agent(str(run), tmp_path)
    split_replay(agent, "test")  # a byte-identical copy is the same dataset
    frame = pd.read_parquet(dataset / "dataset.parquet")
    frame.loc[frame.index[-1], "close"] *= 1.01
    frame.to_parquet(dataset / "dataset.parquet", index=False)
    before = agent.record["dataset"]["hash"][:16]
    with pytest.raises(DataError, match="version hash differ") as refused:
        split_replay(agent, "test")
    assert before in str(refused.value) and "--allow-changed-data" in str(refused.value)
    code, _, _ = _backtest(
        capsys, run, "--allow-changed-data", "--no-plots", "--out", tmp_path / "out"
    )
    assert code == 0 and not (tmp_path / "out" / "equity.png").exists()


def test_another_folds_test_span_gets_the_runs_frozen_z_scores(
    eurusd_run: Path, eurusd: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The fold's own z-scores were fitted on the fold's training span; the chronological
    run sees that span's bars as it would see any new bars: with its own statistics."""
    agent = resolve_agent(str(eurusd_run), tmp_path)
    replay = split_replay(agent, "test", fold=1)
    fold_rows = pd.read_parquet(eurusd / "dataset" / "folds" / "fold-01.parquet").query(
        "split == 'test'"
    )
    assert len(replay.market) == len(fold_rows) and replay.about["fold"] == 1
    observed = observations_from_bars(pd.read_parquet(eurusd / "bars.parquet"), agent.record)
    columns = agent.record["columns"]["observations"]
    expected = observed.set_index("timestamp").loc[fold_rows["timestamp"], columns]
    np.testing.assert_array_equal(replay.market.features, expected.to_numpy(np.float32))
    assert not np.array_equal(replay.market.features, fold_rows[columns].to_numpy(np.float32))
    code, _, _ = _backtest(capsys, eurusd_run, "--fold", 1, "--out", tmp_path / "out")
    assert code == 0
    about = json.loads((tmp_path / "out" / layout.METRICS).read_text())["backtest"]
    assert about["fold"] == 1 and about["split"] == "test"
