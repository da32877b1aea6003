"""The accelerator interface: one ``wiring.Signature`` that every
architecture implements (the per-layer pipeline ``rtl_gen.pipeline.Pipeline``
and the Fire engine ``rtl_gen.engine.FireEngine``) and that the board core, the host link and the test
stand-in use.

* ``i`` (in): the image's uint8 pixels, one channel per beat, NHWC raster
  order, ``first`` on the first beat of a frame and ``last`` on its last
  (``rtl_gen.stream.Signature(1)``);
* ``o`` (out): per frame, one beat per class in class order
  (``class_layout``): its int32 class sum in ``data``, ``first``/``last``
  on the first/last class, and on the last beat ``argmax``, the class with
  the largest sum, ties to the lowest index (``docs/int8.md`` §5).

The signature also carries the frame geometry the link needs:
``in_shape`` (H, W, C) and ``num_classes``.
"""
from __future__ import annotations

from amaranth.hdl import signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from rtl_gen import stream as tstream

__all__ = ["AcceleratorSignature", "class_layout", "frame_interval", "frames_per_interval", "images_per_second",
           "steady_intervals"]


def class_layout(num_classes: int) -> data.StructLayout:
    """The output beat: int32 class sum, argmax (on the last beat), framing."""
    return data.StructLayout({"data": signed(32), "argmax": unsigned(max(1, (num_classes - 1).bit_length())),
                              "first": 1, "last": 1})


class AcceleratorSignature(wiring.Signature):
    def __init__(self, in_shape, num_classes: int):
        shape = tuple(in_shape)
        if len(shape) != 3 or not all(isinstance(v, int) and v >= 1 for v in shape):
            raise ValueError(f"in_shape must be (H, W, C) of positive integers, got {in_shape!r}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
        self.in_shape, self.num_classes = shape, num_classes
        super().__init__({"i": In(tstream.Signature(1)), "o": Out(stream.Signature(class_layout(num_classes)))})

    def __eq__(self, other):
        return (isinstance(other, AcceleratorSignature) and self.in_shape == other.in_shape
                and self.num_classes == other.num_classes)

    def __hash__(self):
        return hash((self.in_shape, self.num_classes))

    def __repr__(self):
        return f"AcceleratorSignature({self.in_shape!r}, {self.num_classes})"


def frames_per_interval(acc) -> int:
    """How many frames an accelerator (or its parameters) finishes every
    ``frame_interval(acc)`` cycles in steady state: its ``copies`` (an
    ``rtl_gen.engine.EngineArray``'s engines), else 1."""
    return int(getattr(acc, "copies", 1))


def frame_interval(acc) -> int:
    """Its cycle model's cycles per ``frames_per_interval(acc)`` frames in
    steady state: ``frame_interval`` where it has one (an engine array),
    else ``cycles_per_frame`` (one frame at a time)."""
    return int(getattr(acc, "frame_interval", acc.cycles_per_frame))


def images_per_second(acc, clock_hz: float) -> float:
    """The cycle model's throughput at ``clock_hz``."""
    return clock_hz * frames_per_interval(acc) / frame_interval(acc)


def steady_intervals(end_cycles, frames: int) -> list[int]:
    """What ``frame_interval`` predicts, measured: from the cycles on which
    successive frames' last class beats left, each frame's distance to the
    one ``frames`` later (for one frame at a time: the frame periods after
    the first)."""
    ends = [int(c) for c in end_cycles]
    return [b - a for a, b in zip(ends, ends[frames:])]
