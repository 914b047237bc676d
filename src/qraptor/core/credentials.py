"""Where credentials come from: the environment, or a file that a variable names; never a
command-line argument or a config value.

``NAME`` holds the value itself; ``NAME_FILE`` names a file that holds it (the Docker-secrets
convention: a mounted secret, or a file only its owner can read) and is read when ``NAME``
is unset. The value is read where it is used and only ever shown through
`qraptor.core.redact`.

Why not the command line or conf/: ``ps`` shows every process's arguments to every user of
the machine, and `qraptor train` (Hydra) copies its overrides and its composed config into
``outputs/.../.hydra/{config,hydra,overrides}.yaml`` and ``multirun/.../multirun.yaml``. So
every entry point refuses an argument that carries a secret (`refuse_secret_arguments`:
a URI with ``user:password@``, a secret URI option, a value for a key named password, secret,
token or api_key) before anything runs, and `qraptor train` refuses one in its composed
config (`refuse_secret_config`) before Hydra writes anything; both name the key and the
variable the credential belongs in.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qraptor.core.errors import ConfigError
from qraptor.core.log import get_logger
from qraptor.core.redact import find_secrets, override_has_secret

if TYPE_CHECKING:
    from omegaconf import DictConfig

log = get_logger(__name__)
FILE_SUFFIX = "_FILE"
STORE_URI_ENV = "QRAPTOR_MONGO_URI"  # the session store's URI (qraptor.store.uri)
TRACKING_URI_ENV = "QRAPTOR_MLFLOW_URI"  # MLflow's tracking URI (qraptor.tracking.config)
_warned: set[Path] = set()  # files already reported as readable by others, once per process


@dataclass(frozen=True)
class EnvironmentValue:
    """A value found in the environment, and where it came from."""

    value: str
    variable: str  # NAME, or NAME_FILE when the value was read from a file
    path: Path | None = None  # the file, for NAME_FILE

    @property
    def source(self) -> str:
        """Where the value came from, for messages: ``$NAME`` or ``$NAME_FILE (path)``."""
        return f"${self.variable}" + (f" ({self.path})" if self.path else "")


def file_variable(name: str) -> str:
    """The variable naming a file that holds `name`'s value: ``NAME_FILE``."""
    return f"{name}{FILE_SUFFIX}"


def from_environment(name: str) -> EnvironmentValue | None:
    """$NAME, else the contents of the file named by $NAME_FILE, else None.

    A file that is missing, unreadable, empty or of several lines is a ConfigError naming
    the variable and the file; one that group or others may read is used, with a warning.
    """
    value = os.environ.get(name, "").strip()
    if value:
        return EnvironmentValue(value, name)
    variable = file_variable(name)
    named = os.environ.get(variable, "").strip()
    if not named:
        return None
    path = Path(named).expanduser()
    return EnvironmentValue(read_secret_file(path, variable), variable, path)


def read_secret_file(path: Path, variable: str) -> str:
    """The one line of `path` (surrounding blanks and a trailing newline dropped)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(variable, f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise ConfigError(variable, f"{path} is not a text file") from None
    except OSError as exc:
        raise ConfigError(variable, f"cannot read {path}: {exc.strerror or exc}") from None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise ConfigError(variable, f"{path} is empty: it should hold the URI, on one line")
    if len(lines) > 1:
        raise ConfigError(
            variable, f"{path} holds {len(lines)} lines: it should hold the URI alone, on one line"
        )
    _warn_if_shared(path, variable)
    return lines[0]


def _warn_if_shared(path: Path, variable: str) -> None:
    """A warning (once per file) when users other than the owner may read `path`."""
    resolved = path.resolve()
    mode = stat.S_IMODE(resolved.stat().st_mode)
    if mode & (stat.S_IRGRP | stat.S_IROTH) and resolved not in _warned:
        _warned.add(resolved)
        log.warning(
            "%s: %s is readable by group or others (mode %o): `chmod 600 %s` unless only "
            "this user (or container) can see it",
            variable,
            path,
            mode,
            path,
        )


def refuse_secret_arguments(arguments: Sequence[str]) -> None:
    """A ConfigError naming the first of `arguments` (Hydra overrides, options, values) that
    carries a secret, and where that secret goes instead."""
    for index, argument in enumerate(arguments):
        if override_has_secret(argument):
            key, value = _key_and_value(arguments, index)
            raise ConfigError(
                key,
                "a password on the command line is shown by `ps` to every user of this "
                "machine (and `qraptor train` copies its arguments into outputs/ and "
                "multirun/), so nothing was run; " + _where_it_goes(key, value),
            )


def refuse_secret_config(config: DictConfig | dict[str, Any]) -> None:
    """A ConfigError naming the first key of a composed config (interpolations unresolved,
    as Hydra writes it) whose value carries a secret: one set in a file under conf/."""
    from omegaconf import DictConfig, OmegaConf  # loaded by Hydra already: no cost here

    tree = (
        OmegaConf.to_container(config, resolve=False) if isinstance(config, DictConfig) else config
    )
    found = find_secrets(tree)
    if found:
        key, value = found[0]
        raise ConfigError(
            key,
            "a password in a config file is copied by Hydra into every run folder "
            "(.hydra/config.yaml), so nothing was run; remove it from conf/ and "
            + _where_it_goes(key, value),
        )


def _key_and_value(arguments: Sequence[str], index: int) -> tuple[str, str]:
    """The key a secret was given for and its value: ``store.uri`` of ``store.uri=URI``, the
    option before a bare value (``--mongo-uri URI``), else the argument's position."""
    argument = arguments[index]
    key, eq, value = argument.partition("=")
    if eq and "://" not in key:
        return key.lstrip("+~"), value
    if index and arguments[index - 1].startswith("-"):
        return arguments[index - 1], argument
    return f"argument {index + 1}", argument


def _where_it_goes(key: str, value: str) -> str:
    """Which variables take the credential that `key` was given: by the key's group (store,
    tracking), an option's name (--mongo-uri) or the URI's scheme."""
    head = key.lstrip("+~-").split(".", 1)[0].lower()
    scheme = value.strip("'\"").partition("://")[0].lower() if "://" in value else ""
    store = f"${STORE_URI_ENV}, or in a file (chmod 600) named by ${file_variable(STORE_URI_ENV)}"
    tracking = (
        f"${TRACKING_URI_ENV}, or in a file (chmod 600) named by ${file_variable(TRACKING_URI_ENV)}"
    )
    if head == "store" or "mongo" in head or scheme.startswith("mongodb"):
        return f"put the URI in {store}"
    if head == "tracking" or "mlflow" in head:
        return f"put the URI in {tracking}"
    return (
        f"credentials come from the environment: a MongoDB URI in {store}; "
        f"an MLflow URI in {tracking}"
    )
