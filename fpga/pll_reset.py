"""The ``sync`` reset every PLL block of ``fpga`` drives: held while the
PLL is unlocked and for ``delay_s`` after lock (``Ice40Pll``: the iCE40
block RAMs' power-on delay; ``Ecp5Pll`` and ``GowinPll``: none).

Latency: the lock goes through a 2-flop synchroniser in the PLL's output
clock, so ``sync`` leaves reset 2 cycles + ``delay_s`` after lock; a lost
lock resets the design again.  No throughput or back-pressure: a reset.
"""
from __future__ import annotations

from amaranth.hdl import ClockDomain, ClockSignal, Module, ResetSignal, Signal
from amaranth.lib.cdc import FFSynchronizer

__all__ = ["drive_sync_from_pll"]


def drive_sync_from_pll(m: Module, clk_out, lock, f_out: float, delay_s: float = 0.0) -> None:
    """Make ``clk_out`` the ``sync`` clock (the parent defines the domain)
    and hold ``sync`` in reset until ``lock`` (asynchronous to it) has been
    seen for ``delay_s``; a local reset-less ``por`` domain on the same
    clock counts the delay."""
    m.domains.por = ClockDomain(reset_less=True, local=True)
    m.d.comb += [ClockSignal("por").eq(clk_out), ClockSignal("sync").eq(clk_out)]
    locked = Signal()
    m.submodules.lock_sync = FFSynchronizer(lock, locked, o_domain="por")
    delay = int(delay_s * f_out)
    timer = Signal(range(delay + 1))
    ready = Signal()
    with m.If(~locked):
        m.d.por += [timer.eq(0), ready.eq(0)]
    with m.Elif(timer == delay):
        m.d.por += ready.eq(1)
    with m.Else():
        m.d.por += timer.eq(timer + 1)
    m.d.comb += ResetSignal("sync").eq(~ready)
