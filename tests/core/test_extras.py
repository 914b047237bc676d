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
