"""The board top (UART RX -> HostLink -> TEST STAND-IN -> UART TX) at the
bit level in Amaranth's simulator: a serial request in, a serial reply out."""
import io
from types import SimpleNamespace

import numpy as np
import pytest
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from fpga import protocol
from fpga.protocol import Result
from fpga.testing import ClassSumStandIn, standin_reference
from fpga.top import BoardTop


def _serial_session(top, requests, divisor, max_cycles=60_000):
    """Send `requests` (bytes each) as 8N1 bits, waiting for each reply;
    return everything decoded from the TX line."""
    sim = Simulator(top)       # elaborates the top, creating top.core
    rx, tx = top.core.rx, top.core.tx
    received = bytearray()
    state = {"quiet": 0}

    async def host_tx(ctx):
        ctx.set(rx, 1)
        await ctx.tick().repeat(10)
        for req in requests:
            for byte in req:
                for bit in [0] + [(byte >> i) & 1 for i in range(8)] + [1]:
                    ctx.set(rx, bit)
                    await ctx.tick().repeat(divisor)
            # Wait for the reply to finish (line quiet for 3 byte times).
            state["quiet"] = 0
            while state["quiet"] < 30 * divisor:
                await ctx.tick()

    async def host_rx(ctx):
        cycles = 0
        prev = 1
        while cycles < max_cycles:
            _, _, line = await ctx.tick().sample(tx)
            cycles += 1
            state["quiet"] = 0 if (line == 0) else state["quiet"] + 1
            if prev == 1 and line == 0:             # start bit: sample mid-bit
                await ctx.tick().repeat(divisor // 2)
                byte = 0
                for i in range(8):
                    await ctx.tick().repeat(divisor)
                    byte |= ctx.get(tx) << i
                await ctx.tick().repeat(divisor)
                assert ctx.get(tx) == 1, "stop bit"
                received.append(byte)
                cycles += 10 * divisor
                state["quiet"] = 0
                line = 1
            prev = line
            if host_done and state["quiet"] > 40 * divisor:
                return

    host_done = False

    async def host_tx_wrapper(ctx):
        nonlocal host_done
        await host_tx(ctx)
        host_done = True

    sim.add_clock(1e-6)
    sim.add_testbench(host_tx_wrapper, background=True)
    sim.add_testbench(host_rx)
    sim.run()
    return bytes(received)


def test_top_serial_round_trip():
    shape, ncls, divisor = (3, 4, 1), 3, 4
    top = BoardTop(ClassSumStandIn(shape, ncls), baud=1_000_000, clock_hz=4e6, timeout_s=0.002)
    img = np.random.default_rng(9).integers(0, 256, shape, dtype=np.uint8)
    bad = bytearray(protocol.encode_request(img.tobytes()))
    bad[-1] ^= 1
    out = _serial_session(top, [protocol.encode_info_request(), bytes(bad),
                                protocol.encode_request(img.tobytes())], divisor)
    port = io.BytesIO(out)
    assert protocol.read_reply(port) == protocol.Info(shape=shape, num_classes=ncls, version=1)    # block RAM: one image
    try:
        protocol.read_reply(port)
        raise AssertionError("bad checksum not reported")
    except protocol.LinkError as e:
        assert "bad checksum" in str(e)
    cls, sums = standin_reference(img, ncls)
    assert protocol.read_reply(port) == Result(cls=cls, sums=tuple(sums))


@pytest.mark.parametrize("accelerator", [
    SimpleNamespace(i=None, o=None, in_shape=(3, 4, 1), num_classes=3),        # the old duck-typed contract
    SimpleNamespace(signature=wiring.Signature({"i": In(1), "o": Out(1)})),
])
def test_top_refuses_what_is_no_accelerator(accelerator):
    """Only an ``rtl_gen.accelerator.AcceleratorSignature`` is a link client,
    refused in one line before anything exists."""
    with pytest.raises(ValueError, match="does not implement rtl_gen.accelerator.AcceleratorSignature"):
        BoardTop(accelerator, baud=1_000_000, clock_hz=4e6)
