"""``board.json``: what a host needs to talk to a build's bitstream.

``python -m rtl_gen.build`` writes it beside the bitstream (``build/<board>/``);
``python -m fpga.run`` and ``python -m fpga.program`` read it::

    {"format": 1, "board": "ice40", "board_title": "iCEBreaker", "bitstream": "top.bin",
     "baud": 6000000, "clock_hz": 36000000.0, "in_shape": [28, 28, 1], "num_classes": 10,
     "classes": ["T-shirt/top", ...] or null, "network_id": 3735928559,
     "bundle_sha256": "…" or null, "protocol_version": 2}

``network_id`` is what the board's info reply names
(``fpga.protocol.network_id`` of a SHA-256, its first 4 bytes; 0 for a
build without a bundle): of the netlist's RTLIL with placeholder ROMs for a
Fire engine built rewrite-ready (so a ``--reuse`` bitstream, whose logic
is its build's, keeps it), else of the bundle (``squeezefire.build.board_info``).  Errors are one line naming the file.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from fpga.protocol import PROTOCOL_VERSION
from golden import atomic

__all__ = ["BoardInfo", "BoardInfoError", "BOARD_FILE", "load_board_info", "write_board_info"]

BOARD_FILE = "board.json"
FORMAT = 1


class BoardInfoError(ValueError):
    """A missing or malformed ``board.json`` (one line naming it)."""


@dataclass(frozen=True)
class BoardInfo:
    board: str
    board_title: str
    bitstream: str              # file name inside the build folder
    baud: int
    clock_hz: float
    in_shape: tuple[int, int, int]
    num_classes: int
    classes: tuple[str, ...] | None
    network_id: int
    bundle_sha256: str | None
    protocol_version: int = PROTOCOL_VERSION

    def as_json(self) -> str:
        return json.dumps({"format": FORMAT, **asdict(self)}, indent=2) + "\n"


def write_board_info(folder: Path, info: BoardInfo) -> Path:
    """``folder/board.json``, written to a temporary name and renamed."""
    path = Path(folder) / BOARD_FILE
    atomic.write_text(path, info.as_json())
    return path


def _field(raw: dict, key: str, kind, path: Path):
    value = raw.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BoardInfoError(f"{path}: field {key!r} is {value!r}, not a {getattr(kind, '__name__', kind)}")
    return value


def _parse(raw: dict, path: Path) -> BoardInfo:
    shape = _field(raw, "in_shape", list, path)
    if len(shape) != 3 or not all(isinstance(v, int) and v >= 1 for v in shape):
        raise BoardInfoError(f"{path}: field 'in_shape' is {shape!r}, not [H, W, C] of positive integers")
    classes = raw.get("classes")
    if classes is not None and not (isinstance(classes, list) and all(isinstance(c, str) for c in classes)):
        raise BoardInfoError(f"{path}: field 'classes' is {classes!r}, not a list of names or null")
    sha = raw.get("bundle_sha256")
    return BoardInfo(board=_field(raw, "board", str, path), board_title=_field(raw, "board_title", str, path),
                     bitstream=_field(raw, "bitstream", str, path), baud=_field(raw, "baud", int, path),
                     clock_hz=float(_field(raw, "clock_hz", (int, float), path)), in_shape=tuple(shape),
                     num_classes=_field(raw, "num_classes", int, path),
                     classes=None if classes is None else tuple(classes),
                     network_id=_field(raw, "network_id", int, path),
                     bundle_sha256=sha if isinstance(sha, str) else None,
                     protocol_version=_field(raw, "protocol_version", int, path))


def load_board_info(folder: Path) -> BoardInfo:
    """The ``board.json`` of build ``folder``; BoardInfoError names what is wrong."""
    path = Path(folder) / BOARD_FILE
    if not Path(folder).is_dir():
        raise BoardInfoError(f"build folder {folder} not found (python -m rtl_gen.build writes it)")
    if not path.is_file():
        raise BoardInfoError(f"{path} not found: {folder} is not a build of this version "
                             "(rebuild with python -m rtl_gen.build)")
    try:
        raw = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BoardInfoError(f"{path}: not readable JSON ({type(e).__name__})") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise BoardInfoError(f"{path}: not a board description of format {FORMAT}")
    return _parse(raw, path)
