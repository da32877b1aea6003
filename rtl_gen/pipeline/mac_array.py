"""``MacArray``: a folded 1x1 convolution (a matrix-vector product per pixel)
with exact int32 accumulation, per-channel bias and requantisation.

For every pixel the input stream delivers ``period`` uint8 values (one per
beat, ``rtl_gen.stream`` convention) of which beats ``offset`` ..
``offset + cin - 1`` form the vector x (default: ``period = cin``, so the
whole pixel; expand1x1 uses the centre of a 3x3 im2col stream this way).  The array computes, for
each of ``cout`` output channels c::

    acc[c] = bias[c] + sum_k weight[c, k] * x[k]
    y[c]   = clamp((acc[c] * M[c] + 2**(shift-1)) >> shift, 0, 255)

and streams the y[c] out one channel per beat, channels ascending.  A 3x3
convolution is the same block fed by the window generator's im2col stream
(``cin = 9 * C``, weights reordered to (ky, kx, c)).

Folding: ``lanes`` output channels are computed in parallel (``lanes``
multipliers int8 x uint8, each a registered ``a * b`` of <= 16-bit operands,
the shape Yosys maps to an iCE40 SB_MAC16).  ``lanes`` must divide ``cout``;
the G = cout / lanes channel groups are computed one after the other by
replaying the pixel's vector from a ping-pong buffer (two pixels of
``cin`` bytes), so loading the next pixel overlaps computing this one.

Weights: int8 words in a block-RAM ROM or, with a ``codebook``
(``golden.codebook``), b-bit indices there and a decoder per lane (the
layer's 2**b values, a table in LUTs) on the way to the multiplier
(``rtl_gen.pipeline.weight_rom``).  The decoder is a register stage of its own;
the index ROM is read a cycle ahead (at the issue logic's next address), so
the decoded weight meets the pixel value in the same cycle as an int8
weight would: no cycle of latency or throughput is added.

Latency: the first output of a pixel is valid ``cin + 7`` cycles after the
handshake of that pixel's last input beat when the array is idle
(measured, with or without a codebook; pipeline: buffer read [index read
a cycle earlier, then decode], multiply, accumulate, partial products,
round/shift/clamp, FIFO, serialiser).
Throughput: one pixel per ``max(G * cin, cout)`` cycles when neither side
stalls -- ``G * cin`` is the MAC bound (``cin * cout`` MACs / ``lanes``),
``cout`` the bound of the one-channel output stream.
Back-pressure: the compute pipeline never stalls mid-way.  A group is only
issued when the output FIFO (2 * G + 8 words of ``lanes`` results) has a free
word reserved for it (credit counter), so output back-pressure stops issue,
then fills the ping-pong buffer, then drops ``i.ready``.  ``i.ready`` is a
function of registers only (ping-pong buffer state): no combinational path
from ``o.ready`` to ``i.ready``.

With ``requant="serial"`` (one lane only) the finished accumulator goes
through a ``SerialRequant`` (18 cycles per value; with ``raw``, through a
plain output register, one value per cycle) instead of the requant
multipliers and FIFO: throughput one output per ``max(cin, 18)`` cycles
(raw: ``cin``) when fed without gaps (the reference network's expand3x3 measures exactly
``cin``), at most ``max(cin + 3, 18)`` in the unit test; two credits (the accumulating result and the one being
requantised) take the FIFO's place, with the same register-only ``i.ready``.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from types import SimpleNamespace

import numpy as np
from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from amaranth.lib import stream as amaranth_stream

from golden.codebook import Codebook
from rtl_gen import int8, stream
from rtl_gen.pipeline.block_cost import BlockCost
from rtl_gen.params import ParamsFirst, WeightShape, check_choice, check_int
from rtl_gen.stream import acc_layout
from rtl_gen.pipeline.rom import lut_rom, pack_words
from rtl_gen.pipeline.requant_checks import requant_params
from rtl_gen.pipeline.serial_requant import SerialRequant
from rtl_gen.pipeline.weight_rom import check_codebook, decode_luts, weight_rom

__all__ = ["MacArray", "MacParams", "Requant"]

class Requant(StrEnum):
    """How a ``MacArray`` requantises."""
    # every lane requantises with two 16x16 multipliers (DSPs), one result
    # per lane per cycle, through an output FIFO and serialiser
    PARALLEL = "parallel"
    # one lane: the accumulator goes straight to a shift-add ``SerialRequant``
    # (no multiplier; one value per 18 cycles), no FIFO, the bias constants in
    # LUTs -- for small devices with few DSPs and block RAMs
    SERIAL = "serial"

# a codebook ROM's next-address mux (about one LUT4 per address bit), beside
# its decoders (``decode_luts``).  Yosys synth_ice40, a serial one-lane
# 16 -> 4 array: 4, 7, 10, 80 LUT4s more than int8 weights at b = 1, 2, 4, 6;
# this model says 20, 20, 20, 92
DECODE_STAGE_LUT = 12


@dataclass(frozen=True, eq=False)
class MacParams(WeightShape):
    """``MacArray``'s parameters: ``weight`` int8 (cout, cin), ``bias`` int32
    (cout,), ``m`` uint16 (cout,), ``shift`` 1..48 (both ignored, may be
    None, when ``raw``), ``lanes`` dividing cout, ``period``/``offset`` the
    pixel's beats and where x starts, ``requant`` a ``Requant`` (or its name),
    ``codebook`` None (int8 weight ROM) or a ``golden.codebook.Codebook``
    whose indices, shaped like ``weight``, code it exactly (index ROM and
    decode table, ``rtl_gen.pipeline.weight_rom``).  Stored normalised: int64
    arrays, ``period`` resolved."""
    weight: np.ndarray
    bias: np.ndarray
    m: np.ndarray | None
    shift: int | None
    lanes: int = 1
    period: int | None = None
    offset: int = 0
    raw: bool = False
    requant: Requant = Requant.PARALLEL
    codebook: Codebook | None = None

    def __post_init__(self):
        object.__setattr__(self, "requant", check_choice("requant", self.requant, Requant))
        weight = np.asarray(self.weight)
        if weight.ndim != 2 or weight.shape[0] < 1 or weight.shape[1] < 1:
            raise ValueError(f"weight must be a non-empty (cout, cin) matrix, got shape {weight.shape}")
        cout, cin = (int(s) for s in weight.shape)
        if not isinstance(self.lanes, int) or self.lanes < 1 or cout % self.lanes:
            raise ValueError(f"lanes must be a positive divisor of cout={cout}, got {self.lanes!r}")
        if int(weight.min()) < -127 or int(weight.max()) > 127:
            raise ValueError("weight values must lie in -127..127")
        check_codebook(self.codebook, weight)
        check_int("offset", self.offset, 0)
        period = cin if self.period is None else self.period
        if not isinstance(period, int) or period < self.offset + cin:
            raise ValueError(f"period must be an integer >= offset + cin = {self.offset + cin}, got {self.period!r}")
        # raw: no requantisation, any valid constants stand in for m and shift
        m, shift = (np.zeros(cout, np.int64), 1) if self.raw else (self.m, self.shift)
        bias, m, shift = requant_params(self.bias, m, shift, cout)
        if self.requant == Requant.SERIAL and self.lanes != 1:
            raise ValueError(f"requant='serial' needs lanes=1 (one product, one serial requantiser), "
                             f"got lanes={self.lanes}")
        for name, value in (("weight", weight.astype(np.int64)), ("bias", bias), ("m", m), ("shift", shift),
                            ("period", period)):
            object.__setattr__(self, name, value)

    @property
    def acc_bits(self) -> int:
        """The signed accumulator's width, exact for its bound
        ``cin * 127 * 255 + max|bias|`` (``docs/int8.md`` §3)."""
        return int8.acc_bits(self.cin, int(np.abs(self.bias).max()))


class MacArray(wiring.Component, metaclass=ParamsFirst):
    """Folded 1x1 conv; arguments: those of ``MacParams``."""
    Params = MacParams

    def __init__(self, params: MacParams):
        self.params = params
        self.raw, self.requant = params.raw, params.requant
        self.weight, self.bias, self.m, self.shift = params.weight, params.bias, params.m, params.shift
        self.cout, self.cin = params.cout, params.cin
        self.period, self.offset, self.lanes = params.period, params.offset, params.lanes
        self.codebook = params.codebook
        self.groups = self.cout // self.lanes
        self.acc_bits = params.acc_bits
        # the credit loop (issue .. FIFO read) is ~8 cycles long; 2*G more
        # words let a whole pixel queue while the consumer drains another
        self.fifo_depth = 2 * self.groups + 8
        out = amaranth_stream.Signature(acc_layout()) if self.raw else stream.Signature(1)
        super().__init__({"i": In(stream.Signature(1)), "o": Out(out)})

    def resource_cost(self) -> BlockCost:
        if self.raw and self.requant == Requant.SERIAL:       # one lane, output register (measured 142 LUT4s)
            cost = BlockCost(lut=145, dsp=1)
        elif self.raw:
            cost = BlockCost(lut=150 + 60 * self.lanes, dsp=self.lanes)
        elif self.requant == Requant.SERIAL:        # its SerialRequant is a block of its own
            cost = BlockCost(lut=160, dsp=1)
        else:
            cost = BlockCost(lut=200 + 130 * self.lanes, dsp=3 * self.lanes)
        if self.codebook is None:
            return cost
        # the index ROM (and an 8-bit table) is a Memory the fit check prices;
        # added here: the decoders and the read-ahead address, and the bits
        decode = DECODE_STAGE_LUT + self.lanes * decode_luts(self.codebook.bits)
        return BlockCost(lut=cost.lut + decode, dsp=cost.dsp,
                         weight_index_bits=self.codebook.index_bits(), codebook_bits=self.codebook.table_bits())

    def elaborate(self, platform):
        m = Module()
        # serial is for small devices: keep memories in block RAM even when
        # Yosys would spend LUTs and flip-flops on them (the scarcer resource)
        ram_attrs = {"ram_style": "block"} if self.requant == Requant.SERIAL else None
        serial = self.requant == Requant.SERIAL
        roms = self._constant_roms(m, ram_attrs, with_mult=not serial and not self.raw)
        pixels = self._pixel_buffer(m, ram_attrs)
        output = _SerialRequantOutput(self) if serial else _FifoOutput(self, m)
        issue = self._issue(m, pixels, roms, output)
        acc = self._multiply_accumulate(m, pixels, roms, issue)
        output.build(m, acc, roms)
        return m

    def _constant_roms(self, m: Module, ram_attrs, with_mult: bool) -> SimpleNamespace:
        """Read ports of the weight, bias and (parallel requant) multiplier
        tables, block RAM initialised in the bitstream (the weight's, with a
        codebook, followed by its decoder: ``rtl_gen.pipeline.weight_rom``)."""
        G, L = self.groups, self.lanes
        w_rd = weight_rom(m, self.weight, self.codebook, L, ram_attrs)
        if self.requant == Requant.SERIAL:      # a few words: LUTs, registered like a block RAM read
            b_addr = Signal(range(max(2, len(self.bias))))
            b_rd = SimpleNamespace(addr=b_addr,                   # a read port look-alike
                                   data=lut_rom(m, b_addr, [int(v) & 0xFFFFFFFF for v in self.bias], 32,
                                                domain="sync"))
        else:
            m.submodules.brom = brom = Memory(shape=unsigned(32 * L), depth=max(2, G),
                                              init=pack_words(self.bias.reshape(G, L), 32))
            b_rd = brom.read_port()
        m_rd = None
        if with_mult:
            m.submodules.mrom = mrom = Memory(shape=unsigned(16 * L), depth=max(2, G),
                                              init=pack_words(self.m.reshape(G, L), 16))
            m_rd = mrom.read_port()
        return SimpleNamespace(weight=w_rd, bias=b_rd, mult=m_rd)

    def _pixel_buffer(self, m: Module, ram_attrs) -> SimpleNamespace:
        """Input side: the ping-pong buffer of two pixels, each bank with its
        full flag and the pixel's first/last; ``i.ready`` while the bank being
        written is empty."""
        K, P, O = self.cin, self.period, self.offset
        m.submodules.xbuf = xbuf = Memory(shape=unsigned(8), depth=2 * K, init=[], attrs=ram_attrs)
        x_wr, x_rd = xbuf.write_port(), xbuf.read_port()
        full = [Signal(name=f"full{b}") for b in range(2)]
        pix_first = [Signal(name=f"pix_first{b}") for b in range(2)]
        pix_last = [Signal(name=f"pix_last{b}") for b in range(2)]
        wbank = Signal()
        wk = Signal(range(max(2, P)))
        m.d.comb += self.i.ready.eq(Mux(wbank, full[1], full[0]) == 0)
        with m.If(self.i.valid & self.i.ready):
            m.d.comb += [x_wr.en.eq((wk >= O) & (wk < O + K)),
                         x_wr.addr.eq(Mux(wbank, K + wk - O, wk - O)),
                         x_wr.data.eq(self.i.payload.data[0])]
            for b in range(2):
                with m.If(wbank == b):
                    with m.If(wk == 0):
                        m.d.sync += pix_first[b].eq(self.i.payload.first)
                    with m.If(wk == P - 1):
                        m.d.sync += [full[b].eq(1), pix_last[b].eq(self.i.payload.last)]
            with m.If(wk == P - 1):
                m.d.sync += [wk.eq(0), wbank.eq(~wbank)]
            with m.Else():
                m.d.sync += wk.eq(wk + 1)
        return SimpleNamespace(read=x_rd, full=full, first=pix_first, last=pix_last)

    def _issue(self, m: Module, pixels, roms, output) -> SimpleNamespace:
        """Walks (bank, group, k) over full banks, starting a group only with
        a free output slot (credit counter), and frees a bank after its last
        group."""
        K, G = self.cin, self.groups
        space = Signal(range(max(2, output.slots + 1)), init=output.slots)
        rbank = Signal()
        g = Signal(range(max(2, G)))
        k = Signal(range(max(2, K)))
        waddr = Signal(range(max(2, G * K)))
        full = pixels.full
        rfull = Mux(rbank, full[1], full[0])
        issue = Signal()
        m.d.comb += issue.eq(rfull & ((k != 0) | (space != 0)))
        take = issue & (k == 0)
        m.d.sync += space.eq(space - take + output.slot_freed)
        m.d.comb += pixels.read.addr.eq(Mux(rbank, K + k, k))
        if roms.weight.stages == 1:
            m.d.comb += roms.weight.addr.eq(waddr)
        else:   # a codebook decoder's register takes a cycle: read the index a cycle ahead, at waddr's next value
            wrap = (k == K - 1) & (g == G - 1)
            m.d.comb += roms.weight.addr.eq(Mux(issue, Mux(wrap, 0, waddr + 1), waddr))
        with m.If(issue):
            with m.If(k == K - 1):
                m.d.sync += k.eq(0)
                with m.If(g == G - 1):
                    m.d.sync += [g.eq(0), waddr.eq(0), rbank.eq(~rbank)]
                    for b in range(2):
                        with m.If(rbank == b):
                            m.d.sync += full[b].eq(0)
                with m.Else():
                    m.d.sync += [g.eq(g + 1), waddr.eq(waddr + 1)]
            with m.Else():
                m.d.sync += [k.eq(k + 1), waddr.eq(waddr + 1)]
        return SimpleNamespace(valid=issue, bank=rbank, group=g, k=k)

    def _multiply_accumulate(self, m: Module, pixels, roms, issue) -> SimpleNamespace:
        """Stages 1-3 behind the issue: buffer/ROM data arrive, registered
        products (SB_MAC16 shape), accumulation; a finished group is copied
        to ``fin``."""
        K, G, L, A = self.cin, self.groups, self.lanes, self.acc_bits
        g, k, rbank = issue.group, issue.k, issue.bank
        # -- stage 1: buffer/ROM data arrive ----------------------------------
        v1, k0_1, kl_1, f1, l1 = (Signal(name=n) for n in ("v1", "k0_1", "kl_1", "f1", "l1"))
        g1 = Signal(range(max(2, G)))
        m.d.sync += [v1.eq(issue.valid), k0_1.eq(k == 0), kl_1.eq(k == K - 1), g1.eq(g),
                     f1.eq(Mux(rbank, pixels.first[1], pixels.first[0]) & (g == 0)),
                     l1.eq(Mux(rbank, pixels.last[1], pixels.last[0]) & (g == G - 1))]
        m.d.comb += roms.bias.addr.eq(g1)

        # -- stage 2: registered products (SB_MAC16 shape) ---------------------
        prod = [Signal(signed(17), name=f"prod{l}") for l in range(L)]
        v2, k0_2, kl_2, f2, l2 = (Signal(name=n) for n in ("v2", "k0_2", "kl_2", "f2", "l2"))
        g2 = Signal(range(max(2, G)))
        m.d.sync += [v2.eq(v1), k0_2.eq(k0_1), kl_2.eq(kl_1), f2.eq(f1), l2.eq(l1), g2.eq(g1)]
        for l in range(L):
            m.d.sync += prod[l].eq(roms.weight.data[8 * l:8 * l + 8].as_signed() * pixels.read.data)
        if roms.mult is not None:
            m.d.comb += roms.mult.addr.eq(g2)

        # -- stage 3: accumulate; a finished group is copied to `fin` ---------
        acc = [Signal(signed(A), name=f"acc{l}") for l in range(L)]
        fin = [Signal(signed(A), name=f"fin{l}") for l in range(L)]
        vf, ff, lf = Signal(), Signal(), Signal()
        m.d.sync += [vf.eq(v2 & kl_2), ff.eq(f2), lf.eq(l2)]
        for l in range(L):
            bias_l = roms.bias.data[32 * l:32 * l + 32].as_signed()
            total = Mux(k0_2, bias_l, acc[l]) + prod[l]
            with m.If(v2):
                m.d.sync += acc[l].eq(total)
                with m.If(kl_2):
                    m.d.sync += fin[l].eq(total)
        # finishing/first/last: a group completes now and loads `fin`;
        # fin_loaded/fin_first/fin_last: the same a cycle later, beside `fin`
        return SimpleNamespace(fin=fin, finishing=v2 & kl_2, first=f2, last=l2,
                               fin_loaded=vf, fin_first=ff, fin_last=lf)


class _SerialRequantOutput:
    """``requant="serial"``: the finished accumulator goes straight to a
    ``SerialRequant`` (with ``raw``: to the output register, unchanged).
    Two output slots: one result accumulating or in ``fin``, one in the
    requantiser (the output register), so ``fin`` is always free when a
    group completes; a slot is freed by each output handshake."""

    def __init__(self, mac: MacArray):
        self.mac = mac
        self.slots = 2
        self.slot_freed = mac.o.valid & mac.o.ready

    def build(self, m: Module, acc, roms):
        mac = self.mac
        fin_valid, fin_first, fin_last = Signal(), Signal(), Signal()
        if mac.raw:
            taken = self._hold_raw(m, acc.fin[0], fin_valid, fin_first, fin_last)
        else:
            m.submodules.requant = rq = SerialRequant(mac.m, mac.shift, mac.acc_bits)
            m.d.comb += [rq.i.valid.eq(fin_valid), rq.i.payload.data.eq(acc.fin[0]),
                         rq.i.payload.first.eq(fin_first), rq.i.payload.last.eq(fin_last)]
            wiring.connect(m, rq.o, wiring.flipped(mac.o))
            taken = rq.i.ready
        with m.If(taken):
            m.d.sync += fin_valid.eq(0)
        with m.If(acc.finishing):
            m.d.sync += [fin_valid.eq(1), fin_first.eq(acc.first), fin_last.eq(acc.last)]

    def _hold_raw(self, m: Module, fin, fin_valid, fin_first, fin_last):
        """``fin`` into the output register when that is free; returns the
        condition under which it is taken."""
        o = self.mac.o
        taken = ~o.valid | o.ready
        with m.If(o.ready):
            m.d.sync += o.valid.eq(0)
        with m.If(fin_valid & taken):
            m.d.sync += [o.valid.eq(1), o.payload.data.eq(fin), o.payload.first.eq(fin_first),
                         o.payload.last.eq(fin_last)]
        return taken


class _FifoOutput:
    """``requant="parallel"`` (and ``raw``): each lane is requantised (stages
    4-5) into one FIFO word of ``lanes`` results, which a serialiser sends
    one beat per lane.  One output slot per FIFO word, freed when the
    serialiser takes the word."""

    def __init__(self, mac: MacArray, m: Module):
        self.mac = mac
        self.bits = 32 if mac.raw else 8                # bits of one output value
        self.slots = mac.fifo_depth
        m.submodules.fifo = self.fifo = SyncFIFOBuffered(width=self.bits * mac.lanes + 2, depth=mac.fifo_depth)
        self.slot_freed = self.fifo.r_en & self.fifo.r_rdy

    def build(self, m: Module, acc, roms):
        self._requantise(m, acc, roms)
        self._serialise(m)

    def _requantise(self, m: Module, acc, roms):
        """Stages 4-5: every lane's result, with the group's first/last,
        into one FIFO word."""
        mac, fifo = self.mac, self.fifo
        vr, fr, lr = Signal(), Signal(), Signal()
        m.d.sync += [vr.eq(acc.fin_loaded), fr.eq(acc.fin_first), lr.eq(acc.fin_last)]
        ys = []
        for l in range(mac.lanes):
            if mac.raw:            # the int32 accumulator itself, delayed like a requant lane
                y = Signal(signed(32), name=f"raw{l}")
                m.d.sync += y.eq(acc.fin[l])
                ys.append(y)
            else:
                ys.append(_requant_lane(m, acc.fin[l], roms.mult.data[16 * l:16 * l + 16], mac.shift,
                                        mac.acc_bits, l))
        m.d.comb += [fifo.w_en.eq(vr), fifo.w_data.eq(Cat(*ys, fr, lr))]

    def _serialise(self, m: Module):
        """One FIFO word -> ``lanes`` beats on ``o``."""
        B, L, fifo, o = self.bits, self.mac.lanes, self.fifo, self.mac.o
        cur = Signal(B * L + 2)
        have = Signal()
        idx = Signal(range(max(2, L)))
        data_out = o.payload.data if self.mac.raw else o.payload.data[0]
        m.d.comb += [o.valid.eq(have),
                     data_out.eq(cur.word_select(idx, B)),
                     o.payload.first.eq(cur[B * L] & (idx == 0)),
                     o.payload.last.eq(cur[B * L + 1] & (idx == L - 1))]
        with m.If(~have | (o.ready & (idx == L - 1))):
            m.d.comb += fifo.r_en.eq(1)
            with m.If(fifo.r_rdy):
                m.d.sync += [cur.eq(fifo.r_data), have.eq(1), idx.eq(0)]
            with m.Else():
                m.d.sync += have.eq(0)
        with m.Elif(o.ready):
            m.d.sync += idx.eq(idx + 1)


def _requant_lane(m: Module, fin, mult, shift: int, acc_bits: int, lane: int):
    """Two pipeline stages: y = clamp((fin * mult + 2**(shift-1)) >> shift, 0, 255).

    A non-positive accumulator always gives 0 (acc*M <= 0 and adding
    2**(shift-1) < 2**shift cannot reach 1), so only the positive magnitude
    is multiplied, split in 16-bit halves: two unsigned 16x16 products,
    each one SB_MAC16."""
    mag = fin[:acc_bits - 1]
    lo = mag[:16]
    hi = mag[16:] if acc_bits - 1 > 16 else Const(0, 1)
    p_lo = Signal(32, name=f"p_lo{lane}")
    p_hi = Signal(max(1, acc_bits - 1 - 16) + 16, name=f"p_hi{lane}")
    pos = Signal(name=f"pos{lane}")
    m.d.sync += [p_lo.eq(lo * mult), p_hi.eq(hi * mult), pos.eq(fin > 0)]
    y = ((p_hi << 16) + p_lo + int8.rounding(shift)) >> shift
    # the contract's clamp (rtl_gen.int8.clamp_u8) with the sign taken before
    # the product (``pos``) and a comparison for the top: its form since the
    # first builds, kept so that the pipeline's Verilog stays as measured
    return Mux(~pos, 0, Mux(y > 255, 255, y[:8]))[:8]
