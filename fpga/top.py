"""The board top: accelerator + UART host link + status LEDs.

Clock: the board's default oscillator drives everything (iCEBreaker:
12 MHz), no PLL.  The Fire pipeline needs ~``cycles_per_frame`` cycles per
image -- well under a millisecond at 12 MHz -- while moving the image over
the UART takes milliseconds, so a faster system clock would not change the
frame rate the host sees; one clock with no PLL also keeps the design simple
and the timing easy to close.

Baud rate: 1 Mbaud by default.  At 12 MHz that is an exact divisor of 12
cycles per bit (0 % error on both sides: the FT2232H derives 1 Mbaud exactly
from its 3 MHz base rate), and 12 samples per bit leave a wide margin for
the mid-bit sample.  3 Mbaud (divisor 4) also divides exactly and works with
this UART, but leaves only 4 cycles per bit -- a 1-cycle synchroniser
uncertainty is 25 % of a bit -- so it is not the default.  1 Mbaud moves the
reference 28x28 image in about 8 ms.

Pins: ``("uart", 0)`` of the amaranth-boards platform (the iCEBreaker's FTDI
channel B); LEDs ``("led", 1)`` (green on the iCEBreaker) toggles per
answered frame and ``("led", 0)`` (red) is lit after an error reply.
"""
from __future__ import annotations

from amaranth.hdl import Elaboratable, Module
from amaranth.build import ResourceError
from amaranth.lib import io, wiring

from fpga.link import HostLink
from fpga.uart import MIN_DIVISOR, UARTRx, UARTTx

__all__ = ["BoardTop", "DEFAULT_BAUD", "uart_divisor"]

DEFAULT_BAUD = 1_000_000


def uart_divisor(clock_hz: float, baud: int) -> int:
    """Cycles per bit; refuses a rate the clock cannot produce within 1 %."""
    if not isinstance(baud, int) or baud < 1:
        raise ValueError(f"baud must be a positive integer, got {baud!r}")
    divisor = round(clock_hz / baud)
    if divisor < MIN_DIVISOR:
        raise ValueError(f"{baud} baud is too fast for a {clock_hz / 1e6:g} MHz clock "
                         f"(needs at least {MIN_DIVISOR} cycles per bit)")
    error = abs(clock_hz / divisor - baud) / baud
    if error > 0.01:
        raise ValueError(f"{baud} baud is {error:.1%} off at {clock_hz / 1e6:g} MHz "
                         f"(nearest divisor {divisor}); pick a rate that divides the clock")
    return divisor


class BoardTop(Elaboratable):
    """Wrapper elaborated by an amaranth-boards platform.

    ``accelerator``: any component with ``i`` (``rtl_gen.stream.Signature(1)``),
    ``o`` (class beats: int32 ``data``, ``argmax``, ``first``, ``last``),
    ``in_shape`` and ``num_classes``.  ``clock_hz``: overrides the platform's
    default clock frequency (used for simulation without a platform).

    Latency/throughput/back-pressure: those of ``HostLink`` and the UART
    (one request at a time; 10 bit-times per byte each way).
    """

    def __init__(self, accelerator, *, baud: int = DEFAULT_BAUD, clock_hz: float | None = None,
                 timeout_s: float = 0.05):
        for attr in ("i", "o", "in_shape", "num_classes"):
            if not hasattr(accelerator, attr):
                self._MustUse__silence = True
                raise ValueError(f"the accelerator has no {attr!r} attribute")
        self.accelerator = accelerator
        self.baud = baud
        self.clock_hz = clock_hz
        self.timeout_s = timeout_s
        if clock_hz is not None:
            try:
                uart_divisor(clock_hz, baud)  # fail early, before elaboration
            except ValueError:
                self._MustUse__silence = True
                raise

    def elaborate(self, platform):
        m = Module()
        clock_hz = self.clock_hz if self.clock_hz is not None else platform.default_clk_frequency
        divisor = uart_divisor(clock_hz, self.baud)
        acc = self.accelerator
        m.submodules.accelerator = acc
        m.submodules.uart_rx = rx = UARTRx(divisor)
        m.submodules.uart_tx = tx = UARTTx(divisor)
        m.submodules.link = link = HostLink(acc.in_shape, acc.num_classes,
                                            result_shape=acc.o.payload.shape(),
                                            timeout_cycles=max(16, int(self.timeout_s * clock_hz)))
        wiring.connect(m, rx.o, link.rx)
        wiring.connect(m, link.tx, tx.i)
        wiring.connect(m, link.acc_i, acc.i)
        wiring.connect(m, acc.o, link.acc_o)
        self.link, self.uart_rx, self.uart_tx = link, rx, tx

        if platform is not None:
            uart = platform.request("uart", 0, dir={"rx": "-", "tx": "-"})
            m.submodules.rx_pin = rx_pin = io.Buffer("i", uart.rx)
            m.submodules.tx_pin = tx_pin = io.Buffer("o", uart.tx)
            m.d.comb += [rx.rx.eq(rx_pin.i), tx_pin.o.eq(tx.tx)]
            for index, signal in ((0, link.error_led), (1, link.frame_led)):
                try:
                    led = platform.request("led", index, dir="-")
                except ResourceError:
                    continue
                m.submodules[f"led{index}"] = buf = io.Buffer("o", led)
                m.d.comb += buf.o.eq(signal)
        return m
