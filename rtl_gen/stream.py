"""The stream convention every block of ``rtl_gen`` uses.

A tensor travels as an ``amaranth.lib.stream`` (valid/ready) whose payload is
``beat_layout(lanes)``::

    data  : ArrayLayout(unsigned(8), lanes)   # `lanes` consecutive uint8 values
    first : 1                                 # this beat opens a frame
    last  : 1                                 # this beat closes a frame

Order on the wire is NHWC raster order: frame (image) by frame, row by row,
pixel by pixel, channel by channel; a beat carries ``lanes`` consecutive
channels of one pixel, lane 0 holding the lowest channel.  The blocks of a
Fire module talk with ``lanes = 1`` (one channel per beat); the testbench
harness widens to one whole pixel per beat with ``Pack``/``Unpack``.

An im2col (window) stream uses the same layout: per output pixel, the
k*k*C values of its receptive field in (ky, kx, c) order, padding as 0 (or
the image's per-channel ``pad`` for a conv reading it), one value per beat --
the order of ``golden.intref.im2col``.

``first`` is set on exactly the first beat of a frame and ``last`` on
exactly its last beat.  Blocks that know the tensor geometry (the window
generator) regenerate them from counters; blocks that do not (MAC arrays,
concat) carry them through.

Handshake: a transfer happens on a clock edge where ``valid & ready``; once
``valid`` is raised the payload is held until the transfer (AXI-stream
rules).  Every block registers ``valid`` and payload; no block of the Fire
chain lets its input ``ready`` depend combinationally on its output
``ready`` across a MAC array (see docs/rtl.md).
"""
from amaranth.hdl import signed, unsigned
from amaranth.lib import data, stream

__all__ = ["beat_layout", "Signature", "acc_layout"]


def beat_layout(lanes: int = 1) -> data.StructLayout:
    if lanes < 1:
        raise ValueError(f"lanes must be >= 1, got {lanes}")
    return data.StructLayout({
        "data": data.ArrayLayout(unsigned(8), lanes),
        "first": 1,
        "last": 1,
    })


def Signature(lanes: int = 1) -> stream.Signature:
    """A stream of uint8 tensor beats, ``lanes`` channels per beat."""
    return stream.Signature(beat_layout(lanes))


def acc_layout() -> data.StructLayout:
    """A stream of int32 accumulators, one channel per beat (a MAC array in
    ``raw`` mode, feeding the complex bypass adder)."""
    return data.StructLayout({"data": signed(32), "first": 1, "last": 1})
