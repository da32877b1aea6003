"""A pipelined multiplier in fabric: ``p = a * b``, ``a`` signed, ``b``
unsigned, for the write-back's requantisation (all DSPs are MAC lanes).

The partial products ``a`` or 0 (bit j of ``b``), weighted ``2**j``, are
summed pairwise in a balanced tree with a register after every level, so
each cycle holds one carry chain of at most the product's width (on the
iCE40, about 12 ns for 43 bits) instead of a whole multiplier.

Latency: ``latency`` = ceil(log2(width of b)) cycles (at least 1).
Throughput: one product per cycle.  Back-pressure: none.
"""
from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.params import ParamsFirst, check_int

__all__ = ["TreeMul", "tree_latency"]


def tree_latency(b_bits: int) -> int:
    return max(1, (b_bits - 1).bit_length())


@dataclass(frozen=True)
class TreeMulParams:
    """``TreeMul``'s parameters: the signed ``a``'s and the unsigned ``b``'s widths."""
    a_bits: int
    b_bits: int

    def __post_init__(self):
        check_int("a_bits", self.a_bits, 1)
        check_int("b_bits", self.b_bits, 1)


class TreeMul(wiring.Component, metaclass=ParamsFirst):
    """Arguments: those of ``TreeMulParams``."""
    Params = TreeMulParams

    def __init__(self, params: TreeMulParams):
        a_bits, b_bits = self.a_bits, self.b_bits = params.a_bits, params.b_bits
        self.latency = tree_latency(b_bits)
        super().__init__({"a": In(signed(a_bits)), "b": In(b_bits), "p": Out(signed(a_bits + b_bits))})

    def elaborate(self, platform):
        m = Module()
        # (value, weight exponent) of each term still to add
        terms = [(Mux(self.b[j], self.a, 0), j) for j in range(self.b_bits)]
        for level in range(self.latency):
            pairs = [terms[i:i + 2] for i in range(0, len(terms), 2)]
            terms = []
            for k, pair in enumerate(pairs):
                base = pair[0][1]
                total = sum((value << (weight - base) for value, weight in pair), start=0)
                reg = Signal(signed(self.a_bits + self.b_bits - base), name=f"l{level}_{k}")
                m.d.sync += reg.eq(total)
                terms.append((reg, base))
        (value, weight), = terms
        m.d.comb += self.p.eq(value << weight)
        return m
