"""Simulated cycles per frame, remembered per bundle and architecture, so
that a build's report can print the simulated figure next to the model's.

``golden/compare.py`` records what it simulates; the build's report
(``squeezefire.build``) recalls it, under the same ``arch_key`` (the
architecture and its style, e.g. ``pipeline-small``).  Stored in
``$XDG_CACHE_HOME/squeezefire/simulated.json`` (default ``~/.cache/...``):
a measurement cache, safe to delete.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from golden import atomic


@dataclass(frozen=True)
class SimulatedCycles:
    cycles_per_frame: int       # steady state: the largest after the first frame
    first_frame_cycles: int
    frames: int
    when: str                   # UTC, ISO 8601


def record_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "squeezefire" / "simulated.json"


def arch_key(arch: str, style: str) -> str:
    """The name a simulated figure is kept under: architecture and style."""
    return f"{arch}-{style}"


def bundle_key(bundle_bytes: bytes, arch: str) -> str:
    return f"{hashlib.sha256(bundle_bytes).hexdigest()}:{arch}"


def _read() -> dict:
    try:
        data = json.loads(record_path().read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def remember(bundle_bytes: bytes, arch: str, cycles: SimulatedCycles) -> None:
    """Store the figure (atomically; a failure to write is not an error:
    this is a cache)."""
    data = _read()
    data[bundle_key(bundle_bytes, arch)] = asdict(cycles)
    path = record_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_text(path, json.dumps(data, indent=1, sort_keys=True) + "\n")
    except OSError:
        pass


def recall(bundle_bytes: bytes, arch: str) -> SimulatedCycles | None:
    entry = _read().get(bundle_key(bundle_bytes, arch))
    try:
        return SimulatedCycles(**entry) if isinstance(entry, dict) else None
    except TypeError:
        return None


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
