"""The engine's write-back: each lane sum to its uint8 output value.

Per value, in a pipeline (``docs/int8.md`` §2 and §4):

1. ``v = sum + bias[c]``, with the channel's constants read from the
   channel-constant ROM (``bias``, ``m``, ``m_a``, ``m_b``) and, for a bypass
   add, the side map's value at the output's own address;
2. ``prod = v * m``;
3. ``r = clamp((prod + 2**(shift-1)) >> shift, 0, 255)``;
4. a bypass add: simple ``s = r*m_a + side*m_b``, complex (this pass is the
   bypass conv, ``m`` holding ``m_b``) ``s = side*m_a + prod``; then
   ``clamp((s + 2**(add_shift-1)) >> add_shift, 0, 255)``.

It also keeps the output pixel pointer (``dst_c`` bytes per pixel of the
pass's output map, reset at each group's first pixel) and gives each value
its address in the unpooled output map, which is also its address in the
side map (same height, width and channels).

Latency: ``LATENCY`` cycles from ``i`` to ``o``.  Throughput: one value per
cycle.  Back-pressure: none.
"""
from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from rtl_gen.engine.descriptor import ADD_COMPLEX, ADD_NONE
from rtl_gen.engine.lanes import value_layout

__all__ = ["WriteBack", "const_layout", "out_layout", "clamp_u8"]

LATENCY = 6


def const_layout(bias_bits: int) -> data.StructLayout:
    return data.StructLayout({"bias": signed(bias_bits), "m": unsigned(16), "m_a": unsigned(16),
                              "m_b": unsigned(16)})


def out_layout(meta: data.StructLayout, c_bits: int, addr_bits: int) -> data.StructLayout:
    return data.StructLayout({"valid": 1, "y": unsigned(8), "c": unsigned(c_bits), "lane": range(16),
                              "meta": meta, "addr": unsigned(addr_bits)})


def clamp_u8(value):
    return Mux(value < 0, 0, Mux(value > 255, 255, value[:8]))


def rounded_shift(value, shift):
    """``(value + 2**(shift-1)) >> shift`` (floor), shift >= 1."""
    return (value + (Const(1, 1) << (shift - 1).as_unsigned())) >> shift


class WriteBack(wiring.Component):
    """``constants``: the channel-constant ROM's rows (dicts of
    ``const_layout``); ``side_addr``/``side_data``: the side map's read
    port (data one cycle after the address)."""

    def __init__(self, desc: data.StructLayout, acc_bits: int, meta: data.StructLayout, addr_bits: int,
                 constants: list[dict], bias_bits: int):
        self.desc_layout, self.acc_bits, self.meta_layout = desc, acc_bits, meta
        self.addr_bits, self.bias_bits = addr_bits, bias_bits
        self.c_bits = max(1, (len(constants) - 1).bit_length())
        self.constants = constants
        super().__init__({"desc": In(desc), "i": In(value_layout(acc_bits, meta)),
                          "side_addr": Out(addr_bits), "side_data": In(8),
                          "o": Out(out_layout(meta, self.c_bits, addr_bits))})

    def elaborate(self, platform):
        m = Module()
        rom = Memory(shape=const_layout(self.bias_bits), depth=len(self.constants), init=self.constants)
        m.submodules.constants = rom
        port = rom.read_port()
        s1 = self._address(m, port)
        s2 = self._bias(m, s1, port)
        s3 = self._stage(m, s2, prod=s2.v * s2.k.m)
        s4 = self._stage(m, s3, r=clamp_u8(rounded_shift(s3.prod, self.desc.shift)))
        s5 = self._stage(m, s4, s=self._add_sum(s4))
        d = self.desc
        y = Mux(d.add_kind == ADD_NONE, s5.r, clamp_u8(rounded_shift(s5.s, d.add_shift)))
        o = self.o
        m.d.sync += [o.valid.eq(s5.valid), o.y.eq(y), o.c.eq(s5.c), o.lane.eq(s5.lane), o.meta.eq(s5.meta),
                     o.addr.eq(s5.addr)]
        return m

    def _address(self, m, port):
        d, i = self.desc, self.i
        ptr = Signal(self.addr_bits)
        pixel = i.valid & (i.lane == 0)
        ptr_now = Mux(pixel, Mux(i.meta.gfirst, 0, ptr + d.dst_c), ptr)
        with m.If(pixel):
            m.d.sync += ptr.eq(ptr_now)
        c = (i.meta.g << 4) | i.lane
        addr = ptr_now + d.c_off + c
        m.d.comb += [port.addr.eq(d.c_base + c), self.side_addr.eq(addr)]
        return self._stage(m, _Stage(valid=i.valid, lane=i.lane, meta=i.meta, c=c), v=i.value, addr=addr)

    def _bias(self, m, s1, port):
        s2 = self._stage(m, s1, v=s1.v + port.data.bias, side=self.side_data)
        s2.k = Signal.like(port.data)
        m.d.sync += s2.k.eq(port.data)
        return s2

    def _add_sum(self, s4):
        complex_ = self.desc.add_kind == ADD_COMPLEX
        x1 = Mux(complex_, s4.side, s4.r)
        x2 = Mux(complex_, 0, s4.side)
        return Mux(complex_, s4.prod, 0) + x1 * s4.k.m_a + x2 * s4.k.m_b

    def _stage(self, m, prev, **new):
        """The next pipeline stage: ``prev``'s fields (and ``new`` ones)
        registered one cycle later."""
        nxt = _Stage()
        values = {**{k: v for k, v in vars(prev).items()}, **new}
        for name, value in values.items():
            reg = Signal.like(value, name=f"wb_{name}") if not isinstance(value, int) else Signal(name=f"wb_{name}")
            m.d.sync += reg.eq(value)
            setattr(nxt, name, reg)
        return nxt


class _Stage:
    def __init__(self, **fields):
        self.__dict__.update(fields)
