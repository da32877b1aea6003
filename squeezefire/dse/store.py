"""The sweep's output folder: results per point cached as JSON (so an
interrupted sweep resumes), and the tables and plots.

The folder is ours when it holds ``MARKER``; a non-empty folder without it
is refused (one line), so a sweep never writes into a user's folder.
Every file is written to a temporary name and renamed; nothing is deleted.
"""
from __future__ import annotations

import json
from pathlib import Path

from golden import atomic
from golden.bad_input import BadInput
from golden.writable import write_problem
from squeezefire.dse.grid import DsePoint, TrainSchedule
from squeezefire.dse.point import PointResult

MARKER = ".squeezefire-dse"


class StoreError(BadInput):
    """An output folder the sweep may not use (one line)."""


def open_store(out: Path) -> Path:
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise StoreError(f"--out {out} is a file; give a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise StoreError(f"--out {out} is a non-empty folder that no sweep wrote; choose a new or empty folder")
    if not out.parent.is_dir():
        raise StoreError(f"--out {out}: folder {out.parent} does not exist")
    problem = write_problem(out)
    if problem:
        raise StoreError(f"--out {out}: {problem}")
    (out / "points").mkdir(parents=True, exist_ok=True)
    if not (out / MARKER).is_file():
        atomic.write_text(out / MARKER, "a design-space sweep (python -m squeezefire.dse) writes here\n")
    return out


def _cache_path(out: Path, point: DsePoint, schedule: TrainSchedule) -> Path:
    tag = f"e{schedule.epochs}-n{schedule.limit or 'all'}-bs{schedule.batch}-t{schedule.test_images}"
    bits = "-".join(map(str, point.bits))
    return out / "points" / f"{point.key}-w{bits}-{tag}.json"


def cached(out: Path, point: DsePoint, schedule: TrainSchedule) -> PointResult | None:
    path = _cache_path(out, point, schedule)
    if not path.is_file():
        return None
    try:
        return PointResult.from_dict(json.loads(path.read_text()))
    except (ValueError, TypeError, KeyError):
        return None          # a cache file from another version: computed again, then replaced


def remember(out: Path, point: DsePoint, schedule: TrainSchedule, result: PointResult) -> None:
    atomic.write_text(_cache_path(out, point, schedule), json.dumps(result.as_dict(), indent=1) + "\n")
