"""What a page shows instead of a traceback: a thing that is missing and how to make it.

Loaders raise `Unavailable` at the edge where the missing input is found (a DVC output, the
database, a session's result files); pages catch it and render `notice` with the command
that fixes it. Anything else is a bug and propagates.
"""

from __future__ import annotations


class Unavailable(Exception):
    """`what` is not there (`why`); `fix` is the command or step that makes it."""

    def __init__(self, what: str, why: str, fix: str) -> None:
        self.what = what
        self.why = why
        self.fix = fix
        super().__init__(f"{what}: {why} (fix: {fix})")
