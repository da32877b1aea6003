"""The per-layer pipeline's performance model: MAC lanes, folding and
cycles per frame.  One place, used by the generator (``rtl_gen.pipeline.pipeline``,
``rtl_gen.pipeline.fire``), the fit check, ``report.json`` and the benchmark.

What it models: every block of the pipeline is bound by its busiest
resource per frame, either its one-channel-per-beat streams
(``stream_cycles``) or its MAC lanes (``mac_cycles``: MACs / lanes, and in
the "small" style the serial requantiser's ``CYCLES_PER_VALUE`` per output
value); the pipeline's ``cycles_per_frame`` is the slowest block's.  It is
a **lower bound**: it ignores stalls where a fast block waits for a slow
neighbour (measured: the reference network simulates at 963 536 cycles per
image against 903 168 modelled, +6.7 %).  Every figure this project prints
from it is labelled *model*; simulated figures are labelled *simulated*.
"""
from __future__ import annotations

from dataclasses import dataclass

from golden.layers import AddLayer, ConvLayer, FireLayer, GapLayer, InputLayer, Layer, MaxPoolLayer
from rtl_gen.pipeline.bypass import serial_steps as bypass_steps
from rtl_gen.pipeline.serial_requant import CYCLES_PER_VALUE
from rtl_gen.pipeline.style import Style

__all__ = ["Folding", "divisors", "stream_cycles", "mac_counts", "default_folding", "PipelineModel",
           "pipeline_model"]


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


@dataclass(frozen=True)
class Folding:
    """MAC lanes per unit of a Fire module."""
    squeeze: int = 1
    expand1x1: int = 1
    expand3x3: int = 1

    @property
    def lanes(self) -> int:
        return self.squeeze + self.expand1x1 + self.expand3x3

    @classmethod
    def balanced(cls, cin: int, s1x1: int, e1x1: int, e3x3: int, max_expand3x3: int = 16) -> "Folding":
        """expand3x3 gets the largest divisor of E3 up to ``max_expand3x3``
        lanes; the others the fewest lanes that keep them at least as fast."""
        f3 = max(d for d in divisors(e3x3) if d <= max_expand3x3)
        target = 9 * s1x1 * e3x3 // f3
        return cls(fewest_lanes(cin * s1x1, s1x1, target), fewest_lanes(s1x1 * e1x1, e1x1, target), f3)

    def cycles_per_pixel(self, cin: int, s1x1: int, e1x1: int, e3x3: int) -> dict[str, float]:
        return {"squeeze": cin * s1x1 / self.squeeze, "expand1x1": s1x1 * e1x1 / self.expand1x1,
                "expand3x3": 9 * s1x1 * e3x3 / self.expand3x3, "window": 9 * s1x1, "output": e1x1 + e3x3,
                "input": cin}


def fewest_lanes(macs: int, cout: int, budget: float) -> int:
    """The fewest lanes (a divisor of ``cout``) doing ``macs`` within ``budget`` cycles."""
    fits = [d for d in divisors(cout) if macs / d <= budget]
    return fits[0] if fits else cout


def stream_cycles(bundle, layer: Layer) -> int:
    """Cycles per frame a layer needs whatever its MAC lanes (beats on its
    one-channel-per-beat streams)."""
    h, w, c = layer.shape
    if isinstance(layer, InputLayer):
        return h * w * c
    cin = bundle.in_channels(layer)
    if isinstance(layer, ConvLayer):
        return h * w * max(layer.kernel ** 2 * cin, c)
    if isinstance(layer, MaxPoolLayer):
        if layer.kernel == layer.stride:            # windows apart (2x2/2): every input beat read once
            hi, wi, _ = bundle.in_shape(layer)
            return hi * wi * c
        return h * w * layer.kernel ** 2 * c        # a window beat per cycle
    if isinstance(layer, FireLayer):
        return h * w * max(cin, 9 * layer.s1x1, c)
    return h * w * c                                  # add, gap (its input's map)


def mac_counts(bundle, layer: Layer) -> dict[str, tuple[int, int]]:
    """{unit: (MACs per frame, output channels)} of a layer's MAC units."""
    h, w, c = layer.shape
    hw = h * w
    if isinstance(layer, ConvLayer):
        return {"": (hw * layer.kernel ** 2 * bundle.in_channels(layer) * c, c)}
    if isinstance(layer, FireLayer):
        s = layer.s1x1
        return {"squeeze": (hw * layer.cin * s, s), "expand1x1": (hw * s * layer.e1x1, layer.e1x1),
                "expand3x3": (hw * 9 * s * layer.e3x3, layer.e3x3)}
    if isinstance(layer, AddLayer) and layer.bypass == "complex":
        return {"": (hw * bundle.in_channels(layer) * c, c)}
    return {}


def default_folding(bundle, style: Style = Style.FAST) -> dict:
    """Per MAC layer: lanes (conv, complex bypass) or a ``Folding`` (fire);
    one lane everywhere for the "small" style.  "fast": every unit gets the
    fewest lanes that keep it no slower than the slowest stream-bound stage."""
    budget = max(stream_cycles(bundle, lay) for lay in bundle.layers if not isinstance(lay, GapLayer))
    out = {}
    for lay in bundle.layers:
        units = mac_counts(bundle, lay)
        if not units:
            continue
        lanes = {u: 1 if style == Style.SMALL else fewest_lanes(macs, cout, budget) for u, (macs, cout) in units.items()}
        out[lay.name] = Folding(**lanes) if isinstance(lay, FireLayer) else lanes[""]
    return out


@dataclass(frozen=True)
class PipelineModel:
    """The model's figures for one bundle, folding and style."""
    stream_cycles: dict[str, int]
    mac_cycles: dict[str, int]
    mac_lanes: int
    macs_per_frame: int

    @property
    def cycles_per_frame(self) -> int:
        """Modelled cycles per frame (a lower bound, see the module doc)."""
        return max([*self.stream_cycles.values(), *self.mac_cycles.values()])


def _requantised(layer: Layer) -> bool:
    """Whether a layer's MAC units requantise (the logits conv and the bypass conv do not)."""
    return not isinstance(layer, AddLayer) and not (isinstance(layer, ConvLayer) and layer.logits)


def pipeline_model(bundle, folding: dict, small: bool) -> PipelineModel:
    """``small``: the small style (serial requantisers and bypass adders)."""
    streams = {lay.name: stream_cycles(bundle, lay) for lay in bundle.layers if not isinstance(lay, GapLayer)}
    macs_cycles: dict[str, int] = {}
    lanes_total = macs_total = 0
    for lay in bundle.layers:
        f = folding.get(lay.name)
        h, w, _ = lay.shape
        for unit, (macs, cout) in mac_counts(bundle, lay).items():
            lanes = getattr(f, unit) if unit else f
            lanes_total += lanes
            macs_total += macs
            cycles = macs // lanes
            if small and _requantised(lay):      # the serial requantiser's bound
                cycles = max(cycles, h * w * cout * CYCLES_PER_VALUE)
            macs_cycles[f"{lay.name}.{unit}" if unit else lay.name] = cycles
        if small and isinstance(lay, AddLayer) and lay.bypass == "simple":
            macs_cycles[lay.name] = h * w * lay.shape.c * (bypass_steps(lay.shift) + 2)
    return PipelineModel(streams, macs_cycles, lanes_total, macs_total)
