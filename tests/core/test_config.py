"""One config composition per command: conf/qraptor.yaml's groups, one override rule, and the
root's choice of a group's file honoured (what reading `<group>/default.yaml` ignored)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from qraptor.core.config import compose_command, load_section, root_groups, scope_overrides
from qraptor.core.errors import ConfigError
from qraptor.store.config import StoreConfig
from qraptor.worker.config import WorkerConfig


def test_keys_outside_every_group_belong_to_the_commands_group() -> None:
    groups = ("store", "worker", "compare")
    assert scope_overrides(
        ["lease_seconds=30", "worker.poll_seconds=5", "+retry.x=1", "store=other", "~uri"],
        groups,
        "store",
    ) == ["store.lease_seconds=30", "worker.poll_seconds=5", "+store.retry.x=1", "store=other",
          "~store.uri"]  # fmt: skip


def test_the_command_root_names_every_service_group(project_root: Path) -> None:
    assert set(root_groups("qraptor", project_root / "conf")) == {
        "store", "worker", "tracking", "ledger", "compare"
    }  # fmt: skip


def test_one_composition_serves_every_section_of_a_command(project_root: Path) -> None:
    composed = compose_command(
        "qraptor", ["lease_seconds=30", "worker.poll_seconds=0.5"], "store", project_root / "conf"
    )
    assert composed.store.lease_seconds == 30 and composed.worker.poll_seconds == 0.5
    assert composed.compare.split == "val"  # the other groups are there, untouched


def test_a_uri_with_query_options_is_a_string_not_a_syntax_error(project_root: Path) -> None:
    uri = "mongodb://u:p%40ss@db:27017/qraptor?authSource=admin&tls=true"
    cfg = load_section("qraptor", "store", StoreConfig, [f"uri={uri}"], project_root / "conf")
    assert cfg.uri == uri
    assert (
        load_section("qraptor", "store", StoreConfig, ["uri=null"], project_root / "conf").uri
        is None
    )


def test_the_roots_choice_of_a_groups_file_is_honoured(project_root: Path, tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    shutil.copytree(project_root / "conf", conf)
    (conf / "worker" / "patient.yaml").write_text(
        (conf / "worker" / "default.yaml")
        .read_text()
        .replace("poll_max_seconds: 15.0", "poll_max_seconds: 60.0")
    )
    root = conf / "qraptor.yaml"
    root.write_text(root.read_text().replace("- worker: default", "- worker: patient"))
    assert load_section("qraptor", "worker", WorkerConfig, conf_dir=conf).poll_max_seconds == 60
    other = load_section("qraptor", "worker", WorkerConfig, ["worker=default"], conf)
    assert other.poll_max_seconds == 15


def test_a_bad_key_names_it() -> None:
    with pytest.raises(ConfigError, match="lease_secnds"):
        load_section("qraptor", "store", StoreConfig, ["lease_secnds=3"])


def test_a_whole_number_in_scientific_notation_is_an_int_and_a_fraction_is_refused() -> None:
    from qraptor.train.config import load_train_config

    cfg = load_train_config(["session.total_timesteps=1e5", "algo.n_steps=2.56e2"])
    assert cfg.session.total_timesteps == 100_000 and type(cfg.session.total_timesteps) is int
    assert cfg.algo.n_steps == 256 and type(cfg.algo.n_steps) is int
    assert cfg.algo.learning_rate == 3e-4  # a float field keeps its float
    with pytest.raises(ConfigError, match=r"session\.total_timesteps"):
        load_train_config(["session.total_timesteps=1.2345e3"])
