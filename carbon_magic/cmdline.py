"""Argument parsing shared by the `%carbon SUB …` commands: shell-like words, argparse, and every
mistake turned into IPython's one-line UsageError that names what is accepted."""
from __future__ import annotations

import argparse
import shlex

from IPython.core.error import UsageError


class CommandParser(argparse.ArgumentParser):
    """argparse whose errors are one-line UsageErrors with the usage, never SystemExit."""

    def __init__(self, prog: str, **kwargs):
        super().__init__(prog=prog, add_help=False, **kwargs)

    def error(self, message):
        usage = " ".join(self.format_usage().split()[1:])  # argparse wraps long usages; keep one line
        raise UsageError(f"{self.prog}: {message}. Usage: {usage}")


def split_args(argline: str, prog: str) -> list[str]:
    """The words of a line magic's arguments, quotes honoured."""
    try:
        return shlex.split(argline)
    except ValueError as exc:
        raise UsageError(f"{prog}: {exc}") from None
