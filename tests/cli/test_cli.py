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
