"""An array of ``copies`` identical Fire engines working on successive
images (``docs/engine.md``, "Engine array").  Implements
``rtl_gen.accelerator.AcceleratorSignature`` like one ``FireEngine``.

    i ─> Dispatcher ─┬─> FireEngine 0 ─┐
                     ├─> FireEngine 1 ─┼─> Collector ─> o
                     └─> ...          ─┘

Past 16 lanes one engine's lanes go idle on narrow layers; N engines of
the same width keep each engine's utilisation and multiply the images per
second.  Frame ``k`` goes to engine ``k mod N`` and its class beats leave
in the same order, so the host sees one accelerator: each request's reply
in order, nothing of the protocol changed.

Latency: one engine's (``cycles_per_frame``): the dispatcher and the
collector are multiplexers, no register in the data path.  Throughput, in
steady state with the input always valid and the output always ready:
``copies`` frames every ``frame_interval`` = max(T, N x load) cycles, T the
engine's ``cycles_per_frame`` and load its image load (H x W x C cycles,
one beat a cycle): the engines compute while the others load, unless the
input cannot feed them all (N x load > T), then the input sets the pace.
Exact (``sim/tests/test_engine_array.py``) while an engine's class output
(``4 x classes + 2`` cycles) is no longer than a load, so that two engines'
outputs never contend for ``o``; else ``frame_interval`` is a lower bound.
Back-pressure: ``i`` is ready when the engine whose turn it is loads
(``FireEngine``: only while loading); ``o``'s ready reaches only the engine
whose turn it is to answer, the others hold their class beats and wait.
"""
from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring

from rtl_gen.accelerator import AcceleratorSignature
from rtl_gen.engine.engine import EngineParams, FireEngine
from rtl_gen.fit import ResourceEstimate
from rtl_gen.params import ParamsFirst

__all__ = ["ArrayParams", "EngineArray", "ARRAY_LUT_PER_COPY", "array_frame_interval"]

# the dispatcher's valid gate and ready multiplexer input, the collector's
# payload multiplexer input (a class beat, about 40 bits) and ready gate,
# per engine; the two turn counters are within the margin
ARRAY_LUT_PER_COPY = 60


def check_copies(copies) -> None:
    """``ValueError`` (one line naming ``copies``) unless an integer >= 1."""
    if not isinstance(copies, int) or isinstance(copies, bool) or copies < 1:
        raise ValueError(f"copies must be an integer >= 1 (the number of Fire engines), got {copies!r}")


def array_frame_interval(engine_cycles: int, load_cycles: int, copies: int) -> int:
    """Cycles per ``copies`` frames in steady state: an engine's frame, or
    the input's ``copies`` image loads when they take longer."""
    return max(engine_cycles, copies * load_cycles)


@dataclass(frozen=True, eq=False)
class ArrayParams:
    """``engine``: every copy's ``EngineParams``; ``copies``: how many
    engines (an integer >= 1).  Gives every figure without making hardware,
    like ``EngineParams``."""
    engine: EngineParams
    copies: int = 1

    def __post_init__(self):
        check_copies(self.copies)
        if not isinstance(self.engine, EngineParams):
            raise ValueError(f"engine must be an EngineParams, got {type(self.engine).__name__}")

    @property
    def in_shape(self) -> tuple[int, int, int]:
        return self.engine.in_shape

    @property
    def num_classes(self) -> int:
        return self.engine.program.num_classes

    @property
    def macs_per_frame(self) -> int:
        return self.engine.macs_per_frame

    @property
    def mac_lanes(self) -> int:
        return self.copies * self.engine.lanes

    @property
    def cycles_per_frame(self) -> int:
        """One frame's cycles on its engine (the array adds none)."""
        return self.engine.cycles_per_frame

    @property
    def load_cycles(self) -> int:
        h, w, c = self.in_shape
        return h * w * c

    @property
    def frame_interval(self) -> int:
        """Cycles per ``copies`` frames in steady state (``array_frame_interval``)."""
        return array_frame_interval(self.cycles_per_frame, self.load_cycles, self.copies)

    @property
    def input_bound(self) -> bool:
        """The input's loads, not the engines, set the pace."""
        return self.frame_interval > self.cycles_per_frame

    def resource_estimate(self, device) -> ResourceEstimate:
        """``copies`` times the engine's (``rtl_gen.engine.cost``), plus the
        dispatcher's and collector's logic (``ARRAY_LUT_PER_COPY`` per
        engine, none for one)."""
        one = self.engine.resource_estimate(device)
        n = self.copies
        # one engine's multiplexers are wires (and one engine is built without them, as FireEngine)
        glue = n * ARRAY_LUT_PER_COPY if n > 1 else 0
        return ResourceEstimate(lut=n * one.lut + glue, dsp=n * one.dsp,
                                bram_bits=n * one.bram_bits,
                                bram_blocks=None if one.bram_blocks is None else n * one.bram_blocks,
                                spram_bits=n * one.spram_bits, weight_index_bits=n * one.weight_index_bits,
                                codebook_bits=n * one.codebook_bits)


class EngineArray(wiring.Component, metaclass=ParamsFirst):
    """Arguments: those of ``ArrayParams``."""
    Params = ArrayParams

    def __init__(self, params: ArrayParams):
        self.params = params
        self.in_shape, self.num_classes = params.in_shape, params.num_classes
        self.copies = params.copies
        self.macs_per_frame = params.macs_per_frame
        self.mac_lanes = params.mac_lanes
        self.cycles_per_frame = params.cycles_per_frame     # the model's figures (exact, see the module)
        self.frame_interval = params.frame_interval
        super().__init__(AcceleratorSignature(self.in_shape, self.num_classes))

    def resource_estimate(self, device) -> ResourceEstimate:
        return self.params.resource_estimate(device)

    def elaborate(self, platform):
        m = Module()
        n = self.copies
        engines = [FireEngine(self.params.engine) for _ in range(n)]
        for k, e in enumerate(engines):
            m.submodules[f"engine{k}"] = e
        # whose turn it is to take an image, and to answer
        load_turn, out_turn = Signal(range(n)), Signal(range(n))

        def advance(turn):
            m.d.sync += turn.eq(Mux(turn == n - 1, 0, turn + 1))

        for k, e in enumerate(engines):
            m.d.comb += [e.i.payload.eq(self.i.payload), e.i.valid.eq(self.i.valid & (load_turn == k))]
            with m.If(load_turn == k):
                m.d.comb += self.i.ready.eq(e.i.ready)
            m.d.comb += e.o.ready.eq(self.o.ready & (out_turn == k))
            with m.If(out_turn == k):
                m.d.comb += [self.o.valid.eq(e.o.valid), self.o.payload.eq(e.o.payload)]
        with m.If(self.i.valid & self.i.ready & self.i.payload.last):
            advance(load_turn)
        with m.If(self.o.valid & self.o.ready & self.o.payload.last):
            advance(out_turn)
        return m
