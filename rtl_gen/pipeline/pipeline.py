"""``Pipeline``: a whole SqueezeNet-family bundle as one streaming accelerator.

Every bundle layer becomes a block, chained as a dataflow pipeline in the
bundle's order (streams: ``rtl_gen.stream``, one channel per beat):

    input -> Conv (conv1) -> MaxPool3x3 -> Fire -> [BypassAdd] -> ... -> Conv (conv10) -> Classifier -> o

Max pools: 3x3/2 ceil mode (``MaxPool3x3``: window generator + max) or 2x2/2
floor mode (``MaxPool2x2``: one row buffer).  A conv reading the image pads
with the input layer's ``pad`` (``golden.intref.padding_fill``).  A logits
conv (``relu`` false) sends its int32 accumulators, which the classifier
sums signed.

* ``i``: the image's uint8 pixels, NHWC raster, first/last framing;
* ``o``: per image, one beat per class with its int32 sum and, on the last
  beat, the argmax class (``rtl_gen.pipeline.classifier``).

Weights: a layer (or Fire part, or complex bypass conv) that the bundle
codes with a codebook of fewer than 8 bits gets an index ROM and a decoder
per lane (``rtl_gen.pipeline.weight_rom``, no cycle lost); every other weight an
int8 ROM, so a bundle without codebooks gives the same hardware as before.

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
from amaranth.lib import wiring

from golden.layers import ConvLayer, GapLayer, MaxPoolLayer
from rtl_gen import stream as tstream
from rtl_gen.accelerator import AcceleratorSignature
from rtl_gen.int8 import POOL_KINDS
from rtl_gen.pipeline.block_cost import BlockCost
from rtl_gen.pipeline.broadcast import Broadcast
from rtl_gen.pipeline.bypass import BypassAdd, BypassParams
from rtl_gen.pipeline.classifier import Classifier, ClassifierParams
from rtl_gen.pipeline.conv import Conv, ConvParams
from rtl_gen.pipeline.fire import Fire, FireParams
from rtl_gen.pipeline.mac_array import MacArray, MacParams, Requant
from rtl_gen.pipeline.maxpool3x3 import MaxPool3x3, MaxPool3x3Params
from rtl_gen.pipeline.maxpool2x2 import MaxPool2x2, MaxPool2x2Params
from rtl_gen.params import ParamsFirst, check_choice
from rtl_gen.pipeline.cycle_model import PipelineModel, default_folding, pipeline_model
from rtl_gen.pipeline.stream_fifo import StreamFifo, StreamFifoParams
from rtl_gen.pipeline.style import Style
from rtl_gen.pipeline.weight_rom import reordered, rom_codebook
from rtl_gen.pipeline.window import im2col_order

__all__ = ["Pipeline", "PipelineParams", "default_folding", "PipelineError", "STYLES", "Style"]

# MacArray options per style (see the module docstring)
STYLES = {Style.FAST: {}, Style.SMALL: {"requant": Requant.SERIAL}}

# Every layer kind of the bundle format (golden.layers) has a block, and each
# max pool of the contract (rtl_gen.int8.POOL_KINDS) has one (its ``KIND``).


class PipelineError(ValueError):
    """A bundle the generator cannot turn into hardware (names the layer)."""


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
    model: PipelineModel    # the performance model's figures (rtl_gen.pipeline.cycle_model)


@dataclass(frozen=True, eq=False)
class PipelineParams:
    """``Pipeline``'s parameters: a ``golden.bundle.Bundle``, per-layer
    ``folding`` overrides (see ``default_folding``) and a ``style`` of
    ``Style`` (or its name).  Checking plans the whole network (``plan``); a problem is a
    ``PipelineError`` naming the layer."""
    bundle: object
    folding: dict | None = None
    style: Style = Style.FAST
    plan: NetworkPlan = field(init=False)

    def __post_init__(self):
        try:
            try:
                object.__setattr__(self, "style", check_choice("style", self.style, Style))
            except ValueError as e:
                raise PipelineError(str(e)) from None
            plan = _plan(self.bundle, self.folding, self.style)
        except PipelineError:
            raise
        except (ValueError, KeyError) as e:
            raise PipelineError(f"bundle {self.bundle.name!r}: {e}") from None
        object.__setattr__(self, "plan", plan)


def _consumers(layers) -> dict[str, list[str]]:
    consumers: dict[str, list[str]] = {lay.name: [] for lay in layers}
    for lay in layers:
        if isinstance(lay, MaxPoolLayer) and lay.pool_kind not in POOL_KINDS:
            raise PipelineError(f"layer {lay.name!r}: a {lay.pool_kind} max pool; the generator supports "
                                + " and ".join(map(str, POOL_KINDS)))
        for src in lay.inputs:
            consumers[src].append(lay.name)
    if not isinstance(layers[-1], GapLayer):
        raise PipelineError(f"layer {layers[-1].name!r}: the network must end in a 'gap' layer "
                           f"(got {layers[-1].kind!r})")
    return consumers


def _plan(bundle, folding, style) -> NetworkPlan:
    layers = bundle.layers
    consumers = _consumers(layers)
    folding = {**default_folding(bundle, style), **(folding or {})}
    blocks, fifos, side_convs = {}, {}, {}
    for lay in layers:
        name, users = lay.name, consumers[lay.name]
        if len(users) > 2 or (len(users) == 2 and not _is_bypass_fork(bundle, name, users)):
            raise PipelineError(f"layer {name!r}: its output feeds {users}; the generator supports one "
                               "consumer, or a Fire module plus that Fire's bypass")
        if not users and lay.kind != "gap":
            raise PipelineError(f"layer {name!r}: its output is not used")
        try:
            if lay.kind != "input":
                blocks[name] = _layer_block(bundle, lay, folding, style, blocks)
            if lay.kind == "add":
                fifos[name], side_convs[name] = _bypass_side(bundle, lay, folding)
        except PipelineError:
            raise
        except ValueError as e:
            raise PipelineError(f"layer {name!r}: {e}") from None
    return NetworkPlan(blocks, fifos, {k: v for k, v in side_convs.items() if v is not None}, consumers, folding,
                       tuple(layers[0].shape), layers[-1].shape.c, pipeline_model(bundle, folding, style == Style.SMALL))


def _layer_block(bundle, lay, folding, style, planned) -> tuple[type, object]:
    """(block class, its parameters) of one layer (``planned``: the earlier layers')."""
    name, kind, opts, small = lay.name, lay.kind, STYLES[style], style == Style.SMALL
    if kind == "conv":
        return Conv, ConvParams.from_bundle(bundle, name, folding.get(name, 1), opts)
    if kind == "maxpool":
        h, w, c = bundle.in_shape(lay)
        if lay.pool_kind == MaxPool2x2Params.KIND:
            return MaxPool2x2, MaxPool2x2Params(c, h, w, block_ram=small)
        return MaxPool3x3, MaxPool3x3Params(c, h, w, rows=3 if small else None)
    if kind == "fire":
        return Fire, FireParams.from_bundle(bundle, name, folding.get(name), opts)
    if kind == "add":
        return BypassAdd, BypassParams.from_bundle(bundle, name, serial=small)
    h, w, c = bundle.in_shape(lay)          # gap
    source = bundle.layer(lay.source)
    # a logits conv sends its accumulators, as wide as its MAC array makes them
    acc_bits = planned[source.name][1].mac.acc_bits if isinstance(source, ConvLayer) and source.logits else None
    return Classifier, ClassifierParams(c, h, w, acc_bits)


def _is_bypass_fork(bundle, name, users):
    kinds = sorted(bundle.layer(u).kind for u in users)
    if kinds != ["add", "fire"]:
        return False
    add = bundle.layer(next(u for u in users if bundle.layer(u).kind == "add"))
    fire = next(u for u in users if bundle.layer(u).kind == "fire")
    return add.inputs == (fire, name)


def _bypass_side(bundle, lay, folding) -> tuple[StreamFifoParams, MacParams | None]:
    """The bypass FIFO's parameters and, for a complex bypass, its 1x1 conv's."""
    name = lay.name
    fire_name, src = lay.inputs
    if bundle.layer(fire_name).kind != "fire" or bundle.layer(fire_name).inputs != (src,):
        raise PipelineError(f"layer {name!r}: a bypass must add a Fire module's output to that Fire's input")
    h, w, cin = bundle.layer(src).shape
    # BypassAdd frames by the Fire side; a simple bypass needs only the data bytes
    fifo = StreamFifoParams(tstream.beat_layout(1), (w + 3) * cin + 16,
                            fields=("data",) if lay.bypass == "simple" else None)
    if lay.bypass != "complex":
        return fifo, None
    weight = bundle.array(name, "weight")
    codebook = reordered(rom_codebook(bundle, name), weight, im2col_order)
    return fifo, MacParams(im2col_order(weight), bundle.array(name, "bias"), None, None, folding.get(name, 1),
                           raw=True, codebook=codebook)


class Pipeline(wiring.Component, metaclass=ParamsFirst):
    """Arguments: those of ``PipelineParams``."""
    Params = PipelineParams

    def __init__(self, params: PipelineParams):
        self.params = params
        plan = params.plan
        self.bundle, self.style, self.folding = params.bundle, params.style, plan.folding
        self.blocks = {name: block(p) for name, (block, p) in plan.blocks.items()}
        self.fifos = {name: StreamFifo(p) for name, p in plan.fifos.items()}
        self.side_convs = {name: MacArray(p) for name, p in plan.side_convs.items()}
        self.forks = {name: Broadcast() for name in plan.fifos}
        self.consumers = plan.consumers
        self.in_shape, self.num_classes = plan.in_shape, plan.num_classes
        self.model = plan.model
        self.stream_cycles, self.mac_cycles = plan.model.stream_cycles, plan.model.mac_cycles
        self.mac_lanes, self.macs_per_frame = plan.model.mac_lanes, plan.model.macs_per_frame
        self.cycles_per_frame = plan.model.cycles_per_frame       # the model's (a lower bound)
        super().__init__(AcceleratorSignature(self.in_shape, self.num_classes))

    def resource_cost(self) -> BlockCost:
        return BlockCost()          # wiring only: its blocks carry the logic

    def elaborate(self, platform):
        m = Module()
        outputs = {"input": wiring.flipped(self.i)}     # layer -> its output stream
        for lay in self.bundle.layers[1:]:
            name, kind = lay.name, lay.kind
            block = self.blocks[name]
            m.submodules[name] = block
            if kind == "add":
                fire_name, src = lay.inputs
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
                src = lay.inputs[0]
                if len(self.consumers[src]) == 2:          # fork the Fire's input for its bypass
                    add = next(u for u in self.consumers[src] if u != name)
                    m.submodules[f"{add}_fork"] = fork = self.forks[add]
                    wiring.connect(m, outputs.pop(src), fork.i)
                    wiring.connect(m, fork.a, block.i)
                    outputs[f"{src}>bypass"] = fork.b
                else:
                    wiring.connect(m, outputs.pop(src), block.i)
            outputs[name] = block.o
        wiring.connect(m, outputs.pop(self.bundle.output.name), wiring.flipped(self.o))
        assert not outputs, f"unconnected streams: {list(outputs)}"
        return m
