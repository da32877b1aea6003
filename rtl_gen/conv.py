"""``Conv``: a k x k convolution + requantisation (conv1, conv10).

    k = 1, stride 1, no padding:  i -> MacArray -> o
    otherwise:                    i -> WindowGenerator (k, stride, padding) -> MacArray(k*k*Cin) -> o

The window generator's im2col stream is in (ky, kx, c) order, so the
weights are reordered to match.  Streams: ``rtl_gen.stream``, one channel per
beat.  Latency, throughput and back-pressure are those of the two blocks:
per output pixel max(k*k*Cin [window beats], Cout/lanes * k*k*Cin [MACs],
Cout [output beats]) cycles; ``i.ready`` depends on registers only.
"""
from __future__ import annotations

import numpy as np
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from rtl_gen import stream
from rtl_gen.mac_array import MacArray
from rtl_gen.window import WindowGenerator

__all__ = ["Conv"]


class Conv(wiring.Component):
    def __init__(self, weight, bias, m, shift: int, height: int, width: int, stride: int = 1,
                 padding: int = 0, lanes: int = 1, mac_options: dict | None = None):
        weight = np.asarray(weight)
        try:
            if weight.ndim != 4 or weight.shape[2] != weight.shape[3]:
                raise ValueError(f"weight must have shape (Cout, Cin, k, k), got {weight.shape}")
            self.cout, self.cin, self.kernel = (int(s) for s in weight.shape[:3])
            self.window = None
            if (self.kernel, stride, padding) != (1, 1, 0):
                self.window = WindowGenerator(self.cin, height, width, self.kernel, stride, padding)
            flat = weight.transpose(0, 2, 3, 1).reshape(self.cout, -1)     # (ky, kx, c) order
            self.mac = MacArray(flat, bias, m, shift, lanes, **(mac_options or {}))
        except ValueError:
            self._MustUse__silence = True
            raise
        self.height, self.width, self.stride, self.padding, self.lanes = height, width, stride, padding, lanes
        super().__init__({"i": In(stream.Signature(1)), "o": Out(stream.Signature(1))})

    @classmethod
    def from_bundle(cls, bundle, layer: str, lanes: int = 1, mac_options: dict | None = None) -> "Conv":
        lay = bundle.layer(layer)
        h, w, _ = bundle.in_shape(lay)
        return cls(*bundle.conv(layer), h, w, lay.stride, lay.padding, lanes, mac_options)

    def elaborate(self, platform):
        m = Module()
        m.submodules.mac = self.mac
        if self.window is None:
            wiring.connect(m, wiring.flipped(self.i), self.mac.i)
        else:
            m.submodules.window = self.window
            wiring.connect(m, wiring.flipped(self.i), self.window.i)
            wiring.connect(m, self.window.o, self.mac.i)
        wiring.connect(m, self.mac.o, wiring.flipped(self.o))
        return m
