"""The schema of a grid file (``--grid``): every key of a point, its type
and its range, checked before any point is made or trained.

    {"base": {KEY: VALUE, ...}, "points": [{KEY: VALUE, ...}, ...]}

(TOML: a ``[base]`` table and ``[[points]]`` tables.)  Each refusal is one
``GridError`` line naming the file, the point and the key, and the value.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from golden.bad_input import BadInput

__all__ = ["GridError", "KEYS", "check_document", "check_values"]

BYPASSES = ("none", "simple", "complex")


class GridError(BadInput):
    """A bad grid: one line naming the point and the key."""


@dataclass(frozen=True)
class Number:
    low: float
    high: float
    low_open: bool = False          # (low, high] rather than [low, high]

    def problem(self, v) -> str | None:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return "a number"
        if not math.isfinite(v) or not (self.low < v if self.low_open else self.low <= v) or v > self.high:
            return f"a number in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}]"
        return None


@dataclass(frozen=True)
class Whole:
    low: int
    high: int

    def problem(self, v) -> str | None:
        if isinstance(v, bool) or not isinstance(v, int) or not self.low <= v <= self.high:
            return f"an integer from {self.low} to {self.high}"
        return None


@dataclass(frozen=True)
class Choice:
    options: tuple[str, ...]

    def problem(self, v) -> str | None:
        return None if isinstance(v, str) and v in self.options else f"one of {', '.join(self.options)}"


@dataclass(frozen=True)
class WholeList:
    low: int
    high: int
    most: int

    def problem(self, v) -> str | None:
        what = f"a list of integers from {self.low} to {self.high}"
        if not isinstance(v, list) or not all(Whole(self.low, self.high).problem(b) is None for b in v):
            return what
        if not 1 <= len(v) <= self.most:
            return f"{what}, at least one and at most {self.most}"
        return None


# The keys of ``squeezefire.dse.grid.DsePoint``; the widths' bounds keep a
# point small enough to train on a CPU in minutes.
KEYS = {
    "sr": Number(0, 1, low_open=True),
    "pct3x3": Number(0, 1),
    "base_e": Whole(1, 512),
    "incr_e": Whole(0, 512),
    "freq": Whole(1, 8),
    "bypass": Choice(BYPASSES),
    "conv1": Whole(1, 512),
    "bits": WholeList(2, 8, 7),
}


def _shown(v) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def check_values(table, where: str) -> dict:
    """``table`` (a point or the base) as a dict of checked keys."""
    if not isinstance(table, dict):
        raise GridError(f"{where} must be a table/object of keys ({', '.join(KEYS)}), got {type(table).__name__}")
    for key, value in table.items():
        if key not in KEYS:
            raise GridError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(KEYS))})")
        problem = KEYS[key].problem(value)
        if problem:
            raise GridError(f"{where}: {key} must be {problem}, got {_shown(value)}")
    return dict(table)


def check_document(doc, where: str) -> tuple[dict, list[dict]]:
    """(base, points) of a parsed grid file, every value checked."""
    if not isinstance(doc, dict):
        raise GridError(f"{where}: the top level must be a table/object with 'points' (and 'base'), "
                        f"got a {type(doc).__name__}")
    unknown = sorted(set(doc) - {"base", "points"})
    if unknown:
        raise GridError(f"{where}: unknown key {unknown[0]!r} at the top level (known: base, points)")
    base = check_values(doc.get("base", {}), f"{where}: 'base'")
    points = doc.get("points")
    if not isinstance(points, list) or not points:
        raise GridError(f"{where}: needs a non-empty 'points' list, got {_shown(points)}")
    return base, [check_values(p, f"{where}: point {i}") for i, p in enumerate(points)]
