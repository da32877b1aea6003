"""``Conv``: a k x k convolution + requantisation (conv1, conv10).

    k = 1, stride 1, no padding:  i -> MacArray -> o
    otherwise:                    i -> WindowGenerator (k, stride, padding) -> MacArray(k*k*Cin) -> o

The window generator's im2col stream is in (ky, kx, c) order, so the
weights are reordered to match.  It pads with 0, or, for a conv reading the
image, with the input layer's per-channel ``pad`` (``fill``).  A logits
conv (``raw``: the bundle's ``relu`` false) is not requantised: its output
is the int32 accumulator stream of a ``raw`` MAC array
(``rtl_gen.stream.acc_layout``), which only the classifier reads.  Streams:
``rtl_gen.stream``, one channel per beat.  Latency, throughput and back-pressure are those of the two blocks:
per output pixel max(k*k*Cin [window beats], Cout/lanes * k*k*Cin [MACs],
Cout [output beats]) cycles; ``i.ready`` depends on registers only.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from golden.codebook import Codebook
from golden.intref import padding_fill
from rtl_gen import stream
from rtl_gen.pipeline.block_cost import BlockCost
from rtl_gen.pipeline.mac_array import MacArray, MacParams
from rtl_gen.params import ParamsFirst
from rtl_gen.pipeline.weight_rom import reordered, rom_codebook
from rtl_gen.pipeline.window import WindowGenerator, WindowParams, im2col_order

__all__ = ["Conv", "ConvParams"]


@dataclass(frozen=True, eq=False)
class ConvParams:
    """``weight`` int8 (Cout, Cin, k, k), ``bias``, ``m``, ``shift`` as for
    ``MacArray`` (None with ``raw``), the input ``height`` x ``width``,
    ``stride``, ``padding``, MAC ``lanes``, ``mac_options`` (``MacArray``
    keywords such as ``requant``), the weight's ``codebook`` (None: int8
    weights; indices in the weight's shape), the padding ``fill`` per input
    channel (empty: 0) and ``raw`` (the int32 accumulators out, no
    requantisation).  Checking builds the parameters of the two sub-blocks:
    ``window`` (None for a plain 1x1 conv) and ``mac``."""
    weight: np.ndarray
    bias: np.ndarray
    m: np.ndarray
    shift: int
    height: int
    width: int
    stride: int = 1
    padding: int = 0
    lanes: int = 1
    mac_options: dict | None = None
    codebook: Codebook | None = None
    fill: tuple[int, ...] = ()
    raw: bool = False
    window: WindowParams | None = field(init=False)
    mac: MacParams = field(init=False)

    def __post_init__(self):
        weight = np.asarray(self.weight)
        if weight.ndim != 4 or weight.shape[2] != weight.shape[3]:
            raise ValueError(f"weight must have shape (Cout, Cin, k, k), got {weight.shape}")
        cin, kernel = (int(s) for s in weight.shape[1:3])
        window = None
        if (kernel, self.stride, self.padding) != (1, 1, 0):
            window = WindowParams(cin, self.height, self.width, kernel, self.stride, self.padding, fill=self.fill)
        mac = MacParams(im2col_order(weight), self.bias, self.m, self.shift, self.lanes, **(self.mac_options or {}),
                        raw=self.raw, codebook=reordered(self.codebook, weight, im2col_order))
        object.__setattr__(self, "window", window)
        object.__setattr__(self, "mac", mac)

    @classmethod
    def from_bundle(cls, bundle, layer: str, lanes: int = 1, mac_options: dict | None = None) -> "ConvParams":
        lay = bundle.layer(layer)
        h, w, _ = bundle.in_shape(lay)
        weight, bias = bundle.array(layer, "weight"), bundle.array(layer, "bias")
        m, shift = (None, None) if lay.logits else (bundle.array(layer, "m"), lay.shift)
        fill = padding_fill(bundle, lay)
        return cls(weight, bias, m, shift, h, w, lay.stride, lay.padding, lanes, mac_options,
                   rom_codebook(bundle, layer), fill=() if fill == 0 else fill, raw=lay.logits)


class Conv(wiring.Component, metaclass=ParamsFirst):
    """Arguments: those of ``ConvParams``."""
    Params = ConvParams

    def __init__(self, params: ConvParams):
        self.params = params
        self.cout, self.cin, self.kernel = (int(s) for s in np.asarray(params.weight).shape[:3])
        self.height, self.width, self.stride = params.height, params.width, params.stride
        self.padding, self.lanes = params.padding, params.lanes
        self.window = WindowGenerator(params.window) if params.window is not None else None
        self.mac = MacArray(params.mac)
        # uint8 beats, or a raw array's int32 accumulators
        super().__init__({"i": In(stream.Signature(1)), "o": self.mac.signature.members["o"]})

    @classmethod
    def from_bundle(cls, bundle, layer: str, lanes: int = 1, mac_options: dict | None = None) -> "Conv":
        return cls(ConvParams.from_bundle(bundle, layer, lanes, mac_options))

    def resource_cost(self) -> BlockCost:
        return BlockCost()          # wiring only: the window generator and MAC array carry the logic

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
