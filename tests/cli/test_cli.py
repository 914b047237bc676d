"""The command line: user errors are one readable message (exit 2), never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from qraptor.cli.main import main


def test_bad_data_file_is_named_with_its_rule_and_row(tmp_path: Path, capsys, project_root):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "day.csv").write_text("timestamp,price,size\n2024-01-02T10:00:00Z,abc,1\n")
    code = main(
        [
            "data",
            "ingest",
            "--raw",
            str(raw),
            "--out",
            str(tmp_path / "out"),
            "data=files",
            f"data.files.glob={raw}/*.csv",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert f"{raw / 'day.csv'}: [not_numeric]" in err  # rich markup must not eat the rule
    assert "row 1: price='abc'" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_config_typo_names_the_key(tmp_path: Path, capsys):
    code = main(["data", "raw", "--out", str(tmp_path / "raw"), "+data.sourcee=sample"])
    err = capsys.readouterr().err
    assert code == 2
    assert "data.sourcee" in err


def test_help_lists_the_stages(capsys):
    with pytest.raises(SystemExit) as done:
        main(["data", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    for stage in ("raw", "ingest", "clean", "reduce", "features", "split"):
        assert stage in out


def test_test_file_names_are_unique(project_root: Path):
    """pytest imports test modules by basename: two test_x.py in different folders clash."""
    names = [p.name for p in (project_root / "tests").rglob("test_*.py")]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


@pytest.mark.parametrize(
    "command",
    ["data", "db", "worker", "sessions", "evaluate", "backtest", "card", "compare", "dashboard"],
)
def test_every_commands_help_shows_examples(command: str, capsys) -> None:
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert ("examples:" in out and f"qraptor {command}" in out) or "dvc repro" in out


def _commands(parser, path=()):
    """(path, parser) of every command and subcommand under `parser`."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name), sub
                yield from _commands(sub, (*path, name))


def test_every_command_and_subcommand_says_what_it_does() -> None:
    from qraptor.cli.main import _parser

    undescribed = [" ".join(p) for p, sub in _commands(_parser()) if not (sub.description or "")]
    assert undescribed == []


@pytest.mark.parametrize("group", ["data", "db", "sessions", "serve"])
def test_a_group_without_its_action_prints_its_own_help(group: str, capsys) -> None:
    assert main([group]) == 2  # a usage error, as argparse's own
    out = capsys.readouterr().out
    assert out.startswith(f"usage: qraptor {group}") and "COMMAND" not in out.splitlines()[0]


def test_db_status_exits_3_when_the_server_is_stopped(tmp_path: Path, monkeypatch, capsys) -> None:
    for name in ("QRAPTOR_MONGO_URI", "QRAPTOR_MONGO_URI_FILE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SystemExit) as done:
        main(["db", "status", f"local.dir={tmp_path / 'db'}"])
    assert done.value.code == 3  # what `systemctl status` answers for a stopped service
    assert "local MongoDB server: stopped" in capsys.readouterr().out


def test_counts_accept_scientific_notation() -> None:
    from qraptor.cli.main import _parser

    args = _parser().parse_args(["sessions", "list", "--limit", "1e2"])
    assert args.limit == 100 and type(args.limit) is int
    with pytest.raises(SystemExit):
        _parser().parse_args(["sessions", "list", "--limit", "2.5"])
