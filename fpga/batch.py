"""Many images through the board: requests pipelined two deep (protocol
version 2, ``docs/host-link.md``), and the per-image results file.

The board receives request ``k + 1`` while it computes image ``k``; the host
sends request ``k + 2`` only once reply ``k`` is in, so at most two are
outstanding and the link and the engine overlap.  A version-1 board (one
request at a time) gets a window of 1.

The results file (CSV, or JSON by its suffix) is written to a temporary
name beside it and renamed; an existing file is replaced only when this
command wrote it (its first line names the command), never otherwise.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from fpga.protocol import LinkError, Result, encode_request, read_reply
from golden import atomic

__all__ = ["classify_many", "ResultsFile", "ResultsError", "window_for"]

WRITTEN_BY = "python -m fpga.run"


class ResultsError(ValueError):
    """The results path cannot be written (one line naming it)."""


def window_for(version: int) -> int:
    """Requests a board of protocol ``version`` may have outstanding."""
    return 2 if version >= 2 else 1


def classify_many(port, frames: Iterable[bytes], window: int = 2) -> Iterator[Result]:
    """Each frame's ``Result``, in order; ``frames`` are pixel bytes.  At
    most ``window`` requests are outstanding."""
    pending = 0
    source = iter(frames)
    exhausted = False
    while True:
        while not exhausted and pending < window:
            pixels = next(source, None)
            if pixels is None:
                exhausted = True
                break
            port.write(encode_request(pixels))
            pending += 1
        if pending == 0:
            return
        reply = read_reply(port)
        pending -= 1
        if not isinstance(reply, Result):
            raise LinkError("unexpected reply to an image request")
        yield reply


@dataclass(frozen=True)
class ResultsFile:
    """Where the per-image results go; ``check`` before any work."""
    path: Path

    @property
    def is_json(self) -> bool:
        return self.path.suffix.lower() == ".json"

    def _ours(self) -> bool:
        try:
            with open(self.path, encoding="utf-8", errors="replace") as f:
                return WRITTEN_BY in f.readline()
        except OSError:
            return False

    def check(self) -> None:
        """ResultsError unless the file may be (re)written: its folder
        exists and is writable, and it is absent or this command's."""
        folder = self.path.parent if str(self.path.parent) else Path(".")
        if self.path.is_dir():
            raise ResultsError(f"results file {self.path} is a folder")
        if not folder.is_dir():
            raise ResultsError(f"results file {self.path}: folder {folder} does not exist")
        if not os.access(folder, os.W_OK):
            raise ResultsError(f"results file {self.path}: folder {folder} is not writable")
        if self.path.exists() and not self._ours():
            raise ResultsError(f"results file {self.path} exists and was not written by {WRITTEN_BY}; "
                               "choose another --out")

    def _text(self, rows: list[dict]) -> str:
        if self.is_json:
            return json.dumps({"written_by": WRITTEN_BY, "images": rows}, indent=1) + "\n"
        n = max((len(r["sums"]) for r in rows), default=0)
        lines = [f"# written by {WRITTEN_BY}", ",".join(["index", "label", "class", *(f"sum{k}" for k in range(n))])]
        for r in rows:
            label = "" if r["label"] is None else str(r["label"])
            lines.append(",".join([str(r["index"]), label, str(r["class"]), *map(str, r["sums"])]))
        return "\n".join(lines) + "\n"

    def write(self, rows: list[dict]) -> None:
        """Rows of ``index``, ``label`` (or None), ``class``, ``sums``."""
        atomic.write_text(self.path, self._text(rows))     # a temporary file of its own, then a rename
