"""The simulation top of the whole board: ``fpga.board_core.BoardCore``
(UART RX -> HostLink -> accelerator -> HostLink -> UART TX), the same logic
``fpga.top.BoardTop`` puts on the board's pins, with plain ports instead of
a platform.

The clock, baud rate and image buffer default to the iCEBreaker pipeline
build's (24 MHz from its PLL, 1 Mbaud: 24 cycles per bit; the image in SPRAM, simulated with
``sim/lib/models/SB_SPRAM256KA.v``), so the UART timing simulated is the
board's.  ``cycle``
counts clock cycles since reset, so the test can report cycles per round
trip without converting simulation time.
"""
from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from fpga.board_core import DEFAULT_BAUD, LINK_TIMEOUT_S, BoardCore
from fpga.boards import get_board

__all__ = ["BoardHarness", "BOARD_CLOCK_HZ"]

BOARD_CLOCK_HZ, _ = get_board("ice40").clock()     # the iCEBreaker build's: its PLL's output


class BoardHarness(wiring.Component):
    def __init__(self, accelerator, *, clock_hz: float = BOARD_CLOCK_HZ, baud: int = DEFAULT_BAUD,
                 timeout_s: float = LINK_TIMEOUT_S, image_ram: str = "spram", network_id: int = 0):
        self.core = BoardCore(accelerator, clock_hz=clock_hz, baud=baud, timeout_s=timeout_s, image_ram=image_ram,
                              network_id=network_id)
        self.models = ("SB_SPRAM256KA.v",) if image_ram == "spram" else ()
        self.divisor = self.core.divisor
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "frame_led": Out(1),
                          "error_led": Out(1), "busy": Out(1), "cycle": Out(32)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = self.core
        m.d.comb += [core.rx.eq(self.rx), self.tx.eq(core.tx), self.frame_led.eq(core.frame_led),
                     self.error_led.eq(core.error_led), self.busy.eq(core.busy)]
        m.d.sync += self.cycle.eq(self.cycle + 1)
        return m
