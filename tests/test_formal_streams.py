"""SymbiYosys proofs of the stream contract of every generic stream block
(``sim.lib.stream_checks``): handshake rules (assumed on inputs, asserted on
outputs), nothing in flight after reset, no beat created or lost once
drained within the documented latency, and a cover of full throughput.

Per block: a bounded model check from reset deep enough for several whole
frames of its small configuration, a k-induction proof of the handshake
rules alone (``counts=False``; the beat counts need the block's internals
to be inductive), and the throughput cover.  The negative controls wrap a
block in a mutant (payload that changes while waiting, a dropped beat) and
must fail the same proof.  Depths and times: ``docs/verification.md``.
"""
from __future__ import annotations

from dataclasses import dataclass

import pytest
from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring

from rtl_gen import stream as tstream
from rtl_gen.pipeline.broadcast import Broadcast
from rtl_gen.pipeline.channel_reduce import ChannelReduce, ReduceParams
from rtl_gen.pipeline.concat import ChannelConcat
from rtl_gen.pipeline.maxpool3x3 import MaxPool3x3
from rtl_gen.pipeline.maxpool2x2 import MaxPool2x2
from rtl_gen.pipeline.stream_fifo import StreamFifo
from sim.lib.formal import Mode, Proof, run_proof
from sim.lib.stream_checks import Contract, StreamProof

pytestmark = pytest.mark.formal


@dataclass(frozen=True)
class Case:
    """A block in a small configuration, its contract and the proofs' depths."""
    name: str
    make: object                  # () -> the block
    contract: Contract
    bmc: int
    induction: int | None
    cover: int


CASES = [
    Case("stream_fifo", lambda: StreamFifo(tstream.beat_layout(1), 4),
         Contract(("i",), ("o",), latency=7, capacity=5, throughput=("o", 4)), bmc=16, induction=6, cover=12),
    Case("broadcast", lambda: Broadcast(1),
         Contract(("i",), ("a", "b"), latency=2, capacity=2, num=2, throughput=("a", 4)),
         bmc=20, induction=4, cover=10),
    # per pixel 1 beat of a then 2 of b: whole pixels have 2 * a == b
    Case("channel_concat", lambda: ChannelConcat(1, 2),
         Contract(("a", "b"), ("o",), latency=3, capacity=2, balance=(("a", 2), ("b", -1)), throughput=("o", 4)),
         bmc=20, induction=4, cover=10),
    # 2 channels x 2 passes: 2 results per 4 beats
    Case("channel_reduce_max", lambda: ChannelReduce(ReduceParams(2, 2, "max")),
         Contract(("i",), ("o",), latency=3, capacity=1, num=1, den=2, frames=(("i", 4),), throughput=("o", 2)),
         bmc=24, induction=4, cover=12),
    # 3x3x1 in, 1x1 out: 1 beat per 9 (the window generator's ring holds a frame)
    Case("maxpool", lambda: MaxPool3x3(1, 3, 3),
         Contract(("i",), ("o",), latency=16, capacity=1, num=1, den=9, frames=(("i", 9),)),
         bmc=40, induction=None, cover=30),
    # 2x2x2 in, 1x1x2 out
    Case("maxpool2x2", lambda: MaxPool2x2(2, 2, 2),
         Contract(("i",), ("o",), latency=3, capacity=1, num=1, den=4, frames=(("i", 8),), throughput=("o", 2)),
         bmc=30, induction=4, cover=20),
]


def _prove(name: str, wrapper: StreamProof, proof: Proof):
    result = run_proof(name, wrapper, wrapper.ports, proof)
    assert result.passed, result.message()
    return result


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_stream_contract_bmc(case):
    """Every property, from reset, for ``case.bmc`` cycles (several frames)."""
    _prove(f"{case.name}_bmc", StreamProof(case.make(), case.contract), Proof(Mode.BMC, case.bmc))


@pytest.mark.parametrize("case", [c for c in CASES if c.induction], ids=lambda c: c.name)
def test_handshake_rules_induction(case):
    """The handshake rules in every reachable state (k-induction)."""
    _prove(f"{case.name}_prove", StreamProof(case.make(), case.contract, counts=False),
           Proof(Mode.PROVE, case.induction))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_full_throughput_cover(case):
    """The throughput cover is reached (and the proof is not vacuous: some
    trace reaches it under the assumptions)."""
    _prove(f"{case.name}_cover", StreamProof(case.make(), case.contract), Proof(Mode.COVER, case.cover))


# ---- negative controls: mutants that the same proofs must reject ----

class PayloadWobble(wiring.Component):
    """The block with its ``o`` payload's lowest bit flipped on every cycle
    the beat waits: breaks "payload stable while valid and not ready"."""

    def __init__(self, inner):
        self.inner = inner
        super().__init__(inner.signature)

    def elaborate(self, platform):
        m = Module()
        m.submodules.inner = inner = self.inner
        wiring.connect(m, wiring.flipped(self.i), inner.i)
        wobble = Signal()
        m.d.sync += wobble.eq(inner.o.valid & ~inner.o.ready & ~wobble)
        m.d.comb += [self.o.valid.eq(inner.o.valid), inner.o.ready.eq(self.o.ready),
                     self.o.payload.eq(inner.o.payload), self.o.payload.data[0].eq(inner.o.payload.data[0] ^ wobble)]
        return m


class DropThird(wiring.Component):
    """The block behind an input that acknowledges every third beat without
    passing it on: breaks "beats out == beats in once drained"."""

    def __init__(self, inner):
        self.inner = inner
        super().__init__(inner.signature)

    def elaborate(self, platform):
        m = Module()
        m.submodules.inner = inner = self.inner
        wiring.connect(m, inner.o, wiring.flipped(self.o))
        n = Signal(2)
        drop = n == 2
        m.d.comb += [inner.i.payload.eq(self.i.payload), inner.i.valid.eq(self.i.valid & ~drop),
                     self.i.ready.eq(inner.i.ready | drop)]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += n.eq(Mux(drop, 0, n + 1))
        return m


FIFO = CASES[0]


def _refuted(name: str, wrapper: StreamProof, proof: Proof, property_text: str) -> None:
    result = run_proof(name, wrapper, wrapper.ports, proof)
    assert not result.passed, f"{name}: the mutant passed ({result.message()})"
    assert result.trace is not None and result.trace.exists(), result.message()
    assert any(property_text in f for f in result.failures), result.message()


def test_mutant_payload_changing_while_waiting_fails():
    _refuted("mutant_payload_wobble", StreamProof(PayloadWobble(FIFO.make()), FIFO.contract),
             Proof(Mode.BMC, 12), "payload_stable")


def test_mutant_dropped_beat_fails():
    _refuted("mutant_drop_third", StreamProof(DropThird(FIFO.make()), FIFO.contract),
             Proof(Mode.BMC, 16), "drained_counts_equal")
