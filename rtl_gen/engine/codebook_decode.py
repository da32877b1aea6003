"""Codebook weights on the way to the lanes: b-bit indices in, int8 out.

``lanes`` lanes need ``lanes`` table look-ups per cycle.  In logic that is a
2**bits:1 choice per weight bit (about 1 300 iCE40 cells for 16 lanes at 4
bits), so the look-ups are block-RAM reads instead: one RAM per lane pair
holds the *pair table* of the pass, ``{values[hi], values[lo]}`` at address
``(hi, lo)``, so one 16-bit read gives both lanes' weights (``lanes / 2``
RAMs: 8 for 16 lanes).

Each RAM holds two pair tables (``slot`` 0 and 1): while a pass reads one,
the writer fills the other with the next pass's table, one word per cycle,
from the values the engine fetched with the pass's descriptor (``book``).
So decoding costs no cycles as long as a pass lasts longer than
``write_cycles`` (the engine waits for the writer before it starts a pass,
and its cycle model counts that wait).

Latency: 1 cycle from ``idx`` to ``w`` (a block-RAM read).  Throughput:
``lanes`` weights per cycle.  Writer: ``load`` (one cycle) takes ``book`` and starts
filling slot ``load_slot``; ``busy`` from the next cycle until the last
word is written, ``write_cycles`` cycles.  Back-pressure: none.
"""
from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from rtl_gen.engine.program import DEFAULT_LANES, check_lanes
from rtl_gen.engine.weight_codes import MAX_DECODE_BITS
from rtl_gen.params import ParamsFirst, check_int

__all__ = ["CodebookDecode", "DecodeParams", "write_cycles"]


def write_cycles(bits: int) -> int:
    """From the cycle after ``load`` to ``busy`` low: ``2**bits`` runs of
    ``2**bits`` pairs and a bubble (the last write falls in the last bubble)."""
    return (2 ** bits) * (2 ** bits + 1)


@dataclass(frozen=True)
class DecodeParams:
    """``CodebookDecode``'s parameters: the index ``bits``, 1..``MAX_DECODE_BITS``,
    and the ``lanes`` (``program.check_lanes``)."""
    bits: int
    lanes: int = DEFAULT_LANES

    def __post_init__(self):
        check_int("bits", self.bits, 1)
        check_lanes(self.lanes)
        if self.bits > MAX_DECODE_BITS:
            raise ValueError(f"bits must be at most {MAX_DECODE_BITS} (pair tables of 2**(2 bits) words), "
                             f"got {self.bits}")


class CodebookDecode(wiring.Component, metaclass=ParamsFirst):
    """``book``: the next pass's ``2**bits`` values, 8 bits each, value 0
    lowest (the engine fetches them with that pass's descriptor).
    Arguments: those of ``DecodeParams``."""
    Params = DecodeParams

    def __init__(self, params: DecodeParams):
        bits = self.bits = params.bits
        lanes = self.lanes = params.lanes
        super().__init__({"idx": In(data.ArrayLayout(unsigned(bits), lanes)), "slot": In(1),
                          "w": Out(signed(8)).array(lanes),
                          "book": In(unsigned(8 << bits)), "load": In(1), "load_slot": In(1), "busy": Out(1)})

    def elaborate(self, platform):
        m = Module()
        b = self.bits
        write = self._writer(m)
        for pair in range(self.lanes // 2):
            ram = Memory(shape=unsigned(16), depth=2 << (2 * b), init=[])
            m.submodules[f"pairs{pair}"] = ram
            wr, rd = ram.write_port(), ram.read_port()
            m.d.comb += [wr.addr.eq(write.addr), wr.data.eq(write.data), wr.en.eq(write.en),
                         rd.addr.eq(Cat(self.idx[2 * pair], self.idx[2 * pair + 1], self.slot)),
                         self.w[2 * pair].eq(rd.data[:8]), self.w[2 * pair + 1].eq(rd.data[8:])]
        return m

    def _writer(self, m):
        """For each ``hi``, ``2**bits`` pairs (hi, hi + j), then a bubble.
        The values turn in one register, a byte per cycle: at the start of
        ``hi``'s run its value is in the lowest byte (kept as ``hi_value``),
        then every ``lo`` value passes by; the bubble's turn brings
        ``hi + 1`` to the front.  No table look-up, no second copy."""
        b = self.bits
        j = Signal(b + 1)                       # position in the run; 2**bits: the bubble
        hi = Signal(b + 1, init=1 << b)         # the top bit set: idle
        slot = Signal()
        turning, hi_value = Signal(8 << b), Signal(8)
        active = ~hi[-1]
        with m.If(self.load):
            m.d.sync += [hi.eq(0), j.eq(0), slot.eq(self.load_slot), turning.eq(self.book)]
        with m.Elif(active):
            m.d.sync += [turning.eq(turning.rotate_right(8)), j.eq(j + 1)]
            with m.If(j == 0):
                m.d.sync += hi_value.eq(turning[:8])
            with m.If(j[-1]):
                m.d.sync += [j.eq(0), hi.eq(hi + 1)]
        write = data.StructLayout({"en": 1, "addr": 2 * b + 1, "data": 16})
        out = Signal(write)
        lo = (hi[:b] + j[:b])[:b]
        m.d.sync += [out.en.eq(active & ~j[-1]), out.addr.eq(Cat(lo, hi[:b], slot)),
                     out.data.eq(Cat(turning[:8], Mux(j == 0, turning[:8], hi_value)))]
        m.d.comb += self.busy.eq(active | out.en)
        return out
