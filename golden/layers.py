"""Typed layers of a bundle: one frozen dataclass per layer kind.

``golden.bundle`` validates ``graph.json`` and turns each layer object into
one of these, so no code outside the bundle module indexes layer dicts by
string.  Field meanings are those of ``docs/bundle.md``; the arithmetic is
``docs/int8.md``.  Torch-free.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar, NamedTuple

__all__ = ["Shape", "Layer", "ScaledLayer", "InputLayer", "ConvLayer", "FireLayer", "FireShifts", "MaxPoolLayer", "PoolKind", "POOL_KINDS",
           "AddLayer", "GapLayer", "LAYER_TYPES", "parse_layer"]


class Shape(NamedTuple):
    """An activation's size: height, width, channels (NHWC without N)."""
    h: int
    w: int
    c: int


@dataclass(frozen=True)
class Layer:
    name: str
    inputs: tuple[str, ...]
    shape: Shape
    kind: ClassVar[str] = ""

    @property
    def source(self) -> str:
        """The layer whose output this layer reads (an add: its bypass input)."""
        return self.inputs[-1]


@dataclass(frozen=True)
class ScaledLayer(Layer):
    """A layer with a uint8 output: ``scale`` is its float scale
    (informational: the integer path never uses it)."""
    scale: float


@dataclass(frozen=True)
class InputLayer(ScaledLayer):
    """The uint8 image.  ``pad``: per channel, the raw pixel value a conv
    reading the image pads with (a folded ``Normalize``'s mean, so the
    padding is the normalised zero; ``docs/int8.md`` §1); empty means 0."""
    pad: tuple[int, ...] = ()
    kind: ClassVar[str] = "input"

    def pad_values(self) -> tuple[int, ...]:
        """The padding value of each channel (0 when ``pad`` is empty)."""
        return self.pad or (0,) * self.shape.c


@dataclass(frozen=True)
class ConvLayer(ScaledLayer):
    """k x k conv + ReLU + requantisation (conv1, conv10).  With ``relu``
    false it is the network's logits layer: its output is the int32
    accumulator itself (no multiplier, ``shift`` 0), read only by the gap
    (``docs/int8.md`` §5)."""
    kernel: int
    stride: int
    padding: int
    shift: int
    relu: bool = True
    kind: ClassVar[str] = "conv"

    @property
    def logits(self) -> bool:
        return not self.relu


@dataclass(frozen=True)
class FireShifts:
    squeeze: int
    expand1x1: int | None
    expand3x3: int | None


@dataclass(frozen=True)
class FireLayer(ScaledLayer):
    cin: int
    s1x1: int
    e1x1: int
    e3x3: int
    shift: FireShifts
    squeeze_scale: float
    kind: ClassVar[str] = "fire"

    @property
    def parts(self) -> tuple[str, ...]:
        """The convolutions that exist, in order (a width-0 expand has none)."""
        return ("squeeze",) + tuple(p for p, width in (("expand1x1", self.e1x1), ("expand3x3", self.e3x3))
                                    if width)

    def part_width(self, part: str) -> int:
        return {"squeeze": self.s1x1, "expand1x1": self.e1x1, "expand3x3": self.e3x3}[part]


class PoolKind(NamedTuple):
    """A max pool by its kernel, stride and ceil mode."""
    kernel: int
    stride: int
    ceil: bool

    def __str__(self):
        return f"{self.kernel}x{self.kernel}/{self.stride} {'ceil' if self.ceil else 'floor'}-mode"


# The max pools of the contract (docs/int8.md), which both architectures
# build: SqueezeNet's, and PyTorch's MaxPool2d(2)
POOL_KINDS = (PoolKind(3, 2, True), PoolKind(2, 2, False))


@dataclass(frozen=True)
class MaxPoolLayer(ScaledLayer):
    kernel: int
    stride: int
    ceil: bool
    kind: ClassVar[str] = "maxpool"

    @property
    def pool_kind(self) -> PoolKind:
        return PoolKind(self.kernel, self.stride, self.ceil)


@dataclass(frozen=True)
class AddLayer(ScaledLayer):
    """Bypass: inputs = (fire output, bypass input)."""
    bypass: str
    shift: int
    kind: ClassVar[str] = "add"

    @property
    def fire(self) -> str:
        return self.inputs[0]


@dataclass(frozen=True)
class GapLayer(Layer):
    """Global sum pool: the network's int32 class sums."""
    kind: ClassVar[str] = "gap"


LAYER_TYPES: dict[str, type[Layer]] = {t.kind: t for t in (InputLayer, ConvLayer, FireLayer, MaxPoolLayer,
                                                            AddLayer, GapLayer)}


def parse_layer(raw: dict) -> Layer:
    """A validated graph.json layer object as its dataclass."""
    cls = LAYER_TYPES[raw["kind"]]
    common = {"name": raw["name"], "inputs": tuple(raw["inputs"]), "shape": Shape(*raw["shape"])}
    if cls is GapLayer:
        return GapLayer(**common)
    values = {f.name: raw.get(f.name, f.default) for f in fields(cls) if f.name not in common}
    if cls is InputLayer:
        values["pad"] = tuple(values["pad"])
    if cls is FireLayer:
        values["shift"] = FireShifts(**{p: raw["shift"].get(p) for p in ("squeeze", "expand1x1", "expand3x3")})
    return cls(**common, **values)
