"""``MaxPool2x2``: a 2x2 / stride 2 / floor-mode max pool on uint8
(PyTorch's ``MaxPool2d(2)``), streaming, without a window generator.

The windows do not overlap, so each input beat is read once: row 2·oy
writes, per (ox, c), the running maximum of its two pixels into a buffer of
one output row (``W // 2 * C`` bytes, one block RAM read-modify-written);
row 2·oy + 1 folds its two pixels in and its odd pixel sends the result.
An odd last row or column is accepted and dropped (output
``floor(H/2) x floor(W/2)``, ``docs/int8.md`` §5).  Streams:
``rtl_gen.stream``, one channel per beat, NHWC raster; input first/last are
not used (the geometry is known), output first/last come from counters.

The buffer's read port looks one beat ahead (the address of the next beat
when this one is taken), transparent for its write port (with C = 1 the
next beat reads what this one writes), so a beat's partial maximum is ready
when it arrives.

Latency: 1 cycle from the input beat of the window's last pixel to its
output beat.
Throughput: one input beat per cycle; C output beats per 4·C input beats.
Back-pressure: registered output; an input beat that completes a window
waits for ``~o.valid | o.ready``, the others never wait, so ``i.ready``
depends on ``o.ready`` only combinationally through that one gate.
"""
from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from rtl_gen import stream
from rtl_gen.int8 import POOL_KINDS
from rtl_gen.pipeline.block_cost import BlockCost
from rtl_gen.pipeline.maxpool3x3 import check_pool_input
from rtl_gen.params import ParamsFirst

__all__ = ["MaxPool2x2", "MaxPool2x2Params"]

# its counters, slot arithmetic, comparator and output register: Yosys
# synth_ice40 of the block alone, 61 LUT4s (3 x 13 x 11) to 74 (16 x 32 x 32)
POOL2X2_LUT = 75


@dataclass(frozen=True)
class MaxPool2x2Params:
    """``channels`` of a ``height`` x ``width`` input (at least 2x2);
    ``block_ram``: ask Yosys to keep the row buffer in block RAM
    (``ram_style``, the "small" style's rule for its memories)."""
    channels: int
    height: int
    width: int
    block_ram: bool = False

    KIND = POOL_KINDS[1]        # the max pool this block computes (2x2/2 floor mode)

    def __post_init__(self):
        check_pool_input(self, 2)

    @property
    def out_height(self) -> int:
        return self.height // 2

    @property
    def out_width(self) -> int:
        return self.width // 2


class MaxPool2x2(wiring.Component, metaclass=ParamsFirst):
    """Arguments: those of ``MaxPool2x2Params``."""
    Params = MaxPool2x2Params

    def __init__(self, params: MaxPool2x2Params):
        self.params = params
        self.channels, self.height, self.width = params.channels, params.height, params.width
        self.out_height, self.out_width = params.out_height, params.out_width
        super().__init__({"i": In(stream.Signature(1)), "o": Out(stream.Signature(1))})

    def resource_cost(self) -> BlockCost:
        return BlockCost(lut=POOL2X2_LUT)

    def elaborate(self, platform):
        m = Module()
        C, OW = self.channels, self.out_width
        attrs = {"ram_style": "block"} if self.params.block_ram else None
        m.submodules.row = row = Memory(shape=8, depth=OW * C, init=[], attrs=attrs)
        wr = row.write_port()
        rd = row.read_port(transparent_for=(wr,))
        pos = self._position(m)
        # row 2*oy + 1, odd column: the window's last pixel
        completes = pos.y[0] & pos.x[0]
        accept = self.i.valid & self.i.ready
        m.d.comb += self.i.ready.eq(~completes | ~self.o.valid | self.o.ready)
        v = self.i.payload.data[0]
        opens = ~pos.y[0] & ~pos.x[0]
        result = Mux(opens | (v > rd.data), v, rd.data)
        m.d.comb += [rd.addr.eq(Mux(accept, pos.next_slot, pos.slot)), rd.en.eq(1),
                     wr.addr.eq(pos.slot), wr.data.eq(result), wr.en.eq(accept & pos.kept & ~completes)]
        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(accept & completes):
            m.d.sync += [self.o.valid.eq(1), self.o.payload.data[0].eq(result),
                         self.o.payload.first.eq((pos.y == 1) & (pos.x == 1) & (pos.c == 0)),
                         self.o.payload.last.eq((pos.y == 2 * self.out_height - 1) & (pos.x == 2 * OW - 1)
                                                & (pos.c == C - 1))]
        with m.If(accept):
            m.d.sync += [pos.c.eq(pos.next_c), pos.slot.eq(pos.next_slot)]
            with m.If(pos.c == C - 1):
                m.d.sync += pos.x.eq(Mux(pos.x == self.width - 1, 0, pos.x + 1))
                with m.If(pos.x == self.width - 1):
                    m.d.sync += pos.y.eq(Mux(pos.y == self.height - 1, 0, pos.y + 1))
        return m

    def _position(self, m: Module):
        """The input beat's (y, x, c), its buffer slot ``(x // 2) * C + c``
        and the next beat's; ``kept``: not in a dropped row or column."""
        C, H, W, OW = self.channels, self.height, self.width, self.out_width
        c, x, y = Signal(range(max(2, C))), Signal(range(W)), Signal(range(H))
        # a dropped last column runs the slot past the buffer (never written there)
        slot, next_slot = Signal(range((OW + 1) * C)), Signal(range((OW + 1) * C))
        next_c = Mux(c == C - 1, 0, c + 1)
        with m.If(c != C - 1):
            m.d.comb += next_slot.eq(slot + 1)
        with m.Elif(x == W - 1):
            m.d.comb += next_slot.eq(0)
        with m.Elif(~x[0]):                 # the window's second column: the same slots again
            m.d.comb += next_slot.eq(slot - (C - 1))
        with m.Else():
            m.d.comb += next_slot.eq(slot + 1)
        kept = (x < 2 * OW) & (y < 2 * self.out_height)
        return _Position(c, x, y, slot, next_c, next_slot, kept)


@dataclass(frozen=True)
class _Position:
    c: Signal
    x: Signal
    y: Signal
    slot: Signal
    next_c: object
    next_slot: Signal
    kept: object
