"""``Network``: a whole SqueezeNet-family bundle as one streaming accelerator.

Every bundle layer becomes a block, chained as a dataflow pipeline in the
bundle's order (streams: ``rtl_gen.stream``, one channel per beat):

    input -> Conv (conv1) -> MaxPool -> Fire -> [BypassAdd] -> ... -> Conv (conv10) -> Classifier -> o

* ``i``: the image's uint8 pixels, NHWC raster, first/last framing;
* ``o``: per image, one beat per class with its int32 sum and, on the last
  beat, the argmax class (``rtl_gen.classifier``).

A bypass forks the Fire module's input with a ``Broadcast``: one copy feeds
the Fire, the other goes through a FIFO (and, for a complex bypass, a 1x1
conv giving int32 accumulators) to the ``BypassAdd``.

FIFO sizing (why the bypass cannot deadlock): the adder consumes pixel p of
both branches together.  The Fire can emit its output pixel p only after it
has read its input up to pixel p + W + 1 (its 3x3 window reaches one row and
one pixel ahead), and the broadcast can only pass an input beat when the
bypass FIFO has room.  So the FIFO must hold the beats of pixels p ..
p + W + 1 plus the broadcast's one-beat register: a depth of
``(W + 3) * Cin`` beats (+16 of slack) always lets the Fire reach pixel
p + W + 1 while pixel p waits at the FIFO's head.  More buffering in the
Fire itself never hurts; it only lets the FIFO fill less.

Folding: ``default_folding`` gives every MAC unit the fewest lanes that keep
it no slower than the slowest stream-bound stage (window generators emit one
im2col beat per cycle, so a 3x3 max pool on C channels takes 9*C cycles per
output pixel whatever its lanes); a ``folding`` dict overrides it per layer.

Latency: the sum of the blocks' (dominated by the line buffers: about one
input row per 3x3 stage).  Throughput: one image per ``cycles_per_frame``
cycles (the slowest stage), with back-to-back images overlapping in the
pipeline.  Back-pressure: propagates stage by stage from ``o``; every MAC
array and window generator ends the combinational ready path.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from rtl_gen import stream as tstream
from rtl_gen.block_cost import BlockCost
from rtl_gen.broadcast import Broadcast
from rtl_gen.bypass import BypassAdd, BypassParams
from rtl_gen.bypass import serial_steps as bypass_steps
from rtl_gen.classifier import Classifier, ClassifierParams, class_layout
from rtl_gen.conv import Conv, ConvParams
from rtl_gen.fire import Fire, FireParams, Folding
from rtl_gen.mac_array import MacArray, MacParams
from rtl_gen.maxpool import MaxPool, MaxPoolParams
from rtl_gen.params import ParamsFirst
from rtl_gen.serial_requant import CYCLES_PER_VALUE
from rtl_gen.stream_fifo import StreamFifo, StreamFifoParams

__all__ = ["Network", "NetworkParams", "default_folding", "NetworkError", "STYLES"]

# MacArray options per style (see the module docstring)
STYLES = {"fast": {}, "small": {"requant": "serial"}}

SUPPORTED = ("input", "conv", "maxpool", "fire", "add", "gap")


class NetworkError(ValueError):
    """A bundle the generator cannot turn into hardware (names the layer)."""


def _divisors(n):
    return [d for d in range(1, n + 1) if n % d == 0]


def _fewest_lanes(macs_per_frame: int, cout: int, budget: int) -> int:
    for d in _divisors(cout):
        if macs_per_frame / d <= budget:
            return d
    return cout


def stream_cycles(bundle, layer: dict) -> int:
    """Cycles per frame a layer needs whatever its MAC lanes (beats on its
    one-channel-per-beat streams)."""
    kind = layer["kind"]
    h, w, c = layer["shape"]
    if kind == "input":
        return h * w * c
    cin = bundle.layer(layer["inputs"][-1])["shape"][2]
    if kind == "conv":
        return h * w * max(layer["kernel"] ** 2 * cin, c)
    if kind == "maxpool":
        return h * w * 9 * c
    if kind == "fire":
        return h * w * max(cin, 9 * layer["s1x1"], c)
    return h * w * c                                  # add, gap (its input's map)


def mac_counts(bundle, layer: dict) -> dict[str, tuple[int, int]]:
    """{unit: (MACs per frame, output channels)} of a layer's MAC units."""
    if layer["kind"] not in ("conv", "fire", "add"):
        return {}
    h, w, c = layer["shape"]
    cin = bundle.layer(layer["inputs"][-1])["shape"][2]
    hw = h * w
    if layer["kind"] == "conv":
        return {"": (hw * layer["kernel"] ** 2 * cin * c, c)}
    if layer["kind"] == "fire":
        s = layer["s1x1"]
        return {"squeeze": (hw * cin * s, s), "expand1x1": (hw * s * layer["e1x1"], layer["e1x1"]),
                "expand3x3": (hw * 9 * s * layer["e3x3"], layer["e3x3"])}
    if layer["kind"] == "add" and layer["bypass"] == "complex":
        return {"": (hw * cin * c, c)}
    return {}


def default_folding(bundle, style: str = "fast") -> dict:
    """Per MAC layer: lanes (conv, complex bypass) or a ``Folding`` (fire);
    one lane everywhere for the "small" style."""
    budget = max(stream_cycles(bundle, lay) for lay in bundle.layers if lay["kind"] != "gap")
    out = {}
    for lay in bundle.layers:
        units = mac_counts(bundle, lay)
        if not units:
            continue
        lanes = {u: 1 if style == "small" else _fewest_lanes(macs, cout, budget) for u, (macs, cout) in units.items()}
        out[lay["name"]] = Folding(**lanes) if lay["kind"] == "fire" else lanes[""]
    return out


@dataclass(frozen=True)
class NetworkPlan:
    """Every block's checked parameters and the cycle model of a network."""
    blocks: dict            # layer -> (block class, its parameters)
    fifos: dict             # add layer -> StreamFifoParams of its bypass FIFO
    side_convs: dict        # add layer -> MacParams of a complex bypass's 1x1 conv
    consumers: dict         # layer -> the layers reading its output
    folding: dict
    in_shape: tuple
    num_classes: int
    stream_cycles: dict
    mac_lanes: int
    macs_per_frame: int
    mac_cycles: dict
    cycles_per_frame: int


@dataclass(frozen=True, eq=False)
class NetworkParams:
    """``Network``'s parameters: a ``golden.bundle.Bundle``, per-layer
    ``folding`` overrides (see ``default_folding``) and a ``style`` of
    ``STYLES``.  Checking plans the whole network (``plan``); a problem is a
    ``NetworkError`` naming the layer."""
    bundle: object
    folding: dict | None = None
    style: str = "fast"
    plan: NetworkPlan = field(init=False)

    def __post_init__(self):
        try:
            if self.style not in STYLES:
                raise NetworkError(f"style must be one of {', '.join(map(repr, STYLES))}, got {self.style!r}")
            plan = _plan(self.bundle, self.folding, self.style)
        except NetworkError:
            raise
        except (ValueError, KeyError) as e:
            raise NetworkError(f"bundle {self.bundle.name!r}: {e}") from None
        object.__setattr__(self, "plan", plan)


def _consumers(layers) -> dict[str, list[str]]:
    consumers: dict[str, list[str]] = {l["name"]: [] for l in layers}
    for lay in layers:
        if lay["kind"] not in SUPPORTED:
            raise NetworkError(f"layer {lay['name']!r}: kind {lay['kind']!r} is not supported by the generator")
        for src in lay["inputs"]:
            consumers[src].append(lay["name"])
    if layers[-1]["kind"] != "gap":
        raise NetworkError(f"layer {layers[-1]['name']!r}: the network must end in a 'gap' layer "
                           f"(got {layers[-1]['kind']!r})")
    return consumers


def _plan(bundle, folding, style) -> NetworkPlan:
    layers = bundle.layers
    consumers = _consumers(layers)
    folding = {**default_folding(bundle, style), **(folding or {})}
    blocks, fifos, side_convs = {}, {}, {}
    for lay in layers:
        name, users = lay["name"], consumers[lay["name"]]
        if len(users) > 2 or (len(users) == 2 and not _is_bypass_fork(bundle, name, users)):
            raise NetworkError(f"layer {name!r}: its output feeds {users}; the generator supports one "
                               "consumer, or a Fire module plus that Fire's bypass")
        if not users and lay["kind"] != "gap":
            raise NetworkError(f"layer {name!r}: its output is not used")
        try:
            if lay["kind"] != "input":
                blocks[name] = _layer_block(bundle, lay, folding, style)
            if lay["kind"] == "add":
                fifos[name], side_convs[name] = _bypass_side(bundle, lay, folding)
        except NetworkError:
            raise
        except ValueError as e:
            raise NetworkError(f"layer {name!r}: {e}") from None
    return NetworkPlan(blocks, fifos, {k: v for k, v in side_convs.items() if v is not None}, consumers, folding,
                       tuple(layers[0]["shape"]), layers[-1]["shape"][2], **_cycle_model(bundle, folding, style))


def _layer_block(bundle, lay, folding, style) -> tuple[type, object]:
    """(block class, its parameters) of one layer."""
    name, kind, opts, small = lay["name"], lay["kind"], STYLES[style], style == "small"
    if kind == "conv":
        return Conv, ConvParams.from_bundle(bundle, name, folding.get(name, 1), opts)
    if kind == "maxpool":
        h, w, c = bundle.layer(lay["inputs"][0])["shape"]
        return MaxPool, MaxPoolParams(c, h, w, rows=3 if small else None)
    if kind == "fire":
        return Fire, FireParams.from_bundle(bundle, name, folding.get(name), opts)
    if kind == "add":
        return BypassAdd, BypassParams.from_bundle(bundle, name, serial=small)
    h, w, c = bundle.layer(lay["inputs"][0])["shape"]          # gap
    return Classifier, ClassifierParams(c, h, w)


def _is_bypass_fork(bundle, name, users):
    kinds = sorted(bundle.layer(u)["kind"] for u in users)
    if kinds != ["add", "fire"]:
        return False
    add = bundle.layer(next(u for u in users if bundle.layer(u)["kind"] == "add"))
    fire = next(u for u in users if bundle.layer(u)["kind"] == "fire")
    return add["inputs"] == [fire, name]


def _bypass_side(bundle, lay, folding) -> tuple[StreamFifoParams, MacParams | None]:
    """The bypass FIFO's parameters and, for a complex bypass, its 1x1 conv's."""
    name = lay["name"]
    fire_name, src = lay["inputs"]
    if bundle.layer(fire_name)["kind"] != "fire" or bundle.layer(fire_name)["inputs"] != [src]:
        raise NetworkError(f"layer {name!r}: a bypass must add a Fire module's output to that Fire's input")
    h, w, cin = bundle.layer(src)["shape"]
    # BypassAdd frames by the Fire side; a simple bypass needs only the data bytes
    fifo = StreamFifoParams(tstream.beat_layout(1), (w + 3) * cin + 16,
                            fields=("data",) if lay["bypass"] == "simple" else None)
    if lay["bypass"] != "complex":
        return fifo, None
    weight = bundle.array(name, "weight")[:, :, 0, 0]
    return fifo, MacParams(weight, bundle.array(name, "bias"), None, None, folding.get(name, 1), raw=True)


def _cycle_model(bundle, folding, style) -> dict:
    """MAC lanes, MACs and cycles per frame (``NetworkPlan`` fields)."""
    small = style == "small"
    layers = bundle.layers
    bounds = {l["name"]: stream_cycles(bundle, l) for l in layers if l["kind"] != "gap"}
    mac_lanes = macs_per_frame = 0
    mac_cycles = {}
    for lay in layers:
        f = folding.get(lay["name"])
        h, w, _ = lay["shape"]
        for unit, (macs, cout) in mac_counts(bundle, lay).items():
            lanes = getattr(f, unit) if unit else f
            mac_lanes += lanes
            macs_per_frame += macs
            cycles = macs // lanes
            if small and lay["kind"] != "add":      # the serial requantiser's bound
                cycles = max(cycles, h * w * cout * CYCLES_PER_VALUE)
            mac_cycles[f"{lay['name']}.{unit}" if unit else lay["name"]] = cycles
        if small and lay["kind"] == "add" and lay["bypass"] == "simple":
            mac_cycles[lay["name"]] = h * w * lay["shape"][2] * (bypass_steps(lay["shift"]) + 2)
    return {"stream_cycles": bounds, "mac_lanes": mac_lanes, "macs_per_frame": macs_per_frame,
            "mac_cycles": mac_cycles, "cycles_per_frame": max([*bounds.values(), *mac_cycles.values()])}


class Network(wiring.Component, metaclass=ParamsFirst):
    """Arguments: those of ``NetworkParams``."""
    Params = NetworkParams

    def __init__(self, params: NetworkParams):
        self.params = params
        plan = params.plan
        self.bundle, self.style, self.folding = params.bundle, params.style, plan.folding
        self.blocks = {name: block(p) for name, (block, p) in plan.blocks.items()}
        self.fifos = {name: StreamFifo(p) for name, p in plan.fifos.items()}
        self.side_convs = {name: MacArray(p) for name, p in plan.side_convs.items()}
        self.forks = {name: Broadcast() for name in plan.fifos}
        self.consumers = plan.consumers
        self.in_shape, self.num_classes = plan.in_shape, plan.num_classes
        self.stream_cycles, self.mac_cycles = plan.stream_cycles, plan.mac_cycles
        self.mac_lanes, self.macs_per_frame = plan.mac_lanes, plan.macs_per_frame
        self.cycles_per_frame = plan.cycles_per_frame
        super().__init__({"i": In(tstream.Signature(1)),
                          "o": Out(stream.Signature(class_layout(self.num_classes)))})

    def resource_cost(self) -> BlockCost:
        return BlockCost()          # wiring only: its blocks carry the logic

    def elaborate(self, platform):
        m = Module()
        outputs = {"input": wiring.flipped(self.i)}     # layer -> its output stream
        for lay in self.bundle.layers[1:]:
            name, kind = lay["name"], lay["kind"]
            block = self.blocks[name]
            m.submodules[name] = block
            if kind == "add":
                fire_name, src = lay["inputs"]
                m.submodules[f"{name}_fifo"] = fifo = self.fifos[name]
                wiring.connect(m, outputs.pop(fire_name), block.a)
                wiring.connect(m, outputs.pop(f"{src}>bypass"), fifo.i)
                if name in self.side_convs:
                    m.submodules[f"{name}_conv"] = conv = self.side_convs[name]
                    wiring.connect(m, fifo.o, conv.i)
                    wiring.connect(m, conv.o, block.b)
                else:
                    wiring.connect(m, fifo.o, block.b)
            else:
                src = lay["inputs"][0]
                if len(self.consumers[src]) == 2:          # fork the Fire's input for its bypass
                    add = next(u for u in self.consumers[src] if u != name)
                    m.submodules[f"{add}_fork"] = fork = self.forks[add]
                    wiring.connect(m, outputs.pop(src), fork.i)
                    wiring.connect(m, fork.a, block.i)
                    outputs[f"{src}>bypass"] = fork.b
                else:
                    wiring.connect(m, outputs.pop(src), block.i)
            outputs[name] = block.o
        wiring.connect(m, outputs.pop(self.bundle.layers[-1]["name"]), wiring.flipped(self.o))
        assert not outputs, f"unconnected streams: {list(outputs)}"
        return m
