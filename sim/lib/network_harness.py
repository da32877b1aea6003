"""The simulation top of a whole network.

    i (one pixel per beat) -> Unpack -> Throttle -> Pipeline -> o (class beats)

Python (cocotb) handshakes once per pixel and once per class, so a frame
costs a few hundred wake-ups while the accelerator runs for tens of
thousands of cycles.  The throttle gates the network's one-channel input
on pseudo-random cycles (``in_stall``/256 of them, the LFSR seeded by
``in_seed``: ports, so one compiled simulator serves every stimulus); output back-pressure
comes from the Python monitor (a few beats per frame).  ``cycle`` counts
clock cycles since reset.
"""
from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from rtl_gen import stream as tstream
from rtl_gen.accelerator import class_layout
from sim.lib.fire_harness import Throttle, Unpack

__all__ = ["NetworkHarness"]


class NetworkHarness(wiring.Component):
    def __init__(self, network):
        self.network = network
        self.channels = network.in_shape[2]
        super().__init__({"i": In(tstream.Signature(self.channels)),
                          "o": Out(stream.Signature(class_layout(network.num_classes))),
                          "in_stall": In(8), "in_seed": In(16), "cycle": Out(32)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.network = net = self.network
        m.submodules.unpack = unpack = Unpack(self.channels)
        m.submodules.throttle = throttle = Throttle()
        m.d.comb += [throttle.stall.eq(self.in_stall), throttle.seed.eq(self.in_seed)]
        wiring.connect(m, wiring.flipped(self.i), unpack.i)
        wiring.connect(m, unpack.o, throttle.i)
        wiring.connect(m, throttle.o, net.i)
        wiring.connect(m, net.o, wiring.flipped(self.o))
        m.d.sync += self.cycle.eq(self.cycle + 1)
        return m
