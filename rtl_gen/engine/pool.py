"""3x3 / stride 2 ceil-mode max pool on the write-back path
(``docs/int8.md`` §3; ``golden.intref.maxpool``).

Values arrive in the order the lanes make them: per group, output pixels in
raster order, per pixel its channels.  Pooling is separable: a running
horizontal maximum per lane, then a running vertical maximum per (pooled
column, lane) in a row buffer.  Along an axis of length n with
``n_out = output_size(n, 3, 2, 0, ceil=True)`` windows, coordinate x

* completes window ``(x - 1) >> 1`` when x is even with 2 <= x <= 2*n_out,
  or when x = n - 1 and n is even (the ceil-mode window that runs off the
  edge; then x is odd);
* starts a window when x is even (the running maximum restarts at x).

A completed horizontal window feeds the vertical stage; a completed vertical
one is a pooled value, written at the pooled map's address (pooled pixels
come out in raster order, so the address is a running pointer).

Latency: 2 cycles.  Throughput: one value per cycle in; out, one per pooled
value.  Back-pressure: none.
"""
from __future__ import annotations

from amaranth.hdl import Array, Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from rtl_gen.engine.program import LANES

__all__ = ["PoolOnWrite", "write_layout"]


def write_layout(addr_bits: int) -> data.StructLayout:
    return data.StructLayout({"valid": 1, "addr": unsigned(addr_bits), "data": unsigned(8)})


def completes(x, n, twice_out, tail):
    """Does coordinate ``x`` complete a window (see the module docstring)?"""
    return (~x[0] & (x >= 2) & (x <= twice_out)) | (tail & (x == n - 1))


class PoolOnWrite(wiring.Component):
    """``i``: the write-back's values (``writeback.out_layout``); ``o``: the
    pooled values with their addresses.  ``max_pooled_w``: the widest pooled
    row of the program (the row buffer's size)."""

    def __init__(self, desc: data.StructLayout, in_layout: data.StructLayout, addr_bits: int, max_pooled_w: int):
        self.desc_layout, self.addr_bits, self.max_pooled_w = desc, addr_bits, max(1, max_pooled_w)
        super().__init__({"desc": In(desc), "i": In(in_layout), "o": Out(write_layout(addr_bits))})

    def elaborate(self, platform):
        m = Module()
        d, i = self.desc, self.i
        hbuf = Array(Signal(8, name=f"hmax{k}") for k in range(LANES))
        rows = Memory(shape=unsigned(8), depth=self.max_pooled_w * LANES, init=[])
        m.submodules.rows = rows
        rd, wr = rows.read_port(), rows.write_port()

        x, y = i.meta.ox, i.meta.oy
        hval = Mux(hbuf[i.lane] > i.y, hbuf[i.lane], i.y)
        with m.If(i.valid):
            m.d.sync += hbuf[i.lane].eq(Mux(x[0], hval, i.y))
        px = (x - 1)[1:]
        m.d.comb += rd.addr.eq((px << 4) | i.lane)

        h = Signal(data.StructLayout({"valid": 1, "val": 8, "px": px.shape(), "lane": range(LANES),
                                      "c": i.c.shape(), "y": y.shape(), "gfirst": 1}))
        m.d.sync += [h.valid.eq(i.valid & completes(x, d.out_w, d.pool_xmax, d.pool_wtail)), h.val.eq(hval),
                     h.px.eq(px), h.lane.eq(i.lane), h.c.eq(i.c), h.y.eq(y),
                     h.gfirst.eq(i.valid & i.meta.gfirst)]

        vmax = Mux(rd.data > h.val, rd.data, h.val)
        m.d.comb += [wr.addr.eq((h.px << 4) | h.lane), wr.data.eq(Mux(h.y[0], vmax, h.val)), wr.en.eq(h.valid)]
        self._emit(m, h, vmax)
        return m

    def _emit(self, m, h, vmax):
        d, o = self.desc, self.o
        emit = h.valid & completes(h.y, d.out_h, d.pool_ymax, d.pool_htail)
        ptr, started = Signal(self.addr_bits), Signal()
        ptr_now = Mux(h.lane == 0, Mux(started, ptr + d.dst_c, 0), ptr)
        with m.If(h.gfirst):
            m.d.sync += started.eq(0)
        with m.If(emit & (h.lane == 0)):
            m.d.sync += [ptr.eq(ptr_now), started.eq(1)]
        m.d.sync += [o.valid.eq(emit), o.addr.eq(ptr_now + d.c_off + h.c), o.data.eq(vmax)]
