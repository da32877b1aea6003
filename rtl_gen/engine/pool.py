"""Max pool on the write-back path (``docs/int8.md`` §5;
``golden.intref.maxpool``): 3x3 / stride 2 ceil mode, or 2x2 / stride 2
floor mode, chosen at elaboration (``kind``; a program has one kind).

Values arrive in the order the lanes make them: per group, output pixels in
raster order, per pixel its channels.  Pooling is separable: a running
horizontal maximum per lane, then a running vertical maximum per (pooled
column, lane) in a row buffer.  Along an axis of length n with ``n_out``
windows, coordinate x starts a window when it is even (the running maximum
restarts at x), and

* 3x3/2 ceil mode: completes window ``(x - 1) >> 1`` when x is even with
  2 <= x <= 2*n_out, or when x = n - 1 and n is even (the ceil-mode window
  that runs off the edge; then x is odd);
* 2x2/2 floor mode: completes window ``(x - 1) >> 1 = x >> 1`` when x is
  odd (an odd x is at most ``2*n_out - 1`` on any n; the last coordinate of
  an odd n starts a window that never completes: floor mode drops it).

A completed horizontal window feeds the vertical stage; a completed vertical
one is a pooled value, written at the pooled map's address (pooled pixels
come out in raster order, so the address is a running pointer).

Latency: ``LATENCY`` (6) cycles.  Throughput: one value per cycle in; out, one per pooled
value.  Back-pressure: none.
"""
from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from rtl_gen.engine.program import DEFAULT_LANES, check_lanes, lane_index
from rtl_gen.int8 import POOL_KINDS, PoolKind
from rtl_gen.params import ParamsFirst, check_int

__all__ = ["LATENCY", "PoolOnWrite", "write_layout"]

LATENCY = 6


def write_layout(addr_bits: int) -> data.StructLayout:
    return data.StructLayout({"valid": 1, "addr": unsigned(addr_bits), "data": unsigned(8)})


def completes(kind: PoolKind, x, last, twice_out, tail):
    """Does coordinate ``x`` complete a window (see the module docstring)?
    ``last`` = n - 1."""
    if not kind.ceil:
        return x[0]
    return (~x[0] & (x >= 2) & (x <= twice_out)) | (tail & (x == last))


@dataclass(frozen=True)
class PoolParams:
    """``PoolOnWrite``'s parameters (see the class); ``max_pooled_w`` below 1
    is taken as 1."""
    desc: data.StructLayout
    in_layout: data.StructLayout
    addr_bits: int
    max_pooled_w: int
    kind: PoolKind
    lanes: int = DEFAULT_LANES

    def __post_init__(self):
        check_int("addr_bits", self.addr_bits, 1)
        check_lanes(self.lanes)
        if self.kind not in POOL_KINDS:
            raise ValueError(f"kind must be one of {', '.join(map(str, POOL_KINDS))}, got {self.kind!r}")
        object.__setattr__(self, "max_pooled_w", max(1, int(self.max_pooled_w)))


class PoolOnWrite(wiring.Component, metaclass=ParamsFirst):
    """``i``: the write-back's values (``writeback.out_layout``); ``o``: the
    pooled values with their addresses.  ``max_pooled_w``: the widest pooled
    row of the program (the row buffer holds ``max_pooled_w * lanes``
    values); ``kind``: the program's ``pool_kind`` (one of
    ``rtl_gen.int8.POOL_KINDS``); ``lanes``: the MAC lanes.  Arguments:
    those of ``PoolParams``."""
    Params = PoolParams

    def __init__(self, params: PoolParams):
        self.desc_layout, self.addr_bits, self.max_pooled_w = params.desc, params.addr_bits, params.max_pooled_w
        self.kind, self.lanes = params.kind, params.lanes
        super().__init__({"desc": In(params.desc), "i": In(params.in_layout),
                          "o": Out(write_layout(params.addr_bits))})

    def elaborate(self, platform):
        m = Module()
        rows = Memory(shape=unsigned(8), depth=self.max_pooled_w * self.lanes, init=[])
        m.submodules.rows = rows
        first, hmax = self._decode(m)
        h = self._horizontal(m, first, hmax)
        v = self._vertical(m, h, rows)
        self._emit(m, v)
        return m

    def _decode(self, m):
        """Stage 1: where the value is in the windows, and its lane's
        running horizontal maximum (a lane comes back at least
        ``MIN_PERIOD`` cycles later, after its maximum is written)."""
        d, i = self.desc, self.i
        x, y = i.meta.ox, i.meta.oy
        # the running horizontal maxima, one per lane, in a small RAM: read
        # here, written back in stage 2 (the same lane is 4+ cycles away)
        self.hbuf = Memory(shape=unsigned(8), depth=self.lanes, init=[])
        m.submodules.hbuf = self.hbuf
        hread = self.hbuf.read_port()
        m.d.comb += hread.addr.eq(i.lane)
        s = Signal(data.StructLayout({
            "valid": 1, "y": 8, "lane": range(self.lanes), "c": i.c.shape(), "gfirst": 1,
            "x_odd": 1, "h_done": 1, "y_odd": 1, "v_done": 1, "px": (x - 1)[1:].shape()}))
        m.d.sync += [s.valid.eq(i.valid), s.y.eq(i.y), s.lane.eq(i.lane), s.c.eq(i.c),
                     s.gfirst.eq(i.valid & i.meta.gfirst),
                     s.x_odd.eq(x[0]), s.h_done.eq(completes(self.kind, x, d.last_ox, d.pool_xmax, d.pool_wtail)),
                     s.y_odd.eq(y[0]), s.v_done.eq(completes(self.kind, y, d.last_oy, d.pool_ymax, d.pool_htail)),
                     s.px.eq((x - 1)[1:])]
        return s, hread.data

    def _horizontal(self, m, s, hmax):
        """Stage 2: the horizontal maximum; a completed window goes on."""
        hval = Mux(hmax > s.y, hmax, s.y)
        hwrite = self.hbuf.write_port()
        m.d.comb += [hwrite.addr.eq(s.lane), hwrite.data.eq(Mux(s.x_odd, hval, s.y)), hwrite.en.eq(s.valid)]
        h = Signal(data.StructLayout({"valid": 1, "val": 8, "px": s.px.shape(), "lane": range(self.lanes),
                                      "c": s.c.shape(), "gfirst": 1, "y_odd": 1, "v_done": 1}))
        m.d.sync += [h.valid.eq(s.valid & s.h_done), h.val.eq(hval), h.px.eq(s.px), h.lane.eq(s.lane),
                     h.c.eq(s.c), h.gfirst.eq(s.gfirst), h.y_odd.eq(s.y_odd), h.v_done.eq(s.v_done)]
        return h

    def _vertical(self, m, h, rows):
        """Stage 3-4: the row buffer holds the running maximum of the
        window's rows; read with ``h``, updated one cycle later."""
        rd, wr = rows.read_port(), rows.write_port()
        m.d.comb += rd.addr.eq(lane_index(h.px, h.lane, self.lanes))
        h2 = Signal.like(h)
        m.d.sync += h2.eq(h)
        vmax = Mux(rd.data > h2.val, rd.data, h2.val)
        m.d.comb += [wr.addr.eq(lane_index(h2.px, h2.lane, self.lanes)), wr.data.eq(Mux(h2.y_odd, vmax, h2.val)), wr.en.eq(h2.valid)]
        v = Signal(data.StructLayout({"valid": 1, "val": 8, "lane": range(self.lanes), "c": h2.c.shape(),
                                      "gfirst": 1}))
        m.d.sync += [v.valid.eq(h2.valid & h2.v_done), v.val.eq(vmax), v.lane.eq(h2.lane), v.c.eq(h2.c),
                     v.gfirst.eq(h2.gfirst)]
        return v

    def _emit(self, m, v):
        """Stage 5-6: pooled values in raster order, so their address is a
        running pointer plus the channel's offset."""
        d, o = self.desc, self.o
        ptr, started = Signal(self.addr_bits), Signal()
        ptr_now = Mux(v.lane == 0, Mux(started, ptr + d.dst_c, 0), ptr)
        with m.If(v.gfirst):
            m.d.sync += started.eq(0)
        with m.If(v.valid & (v.lane == 0)):
            m.d.sync += [ptr.eq(ptr_now), started.eq(1)]
        last = Signal(data.StructLayout({"valid": 1, "ptr": self.addr_bits, "offset": self.addr_bits, "val": 8}))
        m.d.sync += [last.valid.eq(v.valid), last.ptr.eq(ptr_now), last.offset.eq(d.c_off + v.c),
                     last.val.eq(v.val)]
        m.d.sync += [o.valid.eq(last.valid), o.addr.eq(last.ptr + last.offset), o.data.eq(last.val)]
