"""Argument types shared by the subcommands."""

from __future__ import annotations

import argparse


def whole_number(text: str) -> int:
    """An int as people type one: 100000, 100_000, 1e5 or 2.5e3; 1.5 is refused."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value.is_integer():
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}")
    return int(value)
