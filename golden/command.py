"""How every command ends: one line and an exit code, never a traceback.

    @command_main
    def main(argv=None) -> int: ...

``command_main`` turns Ctrl-C (``KeyboardInterrupt``) anywhere in ``main``
into the line ``interrupted; nothing written`` -- or what was kept, when
the command raised ``Interrupted("...kept...")`` -- and exit 130, and
bad input (``BadInput``, ``UsageError`` from ``ArgumentParser``) into
``error: ...`` and exit 2.  ``ArgumentParser`` is argparse's with that
one-line error instead of a usage block.  Every layer may use it (it is
in ``golden``, at the bottom of the import order).
"""
from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable

from golden.bad_input import BadInput

__all__ = ["ArgumentParser", "Interrupted", "UsageError", "command_main", "INTERRUPTED", "BAD_INPUT"]

BAD_INPUT = 2
INTERRUPTED = 130          # 128 + SIGINT, what a shell reports for a Ctrl-C


class UsageError(BadInput):
    """An option argparse refuses (unknown, missing, not a number)."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, with what the command kept for the user (e.g. a checkpoint
    to resume from); ``command_main`` prints it."""

    def __init__(self, kept: str):
        super().__init__(kept)
        self.kept = kept


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a refused option raises ``UsageError`` (one line, with
    the program's name) instead of printing the usage and exiting."""

    def error(self, message: str):
        raise UsageError(f"{message} (see {self.prog} --help)")


def command_main(main: Callable[..., int]) -> Callable[..., int]:
    """``main`` returning its exit code, with Ctrl-C and bad input each
    ending in one line on stderr (exit 130 and 2)."""
    @functools.wraps(main)
    def run(*args, **kwargs) -> int:
        try:
            return main(*args, **kwargs)
        except KeyboardInterrupt as e:
            kept = e.kept if isinstance(e, Interrupted) else "nothing written"
            print(f"interrupted; {kept}", file=sys.stderr, flush=True)
            return INTERRUPTED
        except BadInput as e:
            print(f"error: {e}", file=sys.stderr, flush=True)
            return BAD_INPUT
    return run
