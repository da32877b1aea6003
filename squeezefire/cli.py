"""What the commands of ``squeezefire`` share as command-line programs."""
from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["prog_name"]


def prog_name(default: str) -> str:
    """The name to show in usage lines: the console script's
    (``squeezefire-build``, from ``[project.scripts]``) when the command was
    started as one, else ``default``, the form the docs give
    (``python -m rtl_gen.build``)."""
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return name if name.startswith("squeezefire-") else default
