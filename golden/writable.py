"""Whether a command may create a file in a folder, asked before any work.

Tested by creating (and removing) a file there: permission bits say
nothing to root, and a read-only mount or a full quota only shows on a
write.  ``squeezefire.safe_output`` (output folders) and every command
that writes a single file (``golden.quantize --out``, ``golden.train
--out``, ``golden/compare.py --json``, ...) ask it."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from golden.bad_input import BadInput

__all__ = ["write_problem", "check_file_out"]


def write_problem(folder: Path) -> str | None:
    """Why nothing can be created in ``folder`` -- or, when it does not
    exist yet, in its nearest existing ancestor (the command creates the
    rest) --, or None when a file can be."""
    ancestor = Path(folder)
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"{ancestor} is a file, not a folder"
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=ancestor)
    except OSError as e:
        return f"cannot write in {ancestor} ({e.strerror or type(e).__name__})"
    os.close(fd)
    os.unlink(probe)
    return None


def check_file_out(path: Path, option: str) -> None:
    """``option`` (e.g. ``--out``) names a file a command will write:
    BadInput unless its folder exists and can be written."""
    path = Path(path)
    if path.is_dir():
        raise BadInput(f"{option} {path} is a folder; give a file name")
    if not path.parent.is_dir():
        raise BadInput(f"{option} {path}: folder {path.parent} does not exist")
    problem = write_problem(path.parent)
    if problem:
        raise BadInput(f"{option} {path}: {problem}")
