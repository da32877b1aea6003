"""``Fire``: a whole SqueezeNet Fire module as one streaming component.

    i (Cin ch.) -> squeeze MacArray (1x1, Cin -> S)
                -> WindowGenerator (3x3, stride 1, zero padding 1) -- im2col, 9*S beats/pixel
                -> Broadcast -> expand1x1 MacArray (uses the window centre, S -> E1)
                             -> expand3x3 MacArray (9*S -> E3)
                -> ChannelConcat (E1 channels, then E3) -> o (E1+E3 ch.)

Both expands read the same window stream, so the two halves of output pixel
(y, x) are computed side by side and the concat needs no pixel buffer.
Streams follow ``rtl_gen.stream`` with one channel per beat.

Folding: ``Folding(squeeze, expand1x1, expand3x3)`` = MAC lanes (parallel
output channels, one int8 x uint8 multiplier each) per unit; each must
divide that unit's output channels (S, E1, E3).  Cycles per pixel of each
unit: Cin*S/squeeze, S*E1/expand1x1, 9*S*E3/expand3x3; the slowest sets the
throughput (also at least 9*S for the window generator and E1+E3 for the
output stream).  ``Folding.balanced`` picks lanes that equalise the three.

Latency: a few hundred cycles plus about 1.1 rows of the input (the window
needs the pixel below-right).  Back-pressure propagates from ``o`` through
the FIFOs of the expand arrays; ``i.ready`` is a register function of the
squeeze array (no combinational path from ``o.ready``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from rtl_gen import stream
from rtl_gen.pipeline.block_cost import BlockCost
from rtl_gen.pipeline.broadcast import Broadcast
from rtl_gen.pipeline.concat import ChannelConcat
from rtl_gen.pipeline.mac_array import MacArray, MacParams
from rtl_gen.params import ParamsFirst, check_int
from rtl_gen.pipeline.cycle_model import Folding
from rtl_gen.pipeline.stream_fifo import StreamFifo
from rtl_gen.pipeline.weight_rom import reordered, rom_codebook
from rtl_gen.pipeline.window import WindowGenerator, WindowParams, im2col_order

__all__ = ["Folding", "Fire", "FireParams"]


@dataclass(frozen=True, eq=False)
class FireParams:
    """``Fire``'s parameters: squeeze/expand1x1/expand3x3 as (weight, bias,
    m, shift) tuples in the bundle's layout (weight int8 (Cout, Cin, k, k)),
    the input height and width, a ``Folding`` (None: ``Folding.balanced``),
    ``mac_options`` passed to every ``MacArray`` (``requant``), and
    ``expand1x1_fifo``: a FIFO of that many values after expand1x1 (0:
    none), and ``codebooks``: None (int8 weights) or the three parts'
    ``golden.codebook.Codebook`` (each None for int8; indices in the
    weight's shape).  Checking builds the sub-blocks' parameters (``squeeze_mac``,
    ``window``, ``expand1x1_mac``, ``expand3x3_mac``), so the constants
    (bias, m, shift) are checked before any hardware exists."""
    squeeze: tuple
    expand1x1: tuple
    expand3x3: tuple
    height: int
    width: int
    folding: Folding | None = None
    mac_options: dict | None = None
    expand1x1_fifo: int = 0
    codebooks: tuple | None = None
    squeeze_mac: MacParams = field(init=False)
    window: WindowParams = field(init=False)
    expand1x1_mac: MacParams = field(init=False)
    expand3x3_mac: MacParams = field(init=False)

    def __post_init__(self):
        check_int("expand1x1_fifo", self.expand1x1_fifo, 0)
        check_int("height", self.height, 1)
        check_int("width", self.width, 1)
        parts = {name: self._weights(name, k) for name, k in (("squeeze", 1), ("expand1x1", 1), ("expand3x3", 3))}
        cin, s1x1 = parts["squeeze"][0].shape[1], parts["squeeze"][0].shape[0]
        for name in ("expand1x1", "expand3x3"):
            if parts[name][0].shape[1] != s1x1:
                raise ValueError(f"{name} weight has {parts[name][0].shape[1]} input channels, "
                                 f"squeeze gives {s1x1}")
        e1x1, e3x3 = parts["expand1x1"][0].shape[0], parts["expand3x3"][0].shape[0]
        folding = Folding.balanced(cin, s1x1, e1x1, e3x3) if self.folding is None else self.folding
        if not isinstance(folding, Folding):
            raise ValueError(f"folding must be a Folding, got {folding!r}")
        for name, n in (("squeeze", s1x1), ("expand1x1", e1x1), ("expand3x3", e3x3)):
            lanes = getattr(folding, name)
            if not isinstance(lanes, int) or lanes < 1 or n % lanes:
                raise ValueError(f"folding.{name} must be a positive divisor of {n}, got {lanes!r}")
        opts = dict(self.mac_options or {})
        cb = self._codebooks(parts)
        w, b, mm, sh = parts["squeeze"]
        squeeze = MacParams(im2col_order(w), b, mm, sh, folding.squeeze, **opts, codebook=cb["squeeze"])
        window = WindowParams(s1x1, self.height, self.width, 3, 1, 1)
        w, b, mm, sh = parts["expand1x1"]
        expand1x1 = MacParams(im2col_order(w), b, mm, sh, folding.expand1x1, period=9 * s1x1, offset=4 * s1x1,
                              **opts, codebook=cb["expand1x1"])
        w, b, mm, sh = parts["expand3x3"]
        expand3x3 = MacParams(im2col_order(w), b, mm, sh, folding.expand3x3, **opts, codebook=cb["expand3x3"])
        for name, value in (("folding", folding), ("mac_options", opts), ("squeeze_mac", squeeze),
                            ("window", window), ("expand1x1_mac", expand1x1), ("expand3x3_mac", expand3x3)):
            object.__setattr__(self, name, value)

    def _codebooks(self, parts: dict) -> dict:
        """Each part's codebook, checked and with its indices in the order
        of the part's MacArray weight."""
        codebooks = (None, None, None) if self.codebooks is None else self.codebooks
        if not isinstance(codebooks, tuple) or len(codebooks) != 3:
            raise ValueError("codebooks must be None or a (squeeze, expand1x1, expand3x3) tuple")
        return {name: reordered(codebook, parts[name][0], im2col_order, f"{name} codebook")
                for name, codebook in zip(("squeeze", "expand1x1", "expand3x3"), codebooks)}

    def _weights(self, name: str, k: int) -> tuple:
        part = getattr(self, name)
        if part is None or len(part) != 4:
            raise ValueError(f"{name} must be a (weight, bias, m, shift) tuple")
        w = np.asarray(part[0])
        if w.ndim != 4 or w.shape[2:] != (k, k) or min(w.shape) < 1:
            raise ValueError(f"{name} weight must have shape (Cout, Cin, {k}, {k}) with Cout, Cin >= 1, "
                             f"got {w.shape}")
        return (w, *part[1:])

    @classmethod
    def from_bundle(cls, bundle, layer: str, folding: Folding | None = None,
                    mac_options: dict | None = None, expand1x1_fifo: int = 0) -> "FireParams":
        """The fire layer ``layer`` of a ``golden.bundle.Bundle``."""
        lay = bundle.layer(layer)
        if lay.kind != "fire":
            raise ValueError(f"layer {layer!r} is a {lay.kind!r} layer, not a fire layer")
        if not lay.e1x1 or not lay.e3x3:
            raise ValueError(f"layer {layer!r}: e1x1 and e3x3 must both be >= 1")
        h, w, _ = lay.shape
        parts = ("squeeze", "expand1x1", "expand3x3")
        return cls(*(bundle.conv(layer, p) for p in parts), h, w, folding, mac_options, expand1x1_fifo,
                   tuple(rom_codebook(bundle, layer, p) for p in parts))


class Fire(wiring.Component, metaclass=ParamsFirst):
    """Arguments: those of ``FireParams``.

    The concat takes a pixel's E1 values, then its E3 values; when
    expand1x1 is much faster than expand3x3 but can hold only a couple of
    results (serial requantisation), expand3x3 would idle through every
    E1 phase -- a FIFO of E1 values (``expand1x1_fifo``) lets expand1x1
    finish the next pixel while expand3x3 works (measured on a fire2 (8;
    24+24) network in the small style: 394 744 -> 338 688 cycles per frame,
    exactly expand3x3's MAC count; the network leaves it off, the UP5K has
    no block RAM spare)."""
    Params = FireParams

    def __init__(self, params: FireParams):
        self.params = params
        self.mac_options, self.expand1x1_fifo = params.mac_options, params.expand1x1_fifo
        self.height, self.width, self.folding = params.height, params.width, params.folding
        self.cin, self.s1x1 = params.squeeze_mac.cin, params.squeeze_mac.cout
        self.e1x1, self.e3x3 = params.expand1x1_mac.cout, params.expand3x3_mac.cout
        self.squeeze = MacArray(params.squeeze_mac)
        self.window = WindowGenerator(params.window)
        self.expand1x1 = MacArray(params.expand1x1_mac)
        self.expand3x3 = MacArray(params.expand3x3_mac)
        super().__init__({"i": In(stream.Signature(1)), "o": Out(stream.Signature(1))})

    @classmethod
    def from_bundle(cls, bundle, layer: str, folding: Folding | None = None,
                    mac_options: dict | None = None, expand1x1_fifo: int = 0) -> "Fire":
        """The fire layer ``layer`` of a ``golden.bundle.Bundle``."""
        return cls(FireParams.from_bundle(bundle, layer, folding, mac_options, expand1x1_fifo))

    def resource_cost(self) -> BlockCost:
        return BlockCost()          # wiring only: its sub-blocks carry the logic

    def macs_per_pixel(self) -> int:
        return self.s1x1 * (self.cin + self.e1x1 + 9 * self.e3x3)

    def elaborate(self, platform):
        m = Module()
        m.submodules.squeeze = self.squeeze
        m.submodules.window = self.window
        m.submodules.broadcast = bc = Broadcast()
        m.submodules.expand1x1 = self.expand1x1
        m.submodules.expand3x3 = self.expand3x3
        m.submodules.concat = cat = ChannelConcat(self.e1x1, self.e3x3)
        wiring.connect(m, wiring.flipped(self.i), self.squeeze.i)
        wiring.connect(m, self.squeeze.o, self.window.i)
        wiring.connect(m, self.window.o, bc.i)
        wiring.connect(m, bc.a, self.expand1x1.i)
        wiring.connect(m, bc.b, self.expand3x3.i)
        if self.expand1x1_fifo:
            m.submodules.expand1x1_fifo = fifo = StreamFifo(stream.beat_layout(1), self.expand1x1_fifo)
            wiring.connect(m, self.expand1x1.o, fifo.i)
            wiring.connect(m, fifo.o, cat.a)
        else:
            wiring.connect(m, self.expand1x1.o, cat.a)
        wiring.connect(m, self.expand3x3.o, cat.b)
        wiring.connect(m, cat.o, wiring.flipped(self.o))
        return m
