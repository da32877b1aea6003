"""8N1 UART receiver and transmitter with ``amaranth.lib.stream`` byte ports.

Written here because no usable Amaranth UART installs from PyPI: the
``amaranth-stdio`` and ``amaranth-soc`` packages there are empty placeholders
(the real code lives only in git), and this project installs from pip only.

Both blocks run from the ``sync`` domain; ``divisor`` is clock cycles per bit
(e.g. 12 MHz / 1 Mbaud = 12).  Bit timing is exact for an integer divisor,
so pick a clock/baud pair that divides (the error budget of 8N1 is about
+-4 % total between both ends).
"""
from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Cat, Module, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

from fpga.baud import MIN_DIVISOR       # the one definition, shared with the baud checks
from rtl_gen.params import ParamsFirst

__all__ = ["UARTRx", "UARTTx", "UartParams", "rx_layout", "MIN_DIVISOR"]

rx_layout = data.StructLayout({"data": unsigned(8), "ferr": 1})


@dataclass(frozen=True)
class UartParams:
    """``divisor``: clock cycles per bit, at least ``MIN_DIVISOR``."""
    divisor: int

    def __post_init__(self):
        if not isinstance(self.divisor, int) or isinstance(self.divisor, bool) or self.divisor < MIN_DIVISOR:
            raise ValueError(f"divisor must be an integer >= {MIN_DIVISOR} (clock cycles per bit), "
                             f"got {self.divisor!r}")


class UARTTx(wiring.Component, metaclass=ParamsFirst):
    """8N1 transmitter.

    Ports: ``i`` (stream of ``unsigned(8)`` bytes), ``tx`` (the serial line,
    idle high).

    Latency: the start bit appears on ``tx`` 1 cycle after ``i`` is accepted.
    Throughput: one byte per ``10 * divisor`` cycles, back to back with no
    idle gap (the next byte is accepted in the last cycle of the stop bit).
    Back-pressure: ``i.ready`` is high only when idle or in that last cycle;
    it does not depend on ``i.valid`` (no combinational path in to out).
    """

    Params = UartParams

    def __init__(self, params: UartParams):
        self.divisor = params.divisor
        super().__init__({"i": In(stream.Signature(unsigned(8))), "tx": Out(1, init=1)})

    def elaborate(self, platform):
        m = Module()
        D = self.divisor
        timer = Signal(range(D))
        remaining = Signal(range(10))      # bit periods still to send after the current one
        shreg = Signal(9)                  # data bits then the stop bit, LSB first
        busy = Signal()
        last_cycle = busy & (timer == 0) & (remaining == 0)

        m.d.comb += self.i.ready.eq(~busy | last_cycle)
        with m.If(busy):
            m.d.sync += timer.eq(timer - 1)
            with m.If(timer == 0):
                m.d.sync += [timer.eq(D - 1), remaining.eq(remaining - 1),
                             self.tx.eq(shreg[0]), shreg.eq(shreg >> 1)]
                with m.If(remaining == 0):
                    m.d.sync += [busy.eq(0), self.tx.eq(1)]
        # Placed after the busy branch so a back-to-back accept wins over the
        # stop-bit bookkeeping above.
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [busy.eq(1), timer.eq(D - 1), remaining.eq(9),
                         self.tx.eq(0), shreg.eq(Cat(self.i.payload, 1))]
        return m


class UARTRx(wiring.Component, metaclass=ParamsFirst):
    """8N1 receiver with a 2-flop synchroniser and mid-bit sampling.

    Ports: ``rx`` (the serial line), ``o`` (stream of ``rx_layout``:
    ``data`` byte and ``ferr``, set when the stop bit was sampled 0 --
    a framing error or a break; the byte is still delivered so the consumer
    sees the error in order), ``overrun`` (1-cycle strobe: a byte completed
    while the previous one still waited in ``o``; the new byte is dropped).

    After a framing error the receiver waits for the line to return high
    before hunting for the next start bit, so a held-low line (break)
    produces one error, not a stream of them.  A start bit that is high
    again at its middle is a glitch and is ignored.

    Latency: ``o.valid`` rises about ``9.5 * divisor + 3`` cycles after the
    start bit's falling edge (mid stop bit, plus the synchroniser).
    Throughput: one byte per ``10 * divisor`` cycles at line rate (it
    resynchronises on each start edge, so a slightly fast sender is fine).
    Back-pressure: none possible on a serial line: ``o`` is a 1-byte
    register; the consumer must take it within ~``10 * divisor`` cycles or
    bytes are dropped and ``overrun`` pulses.
    """

    Params = UartParams

    def __init__(self, params: UartParams):
        self.divisor = params.divisor
        super().__init__({"rx": In(1, init=1), "o": Out(stream.Signature(rx_layout)), "overrun": Out(1)})

    def elaborate(self, platform):
        m = Module()
        D = self.divisor
        line = Signal(init=1)
        m.submodules.sync = FFSynchronizer(self.rx, line, init=1, stages=2)

        timer = Signal(range(D))
        bits = Signal(range(8))
        shreg = Signal(8)

        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(~line):
                    m.d.sync += timer.eq(D // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    m.d.sync += [timer.eq(D - 1), bits.eq(0)]
                    # A start bit high again at its middle was a glitch.
                    with m.If(line):
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "DATA"
            with m.State("DATA"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    m.d.sync += [timer.eq(D - 1), bits.eq(bits + 1), shreg.eq(Cat(shreg[1:], line))]
                    with m.If(bits == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    with m.If(self.o.valid & ~self.o.ready):
                        m.d.comb += self.overrun.eq(1)
                    with m.Else():
                        m.d.sync += [self.o.valid.eq(1), self.o.payload.data.eq(shreg),
                                     self.o.payload.ferr.eq(~line)]
                    # Leaving at mid stop bit leaves half a bit of slack to
                    # catch the next start edge of a slightly faster sender.
                    m.next = "IDLE"
                    with m.If(~line):
                        m.next = "BREAK"
            with m.State("BREAK"):
                with m.If(line):
                    m.next = "IDLE"
        return m
