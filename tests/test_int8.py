"""The int8 contract's arithmetic as the hardware does it (``rtl_gen.int8``),
against the integer reference's numpy rules."""
import numpy as np
import pytest
from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.sim import Simulator

from golden.bundle_rules import accumulator_bound
from golden.layers import PoolKind
from rtl_gen import int8


@pytest.mark.parametrize("shape", [signed(12), unsigned(11), signed(9), unsigned(8)])
def test_clamp_is_numpy_clip_on_every_value(shape):
    m = Module()
    value, out = Signal(shape), Signal(8)
    m.d.comb += out.eq(int8.clamp_u8(value))
    lo, hi = (-(1 << (shape.width - 1)), 1 << (shape.width - 1)) if shape.signed else (0, 1 << shape.width)
    got = []

    async def bench(ctx):
        for v in range(lo, hi):
            ctx.set(value, v)
            got.append(ctx.get(out))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    assert got == list(np.clip(np.arange(lo, hi), 0, 255))


def test_accumulator_width_holds_its_bound_and_no_more():
    for fan_in, bias in [(1, 0), (9, 0), (129, 0), (576, 12345), (8, 2**20)]:
        bits, bound = int8.acc_bits(fan_in, bias), accumulator_bound(fan_in, bias)
        assert -(1 << (bits - 1)) <= -bound and bound < 1 << (bits - 1) and bound >= 1 << (bits - 3)


def test_rounding_and_argmax_rule():
    assert [int8.rounding(s) for s in (1, 2, 16)] == [1, 2, 32768]
    assert int8.takes_lead(False, False) is False and int8.takes_lead(False, False, True) is True
    assert int8.takes_lead(True, False) is True


def test_the_pool_kinds_are_the_layers():
    assert PoolKind(3, 2, True) in int8.POOL_KINDS and PoolKind(2, 2, False) in int8.POOL_KINDS
    assert str(int8.POOL_KINDS[0]) == "3x3/2 ceil-mode"
