"""Domain errors: raised where bad input enters, printed without a traceback by the CLI.

Every message names what the user must look at (a file, a row, a config key, a session)
and the rule that was broken, so the error can be acted on without reading code.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path


class QraptorError(Exception):
    """Base of every error a user is meant to read and act on."""


class ConfigError(QraptorError):
    """A configuration value is missing, of the wrong type or out of range."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"config key '{key}': {problem}")

    def __reduce__(self) -> tuple[type[ConfigError], tuple[str, str]]:
        # pickled by keyword-free arguments (joblib's sweep processes send errors back)
        return (type(self), (self.key, self.problem))


class DataError(QraptorError):
    """A data file is unusable or breaks a validation rule.

    `rows` holds a few offending rows (already formatted) so the user sees examples, not
    just a count.
    """

    def __init__(
        self,
        path: str | Path | None,
        problem: str,
        *,
        rule: str | None = None,
        rows: Sequence[str] = (),
    ) -> None:
        self.path = None if path is None else str(path)
        self.problem = problem
        self.rule = rule
        self.rows = list(rows)
        where = f"{self.path}: " if self.path else ""
        what = f"[{rule}] " if rule else ""
        lines = [f"{where}{what}{problem}"]
        lines += [f"    {row}" for row in self.rows]
        super().__init__("\n".join(lines))

    def __reduce__(self) -> tuple[object, ...]:
        # Exception's default pickling passes only the message to __init__, which needs the
        # problem and the keywords: joblib's sweep processes send errors back pickled
        return (_data_error, (type(self), self.path, self.problem, self.rule, self.rows))


def _data_error(
    cls: type[DataError], path: str | None, problem: str, rule: str | None, rows: list[str]
) -> DataError:
    return cls(path, problem, rule=rule, rows=rows)


@contextlib.contextmanager
def located(path: str | Path) -> Iterator[None]:
    """DataErrors raised inside the block name `path` when they name no file: a pure core
    (features, reduction) knows no path; its caller knows which input it was reading."""
    try:
        yield
    except DataError as exc:
        if exc.path is None:
            raise DataError(path, exc.problem, rule=exc.rule, rows=exc.rows) from None
        raise


class SessionTakenAway(QraptorError):
    """Training must stop because the session is no longer this process's to train (a lost
    lease, a cancel). Defined here so that layers which must react to it (tracking marks the
    run KILLED, not FAILED) need not know the store that raises it (store.errors.LeaseLost)."""
