"""The engine's write-back: each lane sum to its uint8 output value.

Per value, in a pipeline (``docs/int8.md`` §2 and §4):

1. ``v = sum + bias[c]``, with the channel's constants read from the
   channel-constant ROM (``bias``, ``m``, ``m_a``, ``m_b``) and, for a bypass
   add, the side map's value at the output's own address;
2. ``prod = v * m`` (``TreeMul``, pipelined);
3. ``r = clamp((prod + 2**(shift-1)) >> shift, 0, 255)`` (``RoundedShift``);
4. a bypass add (its products in ``TreeMul`` too): simple
   ``s = r*m_a + side*m_b``, complex (this pass is the bypass conv, ``m``
   holding ``m_b``) ``s = side*m_a + prod``; then
   ``clamp((s + 2**(add_shift-1)) >> add_shift, 0, 255)``.

A program ending in a logits conv (``docs/int8.md`` §5) also gets ``o.acc``:
``prod`` beside ``y``, which on that pass (``m`` = 1) is the signed
accumulator the class sums add instead of ``y``.

It also keeps the output pixel pointer (``dst_c`` bytes per pixel of the
pass's output map, reset at each group's first pixel) and gives each value
its address in the unpooled output map, which is also its address in the
side map (same height, width and channels).

Latency: ``latency`` cycles from ``i`` to ``o`` (10, or 15 with bypass adds).  Throughput: one value per
cycle.  Back-pressure: none.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.engine.descriptor import ADD_COMPLEX, ADD_NONE
from rtl_gen.engine.delay_line import DelayLine
from rtl_gen.engine.lanes import value_layout
from rtl_gen.engine.program import DEFAULT_LANES, lane_index
from rtl_gen.engine.tree_mul import TreeMul, tree_latency
from rtl_gen.engine import rom_images
from rtl_gen.int8 import clamp_u8
from rtl_gen.params import ParamsFirst

__all__ = ["WriteBack", "RoundedShift", "write_back_latency", "WriteBackConfig", "const_layout", "out_layout", "write_back_config"]


@dataclass(frozen=True)
class WriteBackConfig:
    """What the program needs of the write-back, so that only that is built:
    the operand widths, the range of the requantisation shifts (a shifter
    only as wide as that range), and whether any pass adds a bypass (and
    whether one is complex)."""
    acc_bits: int
    bias_bits: int
    addr_bits: int
    shifts: tuple[int, int]
    add_shifts: tuple[int, int] | None
    complex: bool
    add_per_pass: bool = False      # the add's multipliers come from the descriptor
    m_bits: int = 16                # the requantisation multipliers' width (the program's largest)
    add_m_bits: int = 16            # the bypass add's
    logits: range | None = None     # the logits pass's accumulators, if the program ends in one (``o.acc``)
    lanes: int = DEFAULT_LANES      # the MAC lanes (the channels of a group)

    @property
    def lane_in_channel(self) -> bool:
        """Whether a value's lane is its channel's low bits (``lanes`` a
        power of two: every pass's rows start at a multiple of it), so
        the delay line need not carry it."""
        return self.lanes & (self.lanes - 1) == 0


def write_back_config(program, acc_bits: int, bias_bits: int, addr_bits: int) -> WriteBackConfig:
    requant = [p.shift for p in program.passes if not (p.add and p.add.kind == "complex") and not p.logits] or [1]
    adds = [p.add for p in program.passes if p.add]
    lo, hi = program.gap_range()
    m_bits = max(int(p.m.max(initial=1)).bit_length() for p in program.passes)
    add_m_bits = max((int(max(a.m_a.max(initial=1), a.m_b.max(initial=1))).bit_length() for a in adds), default=1)
    return WriteBackConfig(acc_bits, bias_bits, addr_bits, (min(requant), max(requant)),
                           (min(a.shift for a in adds), max(a.shift for a in adds)) if adds else None,
                           any(a.kind == "complex" for a in adds), program.uniform_add_multipliers(),
                           m_bits, add_m_bits, range(lo, hi + 1) if program.passes[-1].logits else None,
                           program.lanes)


def write_back_latency(config: WriteBackConfig) -> int:
    """Address, bias, product, rounding add, shift and clamp, [the add and
    its rounding], output register."""
    return 3 + tree_latency(config.m_bits) + 2 + (tree_latency(8) + 2 if config.add_shifts else 0) + 1


def const_layout(config: WriteBackConfig) -> data.StructLayout:
    fields = {"bias": signed(config.bias_bits), "m": unsigned(config.m_bits)}
    if config.add_shifts and not config.add_per_pass:
        fields.update(m_a=unsigned(config.add_m_bits), m_b=unsigned(config.add_m_bits))
    return data.StructLayout(fields)


def out_layout(meta: data.StructLayout, c_bits: int, addr_bits: int, logits: range | None = None,
               lanes: int = DEFAULT_LANES) -> data.StructLayout:
    """A value leaving the write-back; of ``meta`` only ``ox``, ``oy`` and
    ``gfirst`` are set (what the pool and the class sums use); ``acc``
    when the program ends in a logits pass whose accumulators span ``logits``."""
    fields = {"valid": 1, "y": unsigned(8), "c": unsigned(c_bits), "lane": range(lanes), "meta": meta,
              "addr": unsigned(addr_bits)}
    return data.StructLayout({**fields, **({"acc": logits} if logits else {})})


class RoundedShift:
    """``clamp((value + 2**(shift-1)) >> shift, 0, 255)`` (floor) for
    ``shift`` in ``span``, in two registered steps: the rounding add and a
    fixed shift by the smallest shift, then a shifter only as wide as the
    span (a program's shifts are a few adjacent values) and the clamp.
    ``shift`` is a pass constant, so its decoded rounding bit is registered
    off the data path."""

    def __init__(self, m, shift, span: tuple[int, int], width: int):
        lo, hi = span
        self.lo, self.span_bits = lo, max(1, (hi - lo).bit_length())
        self.half = Signal(max(width, hi) + 1, name="half")
        self.rest = Signal(self.span_bits, name="rest")
        for s in range(lo, hi + 1):
            m.d.sync += self.half[s - 1].eq(shift == s)
        m.d.sync += self.rest.eq((shift - lo).as_unsigned())

    def add(self, value):
        return (value + self.half) >> self.lo

    def finish(self, shifted):
        return clamp_u8(shifted >> self.rest)


@dataclass(frozen=True, eq=False)
class WriteBackParams:
    """``WriteBack``'s parameters: the descriptor's and the lanes' meta
    layouts, the ``WriteBackConfig`` and the channel-constant ROM's image
    (``rom_images.RomImage``, words of ``const_layout``, at least one entry)."""
    desc: data.StructLayout
    meta: data.StructLayout
    config: WriteBackConfig
    constants: rom_images.RomImage

    def __post_init__(self):
        if not isinstance(self.config, WriteBackConfig):
            raise ValueError(f"config must be a WriteBackConfig, got {type(self.config).__name__}")
        if not isinstance(self.constants, rom_images.RomImage) or self.constants.entries < 1:
            raise ValueError("constants must be a RomImage of at least one entry")


class WriteBack(wiring.Component, metaclass=ParamsFirst):
    """``constants``: the channel-constant ROM's image; ``side_addr``/
    ``side_data``: the side map's read port (data one cycle after the
    address).  Arguments: those of ``WriteBackParams``."""

    Params = WriteBackParams

    def __init__(self, params: WriteBackParams):
        desc, meta, config, constants = params.desc, params.meta, params.config, params.constants
        self.desc_layout, self.meta_layout, self.config = desc, meta, config
        self.c_bits = max(1, (constants.entries - 1).bit_length())
        self.constants = constants
        self.latency = write_back_latency(config)
        super().__init__({"desc": In(desc), "i": In(value_layout(config.acc_bits, meta, config.lanes)),
                          "side_addr": Out(config.addr_bits), "side_data": In(8),
                          "o": Out(out_layout(meta, self.c_bits, config.addr_bits, config.logits, config.lanes))})

    def elaborate(self, platform):
        m = Module()
        cfg, d = self.config, self.desc
        image = self.constants
        m.submodules.constants = rom = rom_images.rom_memory(image)
        port = rom.read_port()
        port_data = const_layout(cfg)(port.data)
        second = self._address(m, port)
        passing = self._pass_through(m, second)
        stage = self._bias(m, SimpleNamespace(v=second.v), port_data)
        stage = self._multiply(m, stage)
        requant = RoundedShift(m, d.shift, cfg.shifts, stage.prod.shape().width)
        stage = self._stage(m, stage, z=requant.add(stage.prod))
        stage = self._stage(m, stage, r=requant.finish(stage.z))
        y = stage.r
        if cfg.add_shifts:
            stage = self._add_sum(m, stage)
            add = RoundedShift(m, d.add_shift, cfg.add_shifts, stage.s.shape().width)
            stage = self._stage(m, stage, z2=add.add(stage.s))
            y = Mux(d.add_kind == ADD_NONE, stage.r, add.finish(stage.z2))
        o = self.o
        m.d.sync += o.y.eq(y)
        if cfg.logits:
            m.d.sync += o.acc.eq(stage.prod)
        lane = passing.c[:(cfg.lanes - 1).bit_length()] if cfg.lane_in_channel else passing.lane
        m.d.comb += [o.valid.eq(passing.valid), o.c.eq(passing.c), o.lane.eq(lane),
                     o.meta.ox.eq(passing.ox), o.meta.oy.eq(passing.oy), o.meta.gfirst.eq(passing.gfirst),
                     o.addr.eq(passing.addr)]
        return m

    def _pass_through(self, m, second):
        """What the arithmetic does not touch -- the valid bit, lane,
        channel, position and address -- waits in a block-RAM delay line
        (``DelayLine``) rather than in some 400 flip-flops."""
        # the lane is not kept where it is the channel row's low bits (16
        # lanes: every pass's rows start at a multiple of 16), so the word
        # fits 2 blocks on the reference
        lane = {} if self.config.lane_in_channel else {"lane": second.lane.shape()}
        layout = data.StructLayout({"valid": 1, "c": second.c.shape(),
                                    "ox": second.meta.ox.shape(), "oy": second.meta.oy.shape(), "gfirst": 1,
                                    "addr": self.config.addr_bits, **lane})
        # bias, product, rounding add, shift [, add, its rounding], output register
        cycles = write_back_latency(self.config) - 2
        m.submodules.passing = line = DelayLine(layout, cycles)
        m.d.comb += [line.i.valid.eq(second.valid), line.i.c.eq(second.c),
                     line.i.ox.eq(second.meta.ox), line.i.oy.eq(second.meta.oy),
                     line.i.gfirst.eq(second.meta.gfirst), line.i.addr.eq(second.addr)]
        if lane:
            m.d.comb += line.i.lane.eq(second.lane)
        return line.o

    def _multiply(self, m, stage):
        """``prod = v * m`` in the pipelined tree; the other fields wait beside it."""
        mul = TreeMul(stage.v.shape().width, self.config.m_bits)
        m.submodules.mul = mul
        m.d.comb += [mul.a.eq(stage.v), mul.b.eq(stage.k.m)]
        for cycle in range(mul.latency):
            side = {"side": self.side_data} if cycle == 0 and self.config.add_shifts else {}
            stage = self._stage(m, stage, **side)
        stage.prod = mul.p
        return stage

    def _address(self, m, port):
        """Two stages: the pixel pointer and the channel offsets, then their
        sum, the value's address (one adder per cycle).  The constant ROM
        and the side map are read with the second."""
        d, i = self.desc, self.i
        ptr = Signal(self.config.addr_bits)
        pixel = i.valid & (i.lane == 0)
        ptr_now = Mux(pixel, Mux(i.meta.gfirst, 0, ptr + d.dst_c), ptr)
        with m.If(pixel):
            m.d.sync += ptr.eq(ptr_now)
        c = lane_index(i.meta.g, i.lane, self.config.lanes)
        first = self._stage(m, SimpleNamespace(valid=i.valid, lane=i.lane, meta=i.meta, c=c, v=i.value),
                            pix=ptr_now, offset=d.c_off + c, entry=d.c_base + c)
        addr = (first.pix + first.offset)[:self.config.addr_bits]
        m.d.comb += port.addr.eq(first.entry)
        second = self._stage(m, SimpleNamespace(valid=first.valid, lane=first.lane, meta=first.meta, c=first.c, v=first.v),
                             addr=addr)
        # the side map is read from the registered address: its data comes
        # two stages on (``_multiply``), long before the add needs it
        m.d.comb += self.side_addr.eq(second.addr)
        return second

    def _bias(self, m, s1, constants):
        s2 = self._stage(m, s1, v=s1.v + constants.bias)
        s2.k = Signal(constants.shape())
        m.d.sync += s2.k.eq(constants)
        return s2

    def _add_sum(self, m, stage):
        """The bypass add's sum, ``x1 * m_a + x2 * m_b (+ prod)``, its two
        products in ``TreeMul`` (adders only: no ``*`` for Yosys to map to
        a DSP, all eight are MAC lanes); returns the stage holding ``s``."""
        complex_ = self.desc.add_kind == ADD_COMPLEX if self.config.complex else False
        x1 = Mux(complex_, stage.side, stage.r) if self.config.complex else stage.r
        x2 = Mux(complex_, 0, stage.side) if self.config.complex else stage.side
        products = []
        per_pass = self.config.add_per_pass
        multipliers = (self.desc.add_m_a, self.desc.add_m_b) if per_pass else (stage.k.m_a, stage.k.m_b)
        for k, (x, mult) in enumerate(zip((x1, x2), multipliers)):
            mul = TreeMul(self.config.add_m_bits + 1, 8)
            m.submodules[f"add_mul{k}"] = mul
            m.d.comb += [mul.a.eq(mult), mul.b.eq(x)]
            products.append(mul)
        for _ in range(products[0].latency):
            stage = self._stage(m, stage)
        total = products[0].p + products[1].p
        if self.config.complex:
            total = total + Mux(self.desc.add_kind == ADD_COMPLEX, stage.prod, 0)
        return self._stage(m, stage, s=total)

    def _stage(self, m, prev, **new):
        """The next pipeline stage: ``prev``'s fields (and ``new`` ones)
        registered one cycle later."""
        nxt = SimpleNamespace()
        values = {**{k: v for k, v in vars(prev).items()}, **new}
        for name, value in values.items():
            reg = Signal.like(value, name=f"wb_{name}") if not isinstance(value, int) else Signal(name=f"wb_{name}")
            m.d.sync += reg.eq(value)
            setattr(nxt, name, reg)
        return nxt
