"""The tap sequencer: one pass's loop nest as counters and pointers.

For every output-channel group ``g``, output row ``oy`` and column ``ox``,
it issues the pixel's ``taps`` (ky, kx, c) in ``golden.intref.im2col``
order, one per cycle, then idles until ``period`` cycles have passed (the
write-back needs ``lanes`` cycles per pixel).  Per tap it gives the
activation's address in the source bank (window rows are contiguous in NHWC,
so the address is a row pointer plus a counter), whether the tap falls in
the padding, and the lanes' weight ROM address (and, with ``ci_bits``, the
tap's input channel's low bits: what a padding value per image channel
needs).  No multiplier: every address is a running sum of the descriptor's
precomputed steps.

Latency: the first tap leaves one cycle after ``start``.  Throughput: one
tap per cycle, ``groups * out_h * out_w * period`` cycles per pass.
Back-pressure: none; the engine is statically scheduled (``docs/engine.md``).
``busy`` is high from ``start`` until the last tap has left.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.engine.program import DEFAULT_LANES, check_lanes
from rtl_gen.params import ParamsFirst, check_int

__all__ = ["TapSequencer", "meta_layout", "tap_layout"]


def meta_layout(desc: data.StructLayout, lanes: int = DEFAULT_LANES) -> data.StructLayout:
    """What travels with a pixel to the write-back: its group, position,
    whether it opens its group, and how many of the ``lanes`` hold channels."""
    return data.StructLayout({"g": desc["groups"].shape, "oy": desc["out_h"].shape, "ox": desc["out_w"].shape,
                              "gfirst": 1, "lanes": range(lanes + 1)})


def tap_layout(desc: data.StructLayout, addr_bits: int, w_addr_bits: int, ci_bits: int = 0,
               lanes: int = DEFAULT_LANES) -> data.StructLayout:
    return data.StructLayout({"valid": 1, "last": 1, "in_bounds": 1,
                              "addr": unsigned(addr_bits), "w_addr": unsigned(w_addr_bits),
                              "meta": meta_layout(desc, lanes), **({"ci": unsigned(ci_bits)} if ci_bits else {})})


@dataclass(frozen=True)
class SequencerParams:
    """``TapSequencer``'s parameters: the descriptor's layout ``desc``, the
    feature-map and weight address widths, and ``ci_bits`` of the input
    channel a padding tap carries (0: no padding values), and the MAC
    ``lanes`` (a full group's ``meta.lanes``)."""
    desc: data.StructLayout
    addr_bits: int
    w_addr_bits: int
    ci_bits: int = 0
    lanes: int = DEFAULT_LANES

    def __post_init__(self):
        check_int("addr_bits", self.addr_bits, 1)
        check_int("w_addr_bits", self.w_addr_bits, 1)
        check_int("ci_bits", self.ci_bits, 0)
        check_lanes(self.lanes)


class TapSequencer(wiring.Component, metaclass=ParamsFirst):
    """``desc`` must hold still from ``start`` until ``busy`` falls.
    Arguments: those of ``SequencerParams``."""
    Params = SequencerParams

    def __init__(self, params: SequencerParams):
        desc, addr_bits, w_addr_bits, ci_bits = params.desc, params.addr_bits, params.w_addr_bits, params.ci_bits
        self.desc_layout, self.addr_bits, self.w_addr_bits, self.ci_bits = desc, addr_bits, w_addr_bits, ci_bits
        self.lanes = params.lanes
        super().__init__({"desc": In(desc), "start": In(1), "busy": Out(1),
                          "tap": Out(tap_layout(desc, addr_bits, w_addr_bits, ci_bits, params.lanes))})

    def elaborate(self, platform):
        m = Module()
        d = self.desc
        ptr = signed(self.addr_bits + 2)
        pos = signed(max(d.in_h.shape().width, d.in_w.shape().width) + 2)
        s = SimpleNamespace(running=Signal(), t=Signal(d.period.shape()), ci=Signal(d.cin.shape()),
                   kx=Signal(d.k.shape()), ky=Signal(d.k.shape()), j=Signal(d.taps.shape()),
                   ox=Signal(d.out_w.shape()), oy=Signal(d.out_h.shape()), g=Signal(d.groups.shape()),
                   y_ptr=Signal(ptr), x_ptr=Signal(ptr), r_ptr=Signal(ptr),
                   iy0=Signal(pos), ix0=Signal(pos), iy=Signal(pos), ix=Signal(pos),
                   w_grp=Signal(self.w_addr_bits), w_ptr=Signal(self.w_addr_bits),
                   t_end=Signal(), tapping=Signal(), ox_end=Signal(), oy_end=Signal(), g_end=Signal(),
                   ci_end=Signal(), kx_end=Signal())
        self._flags(m, s)
        self._emit(m, s)
        # idle, the counters run on harmlessly (no tap is valid): one
        # condition less in front of every register
        with m.If(self.start):
            self._restart(m, s)
        with m.Else():
            self._step_tap(m, s)
            self._step_pixel(m, s)
        m.d.comb += self.busy.eq(s.running | self.start)
        return m

    def _flags(self, m, s):
        """The loop-end conditions as registers, so that no comparison sits
        in front of the pointer updates: ``t_end`` is predicted a cycle
        ahead (``period >= MIN_PERIOD``, so it is never true twice in a
        row); ``ox``/``oy``/``g`` change only at a pixel's end, at least
        ``MIN_PERIOD`` cycles before their flags are used again."""
        d = self.desc
        m.d.sync += [s.t_end.eq(~self.start & ~s.t_end & (s.t == d.last_t_m1)),
                     s.ox_end.eq(s.ox == d.last_ox), s.oy_end.eq(s.oy == d.last_oy), s.g_end.eq(s.g == d.last_g)]
        with m.If(self.start | s.t_end):
            m.d.sync += s.tapping.eq(1)
        with m.Elif(s.t == d.last_tap):
            m.d.sync += s.tapping.eq(0)

    def _emit(self, m, s):
        d, tap = self.desc, self.tap
        m.d.sync += [
            tap.valid.eq(s.running & s.tapping),
            tap.last.eq(s.t == d.last_tap),
            tap.in_bounds.eq((s.iy >= 0) & (s.iy < d.in_h) & (s.ix >= 0) & (s.ix < d.in_w)),
            tap.addr.eq(s.r_ptr + s.j), tap.w_addr.eq(s.w_ptr),
            tap.meta.g.eq(s.g), tap.meta.oy.eq(s.oy), tap.meta.ox.eq(s.ox),
            tap.meta.gfirst.eq((s.oy == 0) & (s.ox == 0)),
            tap.meta.lanes.eq(Mux(s.g == d.last_g, d.last_lanes, self.lanes)),
        ]
        if self.ci_bits:
            m.d.sync += tap.ci.eq(s.ci[:self.ci_bits])

    def _restart(self, m, s):
        d = self.desc
        m.d.sync += [s.running.eq(1), s.t.eq(0), s.ci.eq(0), s.kx.eq(0), s.ky.eq(0), s.j.eq(0),
                     s.ci_end.eq(d.cin_one), s.kx_end.eq(d.k_one),
                     s.ox.eq(0), s.oy.eq(0), s.g.eq(0),
                     s.y_ptr.eq(d.pix0), s.x_ptr.eq(d.pix0), s.r_ptr.eq(d.pix0),
                     s.iy0.eq(d.neg_pad), s.ix0.eq(d.neg_pad), s.iy.eq(d.neg_pad), s.ix.eq(d.neg_pad),
                     s.w_grp.eq(d.w_base), s.w_ptr.eq(d.w_base)]

    def _step_tap(self, m, s):
        """Within a pixel: the next (ky, kx, c); a window row is contiguous."""
        d = self.desc
        m.d.sync += s.t.eq(s.t + 1)
        with m.If(s.tapping):
            m.d.sync += s.w_ptr.eq(s.w_ptr + 1)
            # ci_end / kx_end are predicted as the counters move (registers,
            # not comparisons, select every update below)
            with m.If(~s.ci_end):
                m.d.sync += [s.ci.eq(s.ci + 1), s.j.eq(s.j + 1), s.ci_end.eq(s.ci == d.last_ci_m1)]
            with m.Elif(~s.kx_end):
                m.d.sync += [s.ci.eq(0), s.ci_end.eq(d.cin_one), s.kx.eq(s.kx + 1), s.ix.eq(s.ix + 1),
                             s.j.eq(s.j + 1), s.kx_end.eq(s.kx == d.last_k_m1)]
            with m.Else():
                m.d.sync += [s.ci.eq(0), s.ci_end.eq(d.cin_one), s.kx.eq(0), s.kx_end.eq(d.k_one), s.ix.eq(s.ix0),
                             s.j.eq(0), s.ky.eq(s.ky + 1), s.iy.eq(s.iy + 1), s.r_ptr.eq(s.r_ptr + d.row_step)]

    def _step_pixel(self, m, s):
        """After ``period`` cycles: the next pixel, row or group (these
        assignments come last, so they win over ``_step_tap``'s)."""
        d = self.desc
        with m.If(s.t_end):
            m.d.sync += [s.t.eq(0), s.ci.eq(0), s.kx.eq(0), s.ky.eq(0), s.j.eq(0), s.w_ptr.eq(s.w_grp),
                         s.ci_end.eq(d.cin_one), s.kx_end.eq(d.k_one)]
            with m.If(~s.ox_end):
                m.d.sync += [s.ox.eq(s.ox + 1), s.ix0.eq(s.ix0 + d.stride), s.ix.eq(s.ix0 + d.stride),
                             s.iy.eq(s.iy0), s.x_ptr.eq(s.x_ptr + d.step_x), s.r_ptr.eq(s.x_ptr + d.step_x)]
            with m.Elif(~s.oy_end):
                row = s.y_ptr + d.step_y
                m.d.sync += [s.ox.eq(0), s.oy.eq(s.oy + 1), s.ix0.eq(d.neg_pad), s.ix.eq(d.neg_pad),
                             s.iy0.eq(s.iy0 + d.stride), s.iy.eq(s.iy0 + d.stride),
                             s.y_ptr.eq(row), s.x_ptr.eq(row), s.r_ptr.eq(row)]
            with m.Else():
                m.d.sync += [s.ox.eq(0), s.oy.eq(0), s.g.eq(s.g + 1),
                             s.w_grp.eq(s.w_grp + d.taps), s.w_ptr.eq(s.w_grp + d.taps),
                             s.ix0.eq(d.neg_pad), s.ix.eq(d.neg_pad), s.iy0.eq(d.neg_pad), s.iy.eq(d.neg_pad),
                             s.y_ptr.eq(d.pix0), s.x_ptr.eq(d.pix0), s.r_ptr.eq(d.pix0)]
                with m.If(s.g_end):
                    m.d.sync += s.running.eq(0)
