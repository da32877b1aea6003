"""Write a file so it is never half written and nothing else is touched:
the bytes go to a fresh, uniquely named temporary file beside the target
(created here, so removing it on failure removes only our own file), which
then replaces the target in one rename."""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replacing(path: str | os.PathLike):
    """Yields the temporary path to write; on success it replaces ``path``."""
    path = Path(path)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o666 & ~umask)           # mkstemp's 0600 would make the result private
    try:
        yield tmp
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)     # only the file mkstemp made for us


def write_text(path: str | os.PathLike, text: str) -> None:
    with replacing(path) as tmp:
        tmp.write_text(text)
