"""The points of a sweep: the paper's metaparameters (section 5) around a
base network sized for the data set, plus the codebook widths.

A point is a ``DsePoint``; ``base_spec`` + the point give the network
(``golden.models.family``).  The default grid (12 points) redraws the
paper's curves: squeeze ratio SR, share of 3x3 filters, bypass kind.
``--quick`` is three tiny points.  A grid may also come from a JSON or TOML
file: ``{"base": {...}, "points": [{"sr": 0.25, ...}, ...]}`` (keys of
``DsePoint``; unset keys take the base's values).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from golden.models import FASHION_CLASSES, NetSpec, family
from squeezefire.dse.grid_schema import GridError, check_document, check_values



@dataclass(frozen=True)
class DsePoint:
    """One network of the family: the paper's metaparameters and the
    widths the codebook columns are computed at."""
    sr: float = 0.25           # squeeze ratio: squeeze filters / expand filters
    pct3x3: float = 0.5        # share of 3x3 expand filters
    base_e: int = 32           # expand filters of the first Fire module
    incr_e: int = 32           # added every ``freq`` Fire modules
    freq: int = 2
    bypass: str = "simple"     # none / simple / complex
    conv1: int = 16            # conv1 filters (3x3, pad 1)
    bits: tuple[int, ...] = (8, 4, 3)

    @property
    def key(self) -> str:
        """A file-name-safe identity (the cache's key)."""
        return (f"sr{self.sr:g}-p{self.pct3x3:g}-b{self.base_e}-i{self.incr_e}-f{self.freq}-{self.bypass}"
                f"-c{self.conv1}")

    def check(self, where: str) -> None:
        """Every key in the schema's range (``squeezefire.dse.grid_schema``)."""
        check_values(point_record(self), where)

    def spec(self) -> NetSpec:
        """The network: the reference's shape for 28x28x1 data (conv1 3x3,
        pool, two Fire modules, pool, two Fire modules, conv10)."""
        return family(base_e=self.base_e, incr_e=self.incr_e, freq=self.freq, sr=self.sr, pct3x3=self.pct3x3,
                      num_fire=4, conv1=(self.conv1, 3, 1, 1), pool_after=(3,),
                      bypass=None if self.bypass == "none" else self.bypass, in_channels=1, image_size=28,
                      num_classes=10, name=f"dse-{self.key}", batchnorm=True)


@dataclass(frozen=True)
class TrainSchedule:
    """The short seeded schedule every point trains with."""
    epochs: int = 8
    limit: int | None = None          # first N training images (None: all 60 000)
    batch: int = 128
    test_images: int = 10000


DEFAULT_SCHEDULE = TrainSchedule()
QUICK_SCHEDULE = TrainSchedule(epochs=1, limit=4000, batch=32, test_images=1000)


def default_grid() -> list[DsePoint]:
    """12 points: SR 0.125..1, pct3x3 0.25..1, bypass none/simple/complex."""
    base = DsePoint()
    points = [replace(base, sr=sr) for sr in (0.125, 0.25, 0.5, 0.75, 1.0)]
    points += [replace(base, pct3x3=p) for p in (0.0, 0.25, 0.75, 1.0)]
    points += [replace(base, bypass=b) for b in ("none", "complex")]
    points += [replace(base, base_e=16, incr_e=16)]
    return points


def quick_grid() -> list[DsePoint]:
    """Three tiny points (the test suite's sweep)."""
    tiny = DsePoint(base_e=8, incr_e=8, conv1=8, bits=(4,))
    return [tiny, replace(tiny, sr=0.5), replace(tiny, bypass="none")]


def _read(path: Path) -> object:
    if not path.is_file():
        raise GridError(f"--grid {path}: file not found")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise GridError(f"--grid {path}: not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise GridError(f"--grid {path}: cannot be read ({e.strerror})") from None
    try:
        if path.suffix == ".toml":
            import tomllib
            return tomllib.loads(text)
        return json.loads(text)
    except (ValueError, RecursionError) as e:
        raise GridError(f"--grid {path}: not valid {path.suffix[1:].upper() or 'JSON'} ({e})") from None


def grid_from_file(path: Path) -> list[DsePoint]:
    """The points of a grid file (``squeezefire.dse.grid_schema``), every key checked."""
    base, points = check_document(_read(path), f"--grid {path}")
    return [DsePoint(**{k: tuple(v) if k == "bits" else v for k, v in {**base, **p}.items()}) for p in points]


def check_grid(points: list[DsePoint]) -> None:
    for i, p in enumerate(points):
        p.check(f"point {i} ({p.key})")
        try:
            p.spec()
        except ValueError as e:
            raise GridError(f"point {i} ({p.key}): {e}") from None


def point_record(p: DsePoint) -> dict:
    d = asdict(p)
    d["bits"] = list(p.bits)
    return d


CLASSES = FASHION_CLASSES
