"""Formal properties of ``amaranth.lib.stream`` ports, for wrappers that
SymbiYosys proves (``sim.lib.formal``).

A wrapper ``assume``s the rules on a block's *input* streams (the
environment's promises) and ``assert``s them on its *output* streams (the
block's promises):

  * ``valid`` stays high until ``ready`` (a beat once offered is held);
  * the payload does not change while ``valid & ~ready``;
  * after reset (and in the initial state) no output beat is offered;
  * beats are neither created nor lost: ``beats out * den == beats in * num``
    once the block has drained (inputs quiet and outputs ready for the
    block's maximum latency), and ``out`` never runs ahead of ``in``.

The ``sync`` domain's reset is a free input, so every property also holds
across a reset at any cycle: the checkers' own registers reset with the
block (``stalled`` is then 0, so a beat dropped by reset is not a
violation), except ``fresh``, which must survive reset to see it.
"""
from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Assert, Assume, Const, Cover, Elaboratable, Module, ResetSignal, Signal, Value

__all__ = ["Contract", "StreamProof", "StreamMonitor", "monitor", "fresh_after_reset", "drain_check", "full_throughput",
           "assume_frames", "COUNT_BITS"]

# Beat counters wrap at 2**COUNT_BITS; every proof here is far shorter.
COUNT_BITS = 8


@dataclass(frozen=True)
class StreamMonitor:
    """What ``monitor`` returns: ``beat`` (a transfer this cycle) and
    ``count`` (transfers since reset, modulo 2**COUNT_BITS)."""
    beat: Value
    count: Signal


def fresh_after_reset(m: Module) -> Signal:
    """1 in the initial state and in the cycle after a reset cycle."""
    fresh = Signal(init=1, reset_less=True, name="fresh")
    m.d.sync += fresh.eq(ResetSignal())
    return fresh


def monitor(m: Module, port, name: str, *, assume: bool, fresh: Signal | None = None) -> StreamMonitor:
    """The handshake rules on ``port`` (a stream interface), assumed (an
    input of the block) or asserted (an output); with ``fresh`` given, an
    output also offers no beat right after reset."""
    check = Assume if assume else Assert
    payload = Value.cast(port.payload)
    stalled = Signal(name=f"{name}_stalled")
    held = Signal(len(payload), name=f"{name}_held")
    count = Signal(COUNT_BITS, name=f"{name}_count")
    beat = port.valid & port.ready
    m.d.sync += [stalled.eq(port.valid & ~port.ready), held.eq(payload), count.eq(count + beat)]
    with m.If(stalled):
        m.d.comb += [check(port.valid, f"{name}_valid_held"),
                     check(payload == held, f"{name}_payload_stable")]
    if fresh is not None:
        with m.If(fresh):
            m.d.comb += check(~port.valid, f"{name}_idle_after_reset")
    return StreamMonitor(beat, count)


def assume_frames(m: Module, port, beats: int, name: str) -> Signal:
    """The environment marks frames of ``beats`` beats: ``first`` on the
    first, ``last`` on the last (``rtl_gen.stream``'s rule).  Returns the
    beat's index in its frame (0: the frames so far are whole)."""
    idx = Signal(range(max(2, beats)), name=f"{name}_idx")
    with m.If(port.valid & port.ready):
        m.d.sync += idx.eq(idx + 1)
        with m.If(idx == beats - 1):
            m.d.sync += idx.eq(0)
    with m.If(port.valid):
        m.d.comb += [Assume(port.payload.first == (idx == 0)), Assume(port.payload.last == (idx == beats - 1))]
    return idx


def drain_check(m: Module, inputs, outputs, *, latency: int, num: int = 1, den: int = 1,
                capacity: int, ready_outputs=(), whole=None) -> Signal:
    """Counts: ``sum(out) * den <= sum(in) * num + capacity * den`` always (no
    beat is created beyond what is held inside), and equality once drained:
    no input beat and every output ready for ``latency`` cycles (and, if
    given, ``whole`` true: the inputs make whole frames).  ``inputs``,
    ``outputs``: ``StreamMonitor``s; ``ready_outputs``: the output ports.
    Returns the ``drained`` flag (for covers)."""
    total_in = sum(mon.count for mon in inputs)
    total_out = sum(mon.count for mon in outputs)
    any_in = 0
    for mon in inputs:
        any_in = any_in | mon.beat
    all_ready = 1
    for port in ready_outputs:
        all_ready = all_ready & port.ready
    quiet = Signal(range(latency + 1), name="quiet")
    with m.If(any_in | ~all_ready):
        m.d.sync += quiet.eq(0)
    with m.Elif(quiet != latency):
        m.d.sync += quiet.eq(quiet + 1)
    wide = COUNT_BITS + 8
    scaled_in = (total_in * num).as_unsigned()[:wide]
    scaled_out = (total_out * den).as_unsigned()[:wide]
    drained = (quiet == latency) if whole is None else ((quiet == latency) & whole)
    with m.If(drained):
        m.d.comb += Assert(scaled_out == scaled_in, "drained_counts_equal")
    m.d.comb += Assert(scaled_out <= scaled_in + capacity * den, "no_beat_created")
    return drained


def full_throughput(m: Module, mon: StreamMonitor, beats: int, name: str) -> Signal:
    """A Cover: ``beats`` transfers on consecutive cycles."""
    run = Signal(range(beats + 1), name=f"{name}_run")
    with m.If(mon.beat):
        with m.If(run != beats):
            m.d.sync += run.eq(run + 1)
    with m.Else():
        m.d.sync += run.eq(0)
    m.d.comb += Cover(run == beats, f"{name}_full_throughput")
    return run


@dataclass(frozen=True)
class Contract:
    """A block's documented stream contract, as a proof checks it.

    ``inputs``/``outputs``: its stream port names; ``frames``: input port
    -> beats per frame the environment marks with first/last (and only
    whole frames count as drained); ``latency``: cycles after the last input
    beat, outputs ready, by which every output beat is out; ``capacity``:
    output-side beats it may hold inside; ``num``/``den``: beats out per
    beat in; ``balance``: input port -> weight, the inputs are whole when
    ``sum(weight * count) == 0`` (e.g. concat's a:b ratio); ``throughput``:
    (output port, consecutive beats) to cover."""
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    latency: int
    capacity: int
    num: int = 1
    den: int = 1
    frames: tuple[tuple[str, int], ...] = ()
    balance: tuple[tuple[str, int], ...] = ()
    throughput: tuple[str, int] | None = None


class StreamProof(Elaboratable):
    """The wrapper SBY proves: ``dut`` with its inputs free but obeying the
    stream rules (assumed) and its outputs checked (asserted) against
    ``contract``.  ``counts=False`` leaves out the beat counting (which
    k-induction cannot bound without the block's internals), for an
    unbounded proof of the handshake rules alone.  ``ports``: the free
    inputs, for ``sim.lib.formal.run_proof``."""

    def __init__(self, dut, contract: Contract, *, counts: bool = True):
        self.dut, self.contract, self.counts = dut, contract, counts
        self.ports = []
        for name in contract.inputs:
            port = getattr(dut, name)
            self.ports += [port.valid, Value.cast(port.payload)]
        self.ports += [getattr(dut, name).ready for name in contract.outputs]

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = self.dut
        c = self.contract
        fresh = fresh_after_reset(m)
        ins = {name: monitor(m, getattr(dut, name), name, assume=True) for name in c.inputs}
        outs = {name: monitor(m, getattr(dut, name), name, assume=False, fresh=fresh) for name in c.outputs}
        whole = Const(1)
        for name, beats in c.frames:
            whole = whole & (assume_frames(m, getattr(dut, name), beats, name) == 0)
        if c.balance:
            weighted = sum(ins[name].count.as_signed() * weight for name, weight in c.balance)
            whole = whole & (weighted == 0)
        if self.counts:
            drain_check(m, list(ins.values()), list(outs.values()), latency=c.latency, num=c.num, den=c.den,
                        capacity=c.capacity, ready_outputs=[getattr(dut, n) for n in c.outputs], whole=whole)
        if c.throughput is not None:
            name, beats = c.throughput
            full_throughput(m, outs[name], beats, name)
        return m
