"""``Normalize(mean, std)`` folded into the first layer (``docs/int8.md``
§1): the float model sees ``(pixels/255 - mean) / std``; the hardware sees
raw pixels.  ``1/std`` scales the first conv's weights per input channel,
the mean moves into its bias, and where it pads, it pads with the raw
pixel value that normalises to zero, ``rint(255 · mean)`` (the input
layer's ``pad``; the float graph's ``fill`` is the same value / 255).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from golden.importers.ops import ImportError_

# A std outside this range is a typo, not a normalisation: 1/std scales the
# first layer's weights, and inf or 1e-300 would make them 0 or infinite.
STD_RANGE = (1e-4, 1e4)


def _values(text: str, option: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise ImportError_(f"{option} {text}: must be comma-separated numbers") from None
    if not all(math.isfinite(v) for v in values):
        raise ImportError_(f"{option} {text}: every value must be a finite number")
    return values


@dataclass(frozen=True)
class Normalization:
    """``Normalize(mean, std)`` per channel (one value: every channel);
    the constructor refuses values no image normalisation has."""
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        shown = {"--mean": ",".join(f"{v:g}" for v in self.mean), "--std": ",".join(f"{v:g}" for v in self.std)}
        for option, values in (("--mean", self.mean), ("--std", self.std)):
            if not values or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
                raise ImportError_(f"{option} {shown[option]}: every value must be a finite number")
        lo, hi = STD_RANGE
        if not all(lo <= v <= hi for v in self.std):
            raise ImportError_(f"--std {shown['--std']}: values must be positive, from {lo:g} to {hi:g}")
        if not all(0.0 <= m <= 1.0 for m in self.mean):
            raise ImportError_(f"--mean {shown['--mean']}: values must be in 0..1 (pixels / 255)")

    @classmethod
    def parse(cls, mean: str | None, std: str | None) -> "Normalization | None":
        """From ``--mean`` and ``--std`` (either may be missing); None without both."""
        if mean is None and std is None:
            return None
        return cls(_values(mean, "--mean") if mean is not None else (0.0,),
                   _values(std, "--std") if std is not None else (1.0,))

    def check(self, channels: int) -> None:
        for what, values in (("--mean", self.mean), ("--std", self.std)):
            if len(values) not in (1, channels):
                shown = ",".join(f"{v:g}" for v in values)
                raise ImportError_(f"{what} {shown} has {len(values)} values; the input has {channels} channels")

    def per_channel(self, channels: int) -> tuple[np.ndarray, np.ndarray]:
        return (np.broadcast_to(np.asarray(self.mean, np.float64), (channels,)),
                np.broadcast_to(np.asarray(self.std, np.float64), (channels,)))


def _fold_into(conv: dict, mean: np.ndarray, std: np.ndarray) -> None:
    w = conv["weight"] / std[None, :, None, None]
    conv["bias"] = conv["bias"] - (w * mean[None, :, None, None]).sum(axis=(1, 2, 3))
    conv["weight"] = w


def fold_normalization(graph: list[dict], norm: Normalization) -> list[dict]:
    """``graph`` with ``norm`` folded into the one layer that reads the image."""
    inp = graph[0]
    channels = inp["shape"][2]
    norm.check(channels)
    mean, std = norm.per_channel(channels)
    readers = [layer for layer in graph if inp["name"] in layer["inputs"]]
    if len(readers) != 1 or readers[0]["kind"] not in ("conv", "fire"):
        raise ImportError_("input normalisation folds into the first layer only when one conv or Fire module "
                           f"reads the image (here: {[r['name'] for r in readers]})")
    first = readers[0]
    conv = first if first["kind"] == "conv" else first["squeeze"]
    _fold_into(conv, mean, std)
    if conv.get("padding", 0) and np.any(mean):
        pad = np.rint(255.0 * mean).astype(int)
        inp["pad"] = [int(p) for p in pad]
        conv["fill"] = pad / 255.0
    return graph
