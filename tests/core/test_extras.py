"""Using an optional part that is not installed says which extra to install."""

from __future__ import annotations

import pytest

from qraptor.core.errors import QraptorError
from qraptor.core.extras import EXTRAS, MissingExtra, installed, require


def test_a_missing_package_names_its_extra() -> None:
    with pytest.raises(MissingExtra) as caught:
        require("qraptor_no_such_package", "tracking")
    message = str(caught.value)
    assert "qraptor[tracking]" in message and "qraptor_no_such_package" in message
    assert isinstance(caught.value, QraptorError)  # the CLI prints it as one line, exit 2


def test_an_installed_package_is_returned() -> None:
    assert require("json", "store").__name__ == "json"


def test_this_environment_has_every_extra_make_installs() -> None:
    """`make test` installs qraptor[all]: every extra's packages are importable."""
    assert [extra for extra in EXTRAS if not installed(extra)] == []


BLOCKER = """
import importlib.abc, importlib.util, sys
BLOCKED = set(sys.argv[1].split(","))
real_find_spec = importlib.util.find_spec

def find_spec(name, *args, **kwargs):
    return None if name.split(".")[0] in BLOCKED else real_find_spec(name, *args, **kwargs)

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

importlib.util.find_spec = find_spec
sys.meta_path.insert(0, Block())
sys.argv = sys.argv[2:]
import runpy
runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""


DOWNLOAD = ["qraptor.cli.main", "data", "download", "--out", "{tmp}/raw"]


@pytest.mark.parametrize(
    ("blocked", "command", "extra"),
    [
        ("pymongo,secantus", ["qraptor.cli.main", "db", "status"], "store"),
        ("pymongo,secantus", ["qraptor.cli.main", "worker", "--once"], "store"),
        ("pymongo,secantus", ["qraptor.cli.main", "sessions", "list"], "store"),
        ("dash,plotly", ["qraptor.cli.main", "dashboard", "--no-db"], "dashboard"),
        ("nbclient,nbformat", ["qraptor.analysis.run_notebook", "x.ipynb"], "notebooks"),
        ("ccxt", [*DOWNLOAD, "data=ccxt_btc"], "connectors"),
        ("yfinance", [*DOWNLOAD, "data=yfinance_aapl"], "connectors"),
    ],
)
def test_a_command_without_its_extra_says_which_to_install(
    blocked: str, command: list[str], extra: str, project_root, tmp_path
) -> None:
    """As on a core install: the packages are made unimportable in a fresh interpreter."""
    import subprocess
    import sys

    command = [part.replace("{tmp}", str(tmp_path)) for part in command]

    done = subprocess.run(
        [sys.executable, "-c", BLOCKER, blocked, *command],
        capture_output=True, text=True, cwd=project_root, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"qraptor[{extra}]" in done.stderr
    assert "Traceback" not in done.stderr
