"""The one error every validation layer raises: bad input from the user,
told in one line that names the thing (option, file, layer) and its value.

Every command turns it into ``error: <the line>`` and exit 2
(``golden.command``).  The message is kept to one line here, so no caller
can print a second one by accident (a user's exception text may hold
newlines)."""
from __future__ import annotations

__all__ = ["BadInput", "first_line"]


def first_line(e: BaseException) -> str:
    """The first non-empty line of an exception's text, or its type's name."""
    for line in str(e).splitlines():
        if line.strip():
            return line.strip()
    return type(e).__name__


class BadInput(ValueError):
    """Bad input: one line naming the thing and its value (exit 2)."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()) or "bad input")
