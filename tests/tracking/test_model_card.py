"""The model card of a real tiny run: the figures of its metrics.json, the dataset hash of
its data.json, the commit, the config diff of the overrides given, the validation table;
logged to MLflow and set as the registered version's description; remade by
`qraptor card` byte for byte; a folder that is no finished run fails naming the file."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from mlflow import MlflowClient

from qraptor.cli.main import main
from qraptor.core import layout
from qraptor.core.formatting import format_metric
from qraptor.core.paths import project_root
from qraptor.evaluation.verdict import sharpe_uncertainty
from qraptor.tracking.card_facts import config_diff, default_train_config, read_run_facts
from qraptor.tracking.config import load_tracking_config
from qraptor.tracking.model_card import (
    DESCRIPTION_LIMIT,
    card_description,
    write_model_card,
    write_run_card,
)
from qraptor.tracking.session_run import start_session_run
from qraptor.train import load_train_config
from qraptor.train.callbacks import TrainHooks
from qraptor.train.trainer import train_session
from qraptor.train.validation import read_validation

OVERRIDES = ("session.seed=7", "env.costs.fee_rate=0.0005", "session.name=card")


@pytest.fixture(scope="module")
def tracked(tiny_overrides: list[str], tmp_path_factory: pytest.TempPathFactory):
    """One tiny session trained and tracked as `qraptor train` does it: the card written
    after training, before `log_result`; the model logged and registered."""
    folder = tmp_path_factory.mktemp("model_card")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    cfg = load_train_config([*tiny_overrides, *OVERRIDES])
    tracking = load_tracking_config(
        [f"uri={uri}", "artifacts.keras_h5=false", "artifacts.plots=false",
         "model.log=true", "model.register=true"]
    )  # fmt: skip
    out = folder / "run"
    with start_session_run(cfg.to_dict(), tracking=tracking) as tracker:
        result = train_session(cfg, out, tracker.train_hooks(TrainHooks(), out))
        defaults = default_train_config(project_root() / "conf")  # what `qraptor train` passes
        assert write_run_card(out, defaults) == out / layout.MODEL_CARD
        tracker.log_result(result, out)
    assert tracker.registered_version is not None
    return MlflowClient(tracker.uri), tracker, out


def test_the_card_states_the_runs_own_figures(tracked) -> None:
    _, _, out = tracked
    card = (out / layout.MODEL_CARD).read_text()
    summary = json.loads((out / layout.METRICS).read_text())
    record = json.loads((out / layout.DATA_RECORD).read_text())
    for split, section in summary["splits"].items():
        agent = section["agent"]
        cells = [format_metric(m, agent[m]) for m in ("sharpe", "total_return", "max_drawdown")]
        assert f"| **agent** | {' | '.join(cells)} |" in card, split
        held = section["baselines"]["buy_and_hold"]["sharpe"]
        assert f"| buy and hold | {format_metric('sharpe', held)} |" in card
        assert f"Verdict: {section['verdict']['text']}" in card
        u = sharpe_uncertainty(agent, record["periods_per_year"])
        low, high = (format_metric("sharpe", u[k]) for k in ("sharpe_low", "sharpe_high"))
        assert f"95% interval {low} to {high}" in card, split
    assert f"`{record['dataset']['hash']}`" in card and record["dataset"]["method"] in card
    for span, rows in record["spans"].items():
        assert f"| {span} | {rows['first']} | {rows['last']} | {rows['rows']:,} |" in card
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True)
    assert head.stdout.strip() and f"Git commit `{head.stdout.strip()}`" in card
    assert "## Known limits" in card and "Costs are assumed" in card and "5 bp" in card


def test_the_card_lists_the_config_keys_changed_from_the_defaults(tracked) -> None:
    _, _, out = tracked
    card = (out / layout.MODEL_CARD).read_text()
    diff = card.split("## Configuration: changes from the defaults")[1].split("\n## ")[0]
    assert "- `session.seed: 7 (default 0)`" in diff
    assert "- `env.costs.fee_rate: 0.0005 (default 0.0002)`" in diff
    assert "- `session.total_timesteps: 256 (default 200000)`" in diff  # experiment=tiny
    assert "session.dataset" not in diff and "session.name" not in diff  # noise, not changes
    assert "session.objective" not in diff  # unchanged keys are not listed


def test_the_card_has_the_validation_table_and_the_curve(tracked) -> None:
    _, _, out = tracked
    card = (out / layout.MODEL_CARD).read_text()
    rows = read_validation(out / layout.VALIDATION)
    assert [r["timesteps"] for r in rows] == [128, 256]  # experiment=tiny validates twice
    for row in rows:
        cells = [format_metric(m, row[m]) for m in ("sharpe", "total_return", "max_drawdown")]
        assert f"| {row['timesteps']:,} | {' | '.join(cells)} |" in card
    assert f"![training curve]({layout.CARD_CURVE})" in card
    assert (out / layout.CARD_CURVE).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_mlflow_has_the_card_as_artifact_and_version_description(tracked) -> None:
    client, tracker, out = tracked
    listed = {f.path for f in client.list_artifacts(tracker.run_id)}
    assert {layout.MODEL_CARD, layout.CARD_CURVE} <= listed
    (version,) = client.search_model_versions(f"run_id = '{tracker.run_id}'")
    assert str(version.version) == tracker.registered_version
    text = (out / layout.MODEL_CARD).read_text()
    expected = card_description(text, f"runs:/{tracker.run_id}/{layout.MODEL_CARD}")
    assert version.description == expected and len(expected) <= DESCRIPTION_LIMIT
    assert expected.startswith("# Model card: card (ppo, seed 7)")


def test_housekeeping_describes_a_version_with_the_logged_card(tracked) -> None:
    """A worker that died before closing its run: housekeeping registers the model and
    describes it with the card the run logged (there is no run folder by then)."""
    from qraptor.tracking.session_run import _logged_card

    client, tracker, _ = tracked
    (version,) = client.search_model_versions(f"run_id = '{tracker.run_id}'")
    assert _logged_card(client, tracker.run_id) == version.description
    other = client.create_run(client.get_run(tracker.run_id).info.experiment_id).info.run_id
    assert _logged_card(client, other) is None  # a run without a card: no description


def test_qraptor_card_remakes_the_same_card(tracked, tmp_path: Path, capsys) -> None:
    _, _, out = tracked
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    (copy / layout.MODEL_CARD).unlink()
    assert main(["card", str(copy), "--conf", str(project_root() / "conf")]) == 0
    assert (copy / layout.MODEL_CARD).read_bytes() == (out / layout.MODEL_CARD).read_bytes()
    assert "model_card.md" in capsys.readouterr().out


def test_qraptor_card_without_metrics_names_the_file(tracked, tmp_path: Path, capsys) -> None:
    _, _, out = tracked
    copy = tmp_path / "unfinished"
    shutil.copytree(out, copy)
    (copy / layout.METRICS).unlink()
    assert main(["card", str(copy), "--no-diff"]) == 2
    err = capsys.readouterr().err
    assert str(copy / layout.METRICS) in " ".join(err.split()) and "missing" in err
    assert main(["card", str(tmp_path / "nowhere"), "--no-diff"]) == 2
    assert "not a run folder" in capsys.readouterr().err


def test_a_card_without_defaults_or_optional_files_says_so(tracked, tmp_path: Path) -> None:
    _, _, out = tracked
    copy = tmp_path / "bare"
    copy.mkdir()
    for name in (layout.CONFIG, layout.METRICS):
        shutil.copy(out / name, copy / name)
    card = write_model_card(copy, None).read_text()
    assert "was not available: no diff" in card
    assert "Not recorded: the run folder has no data.json" in card
    assert "no provenance.json" in card and "No in-training validation" in card
    assert not (copy / layout.CARD_CURVE).exists()
    assert "interval: not available" in card  # no bars a year without data.json


def test_config_diff_compares_values_not_noise() -> None:
    defaults = {"session": {"name": "default", "seed": 0, "splits": ["val", "test"]},
                "algo": {"lr": 0.0003, "net": [64, 64]}}  # fmt: skip
    config = {"session": {"name": "mine", "seed": 0, "splits": ["val"], "dataset": "/x"},
              "algo": {"lr": 3e-4, "net": [64, 64], "extra": True}}  # fmt: skip
    lines = [c.line for c in config_diff(config, defaults)]
    assert lines == ["algo.extra: true (default (not in the defaults))",
                     "session.splits: [val] (default [val, test])"]  # fmt: skip


def test_card_description_is_cut_at_a_paragraph_with_a_pointer() -> None:
    text = "\n\n".join(f"paragraph {i} " + "x" * 300 for i in range(40))
    cut = card_description(text, "runs:/abc/model_card.md")
    assert len(cut) <= DESCRIPTION_LIMIT and cut.endswith("runs:/abc/model_card.md)\n")
    assert "truncated" in cut and cut.split("\n\n")[-2].endswith("x")  # whole paragraphs
    assert card_description("short", "runs:/abc/model_card.md") == "short"


def test_defaults_compose_inside_a_running_hydra_app() -> None:
    """`qraptor train` writes the card inside Hydra's app: composing the defaults there
    must work and leave the app's Hydra instance in place."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    conf = project_root() / "conf"
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        running = GlobalHydra.instance().hydra
        defaults = default_train_config(conf)
        assert GlobalHydra.instance().is_initialized()
        assert GlobalHydra.instance().hydra is running
    assert defaults["session"]["total_timesteps"] == 200000


def test_facts_need_a_finished_run(tmp_path: Path) -> None:
    from qraptor.core.errors import DataError

    (tmp_path / layout.CONFIG).write_text("session: {}\n")
    with pytest.raises(DataError, match=r"metrics\.json: missing"):
        read_run_facts(tmp_path)
