"""The Fire engine's program: a network as a list of passes over feature
maps in RAM banks (torch-free; made from a ``golden.bundle.Bundle``).

Every MAC layer becomes one *pass* of one generic convolution: the
program's ``lanes`` MAC lanes (a parameter, ``DEFAULT_LANES`` = 16) compute
that many output channels of one output pixel at a time, reading one
activation per cycle from the source map and one weight per lane from their
own ROM.  What the pipeline does as separate layers happens on the pass's
write-back path (``docs/engine.md``):

* requantisation of every value (``docs/int8.md`` §2);
* a bypass add (§4): *simple* -- the requantised value plus the bypass map's
  value at the same place; *complex* -- the pass IS the bypass 1x1 conv and
  adds the Fire's output read from its map;
* a max pool of the values written (§5): 3x3/2 ceil mode or 2x2/2 floor
  mode, one kind per program (``pool_kind``: the pool is built for it);
* the global sum pool (the classifier: no map is written), of the uint8
  values or, after a logits conv, of its int32 accumulators.

A conv reading the image pads with the input layer's per-channel ``pad``
(``fill``); every other padding is 0.

So a Fire module is three passes (squeeze, expand1x1, expand3x3; the two
expands write their channel ranges of one map: the concat is an address
layout), plus one for a complex bypass.  Layers that cannot be fused into a
neighbour's write-back (a pool or add whose input has other readers, a pool
of the input image) become an *identity pass*: a 1x1 conv with the identity
matrix and ``M = 2, shift = 1``, which requantises ``x`` to ``x`` exactly.

Maps are placed in banks (``bank_of``): each map has a bank to itself while
it lives, and the maps a pass reads and writes are always in different banks
(so a single-port RAM such as the UP5K's SPRAM serves each bank).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from golden.codebook import Codebook
from golden.layers import AddLayer, ConvLayer, FireLayer, GapLayer, InputLayer, Layer, MaxPoolLayer
from golden.shapes import output_size
from rtl_gen.int8 import POOL_KINDS, PoolKind
from rtl_gen.params import WeightShape

__all__ = ["DEFAULT_LANES", "MIN_LANES", "MAX_LANES", "MIN_PERIOD", "AddStep", "EnginePass", "EngineProgram",
           "ProgramError", "check_lanes", "lane_index", "plan_program"]

DEFAULT_LANES = 16  # MAC lanes (output channels computed at once) unless asked otherwise: the UP5K's 8 SB_MAC16
MIN_LANES, MAX_LANES = 2, 64
MIN_PERIOD = 4      # cycles per output pixel at least (write-back read-modify-write spacing)


class ProgramError(ValueError):
    """A bundle the engine cannot run (one line naming the layer)."""


def check_lanes(lanes) -> int:
    """``lanes`` if it is an even integer from ``MIN_LANES`` to ``MAX_LANES``
    (each ``DualMult`` gives a pair of lanes), else ``ProgramError``."""
    if not isinstance(lanes, int) or isinstance(lanes, bool) or lanes % 2 or not MIN_LANES <= lanes <= MAX_LANES:
        raise ProgramError(f"lanes must be an even integer from {MIN_LANES} to {MAX_LANES} "
                           f"(a DualMult makes a pair of lanes), got {lanes!r}")
    return lanes


def lane_index(group, lane, lanes: int):
    """``group * lanes + lane`` (Amaranth values or ints): for a power of two
    the lane's bits below the group's, no adder; else shifted copies of
    ``group`` added, no ``*`` (which Yosys could map to a DSP: all of them
    are MAC lanes)."""
    if lanes & (lanes - 1) == 0:
        return (group << (lanes.bit_length() - 1)) | lane
    total = lane
    for k in range(lanes.bit_length()):
        if lanes >> k & 1:
            total = total + (group << k)
    return total


@dataclass(frozen=True)
class AddStep:
    """A bypass add on the write-back: ``kind`` 'simple' or 'complex',
    ``side`` the map read at the output's own position, ``shift`` the add's
    and ``m_a``/``m_b`` its per-channel multipliers (``docs/int8.md`` §4)."""
    kind: str
    side: str
    shift: int
    m_a: np.ndarray
    m_b: np.ndarray


@dataclass(frozen=True, eq=False)
class EnginePass(WeightShape):
    """One generic convolution ``src -> dst`` and its write-back."""
    name: str
    src: str
    weight: np.ndarray          # int8 (cout, cin, k, k)
    bias: np.ndarray            # int32 (cout,)
    m: np.ndarray               # uint16 (cout,)
    shift: int
    stride: int
    padding: int
    dst: str | None             # None: the pass feeds the global sum pool
    c_offset: int = 0           # first channel of dst this pass writes
    add: AddStep | None = None
    pool: bool = False
    codebook: Codebook | None = None    # the bundle's shared weights of the layer, if any
    fill: bool = False          # pads with the input layer's ``pad`` (a conv reading the image), not 0
    logits: bool = False        # its values are the accumulators (no requantisation), for the gap
    lanes: int = DEFAULT_LANES  # the engine's MAC lanes (``plan_program``)

    @property
    def taps(self) -> int:
        """K: MAC cycles per output pixel and lane."""
        return self.kernel * self.kernel * self.cin

    @property
    def groups(self) -> int:
        """Output-channel groups: ``lanes`` channels each, the last maybe fewer."""
        return -(-self.cout // self.lanes)

    @property
    def period(self) -> int:
        """Cycles per output pixel: the taps, but at least the values the
        write-back takes (one per cycle) and ``MIN_PERIOD``."""
        return max(self.taps, min(self.cout, self.lanes), MIN_PERIOD)

    @property
    def last_lanes(self) -> int:
        """The lanes holding channels in the last group."""
        return self.cout - self.lanes * (self.groups - 1)

    @property
    def gap(self) -> bool:
        return self.dst is None

    def add_multipliers(self) -> tuple[int, int] | None:
        """The add's (m_a, m_b) over the channels this pass writes, when each
        is one value for all of them (a complex pass's m_b is its ``m``:
        0 here); None when they vary or there is no add."""
        if self.add is None:
            return None
        span = slice(self.c_offset, self.c_offset + self.cout)
        m_a = self.add.m_a[span]
        m_b = self.add.m_b[span] if self.add.kind == "simple" else np.zeros(1, np.uint16)
        if (m_a != m_a[0]).any() or (m_b != m_b[0]).any():
            return None
        return int(m_a[0]), int(m_b[0])


@dataclass(frozen=True)
class MapInfo:
    """A feature map in RAM: its shape and the bank it lives in."""
    h: int
    w: int
    c: int
    bank: int = -1

    @property
    def size(self) -> int:
        return self.h * self.w * self.c


@dataclass(frozen=True, eq=False)
class EngineProgram:
    passes: tuple[EnginePass, ...]
    maps: dict[str, MapInfo]
    input_map: str
    num_classes: int
    in_shape: tuple[int, int, int]
    banks: tuple[int, ...] = field(default=())     # bytes per bank
    pool_kind: PoolKind | None = None               # the one kind of max pool the passes do
    input_pad: tuple[int, ...] = ()                 # per image channel, what a ``fill`` pass pads with
    lanes: int = DEFAULT_LANES                      # MAC lanes, as every pass has them

    def out_shape(self, p: EnginePass) -> tuple[int, int]:
        """The conv output size (h, w) of pass ``p`` (before any pooling)."""
        src = self.maps[p.src]
        return (output_size(src.h, p.kernel, p.stride, p.padding, False),
                output_size(src.w, p.kernel, p.stride, p.padding, False))

    def pooled_shape(self, p: EnginePass) -> tuple[int, int]:
        """The (h, w) pass ``p`` writes when it pools (``pool_kind``)."""
        k, s, ceil = self.pool_kind
        oh, ow = self.out_shape(p)
        return output_size(oh, k, s, 0, ceil), output_size(ow, k, s, 0, ceil)

    def fill_of(self, p: EnginePass) -> tuple[int, ...] | int:
        """What pass ``p`` pads with: per channel, or 0."""
        return self.input_pad if p.fill else 0

    def gap_range(self) -> tuple[int, int]:
        """The smallest and largest value the gap sums (``docs/int8.md`` §5):
        a uint8, or a logits pass's accumulator (bias plus 255 times its
        channel's negative or positive weights)."""
        last = self.passes[-1]
        if not last.logits:
            return 0, 255
        w = last.weight.astype(np.int64).reshape(last.cout, -1)
        bias = last.bias.astype(np.int64)
        return (int((bias + 255 * np.minimum(w, 0).sum(1)).min()),
                int((bias + 255 * np.maximum(w, 0).sum(1)).max()))

    def max_pooled_width(self) -> int:
        """The widest pooled row of the program (the pool's row buffer), 0 without pooling."""
        return max((self.pooled_shape(p)[1] for p in self.passes if p.pool), default=0)

    def macs(self, p: EnginePass) -> int:
        oh, ow = self.out_shape(p)
        return oh * ow * p.cout * p.taps

    def uniform_add_multipliers(self) -> bool:
        """Whether every bypass add's multipliers are the same for all the
        channels its pass writes (the quantiser makes them so: they are
        ratios of per-tensor scales): the descriptor then carries them, not
        the channel-constant ROM."""
        return all(p.add_multipliers() is not None for p in self.passes if p.add)

    def issue_cycles(self, p: EnginePass) -> int:
        """The cycles the pass's taps take (the model: no stalls)."""
        oh, ow = self.out_shape(p)
        return p.groups * oh * ow * p.period


def _identity(name: str, src: str, c: int, dst: str | None, **kw) -> EnginePass:
    """x -> x exactly: weights I, bias 0, (x*2 + 1) >> 1 = x."""
    weight = np.eye(c, dtype=np.int8).reshape(c, c, 1, 1)
    return EnginePass(name, src, weight, np.zeros(c, np.int32), np.full(c, 2, np.uint16), 1, 1, 0, dst, **kw)


class _Planner:
    """Walks the bundle's layers in order, fusing what the write-back can do."""

    def __init__(self, bundle):
        self.bundle = bundle
        self.layers = {lay.name: lay for lay in bundle.layers}
        self.readers: dict[str, list[Layer]] = {lay.name: [] for lay in bundle.layers}
        for lay in bundle.layers:
            for src in lay.inputs:
                self.readers[src].append(lay)
        self.passes: list[EnginePass] = []
        self.maps: dict[str, MapInfo] = {}
        self.map_of: dict[str, str] = {}        # layer -> the map holding its output
        self.fused: set[str] = set()

    def sole_reader(self, name: str):
        readers = self.readers[name]
        return readers[0] if len(readers) == 1 else None

    def new_map(self, layer: Layer) -> str:
        self.maps[layer.name] = MapInfo(*layer.shape)
        self.map_of[layer.name] = layer.name
        return layer.name

    def epilogue(self, layer: Layer) -> tuple[Layer, bool]:
        """(the last layer the write-back produces, pool?) after ``layer``."""
        nxt = self.sole_reader(layer.name)
        if isinstance(nxt, MaxPoolLayer):
            self.fused.add(nxt.name)
            return nxt, True
        return layer, False

    def plan(self) -> None:
        for lay in self.bundle.layers:
            if lay.name in self.fused:
                continue
            handler = {InputLayer: self.input, ConvLayer: self.conv, FireLayer: self.fire,
                       MaxPoolLayer: self.maxpool, AddLayer: self.add, GapLayer: self.gap}.get(type(lay))
            if handler is None:
                raise ProgramError(f"layer {lay.name!r}: kind {lay.kind!r} is not supported by the engine")
            handler(lay)

    def input(self, lay: InputLayer) -> None:
        self.new_map(lay)

    def conv(self, lay: ConvLayer) -> None:
        w, b = self.bundle.array(lay.name, "weight"), self.bundle.array(lay.name, "bias")
        # a logits conv has no requantisation: M = 1 passes its accumulators
        # through the write-back's multiplier unchanged, to the class sums
        m = np.ones(w.shape[0], np.uint16) if lay.logits else self.bundle.array(lay.name, "m")
        src = self.map_of[lay.source]
        common = dict(codebook=self.bundle.codebook(lay.name), logits=lay.logits,
                      fill=lay.source == self.bundle.input.name and lay.padding > 0 and any(self.bundle.input.pad))
        nxt = self.sole_reader(lay.name)
        if isinstance(nxt, GapLayer):        # the only reader a logits conv may have (the bundle's rules)
            self.fused.add(nxt.name)
            self.passes.append(EnginePass(lay.name, src, w, b, m, lay.shift, lay.stride, lay.padding, None, **common))
            return
        last, pool = self.epilogue(lay)
        dst = self.new_map(last)
        self.passes.append(EnginePass(lay.name, src, w, b, m, lay.shift, lay.stride, lay.padding, dst, pool=pool,
                                      **common))

    def fire(self, lay: FireLayer) -> None:
        src = self.map_of[lay.source]
        squeeze = f"{lay.name}.squeeze"
        self.maps[squeeze] = MapInfo(*self.bundle.in_shape(lay)[:2], lay.s1x1)
        self.passes.append(EnginePass(squeeze, src, *self.bundle.conv(lay.name, "squeeze"), 1, 0, squeeze,
                                      codebook=self.bundle.codebook(lay.name, "squeeze")))
        add, last, pool = None, lay, False
        nxt = self.sole_reader(lay.name)
        if isinstance(nxt, AddLayer) and nxt.bypass == "simple" and nxt.fire == lay.name:
            self.fused.add(nxt.name)
            add = self.add_step(nxt)
            last = nxt
        last, pool = self.epilogue(last)
        dst = self.new_map(last)
        offset = 0
        for part in lay.parts[1:]:
            w, b, m, shift = self.bundle.conv(lay.name, part)
            self.passes.append(EnginePass(f"{lay.name}.{part}", squeeze, w, b, m, shift, 1, w.shape[2] // 2, dst,
                                          c_offset=offset, add=add, pool=pool,
                                          codebook=self.bundle.codebook(lay.name, part)))
            offset += w.shape[0]

    def add_step(self, lay: AddLayer) -> AddStep:
        return AddStep(lay.bypass, self.map_of[lay.source] if lay.bypass == "simple" else self.map_of[lay.fire],
                       lay.shift, self.bundle.array(lay.name, "m_a"), self.bundle.array(lay.name, "m_b"))

    def add(self, lay: AddLayer) -> None:
        last, pool = self.epilogue(lay)
        dst = self.new_map(last)
        step = self.add_step(lay)
        if lay.bypass == "complex":
            # the bypass conv's accumulators times M_b, plus the Fire's output times M_a
            w, b = self.bundle.array(lay.name, "weight"), self.bundle.array(lay.name, "bias")
            self.passes.append(EnginePass(lay.name, self.map_of[lay.source], w, b, step.m_b, 0, 1, 0, dst,
                                          add=step, pool=pool, codebook=self.bundle.codebook(lay.name)))
        else:
            self.passes.append(_identity(lay.name, self.map_of[lay.fire], lay.shape.c, dst, add=step, pool=pool))

    def maxpool(self, lay: MaxPoolLayer) -> None:
        dst = self.new_map(lay)
        self.passes.append(_identity(lay.name, self.map_of[lay.source], lay.shape.c, dst, pool=True))

    def gap(self, lay: GapLayer) -> None:
        self.passes.append(_identity(lay.name, self.map_of[lay.source], lay.shape.c, None))


def _lifetimes(passes, input_map: str) -> dict[str, tuple[int, int]]:
    """map -> (first pass writing it, last pass reading it); the image is
    written before pass 0 (-1)."""
    life = {input_map: (-1, -1)}
    for i, p in enumerate(passes):
        reads = [p.src] + ([p.add.side] if p.add else [])
        for name in reads:
            life[name] = (life[name][0], i)
        if p.dst is not None:
            first = life.get(p.dst, (i, i))[0]
            life[p.dst] = (first, max(i, life.get(p.dst, (i, i))[1]))
    return life


def _place(maps: dict[str, MapInfo], life) -> tuple[dict[str, MapInfo], tuple[int, ...]]:
    """Interval colouring: a bank holds one live map at a time, so maps used
    by the same pass (all live then) are in different banks."""
    busy_until: list[int] = []
    sizes: list[int] = []
    placed = {}
    for name in sorted(life, key=lambda n: life[n]):
        first, last = life[name]
        bank = next((b for b, until in enumerate(busy_until) if until < first), len(busy_until))
        if bank == len(busy_until):
            busy_until.append(last)
            sizes.append(0)
        busy_until[bank] = last
        sizes[bank] = max(sizes[bank], maps[name].size)
        placed[name] = MapInfo(maps[name].h, maps[name].w, maps[name].c, bank)
    return placed, tuple(sizes)


def _pool_kind(bundle) -> PoolKind | None:
    """The one kind of max pool of ``bundle`` (None without pools); a kind
    the engine does not do, or a second kind, is a ``ProgramError``."""
    kind = None
    for lay in bundle.layers:
        if not isinstance(lay, MaxPoolLayer):
            continue
        this = lay.pool_kind
        if this not in POOL_KINDS:
            raise ProgramError(f"layer {lay.name!r}: a {this} max pool; the engine supports "
                               + " and ".join(map(str, POOL_KINDS)))
        if kind is not None and this != kind:
            raise ProgramError(f"layer {lay.name!r}: a {this} max pool after {kind} ones; "
                               "the engine runs one kind of pool per network")
        kind = this
    return kind


def plan_program(bundle, lanes: int = DEFAULT_LANES) -> EngineProgram:
    """The engine's program for ``bundle`` on ``lanes`` MAC lanes;
    ``ProgramError`` names a layer it cannot run (or the lanes)."""
    check_lanes(lanes)
    kind = _pool_kind(bundle)
    planner = _Planner(bundle)
    planner.plan()
    passes = tuple(replace(p, lanes=lanes) for p in planner.passes)
    if not passes or not passes[-1].gap:
        raise ProgramError(f"layer {bundle.output.name!r}: the network must end in a global sum pool ('gap')")
    life = _lifetimes(passes, bundle.input.name)
    maps, banks = _place(planner.maps, life)
    return EngineProgram(passes, maps, bundle.input.name, bundle.output.shape.c, tuple(bundle.input.shape), banks,
                         kind, bundle.input.pad_values(), lanes)
