"""The board top: accelerator + UART host link + status LEDs.

Clock: the board's crystal, or a PLL from it (``fpga.plls``: iCE40, ECP5,
Gowin) where the board entry or the architecture asks for one
(``fpga.boards.Board.pll_mhz``, ``Board.clock``; iCEBreaker: 24 MHz from
its 12 MHz crystal for the pipeline; the Fire engine's
``squeezefire.architectures.ENGINE_CLOCK_MHZ``).  In the small accelerator style
the compute time of a frame (``cycles_per_frame``, about 0.9 M cycles for
the reference network) is several times the UART transfer of the image, so
the system clock sets the frame rate the host sees.

Baud rate: 1 Mbaud by default; the Fire engine's is the fastest its board's
USB bridge makes that its clock divides (``squeezefire.architectures.ENGINE_BAUD``,
``fpga.usb_bridge``: 6 Mbaud on the iCEBreaker, 3 Mbaud on the ULX3S and the
Tang Nano 9K).  At 12 MHz 1 Mbaud is an exact divisor of 12
cycles per bit (24 at 24 MHz; 0 % error on both sides: the FT2232H derives
1 Mbaud exactly from its 3 MHz base rate), and 12 or more samples per bit
leave a wide margin for the mid-bit sample.  3 Mbaud (divisor 4 at 12 MHz)
also divides exactly and works with this UART, but at 12 MHz leaves only 4
cycles per bit -- a 1-cycle synchroniser uncertainty is 25 % of a bit -- so
it is not the default.  1 Mbaud moves the
reference 28x28 image in about 8 ms.

Pins: ``("uart", 0)`` of the amaranth-boards platform (the iCEBreaker's FTDI
channel B), only ``rx`` and ``tx`` used; LEDs ``("led", 1)`` (green on the iCEBreaker) toggles per
answered frame and ``("led", 0)`` (red) is lit after an error reply.
"""
from __future__ import annotations

from dataclasses import KW_ONLY, dataclass

from amaranth.hdl import ClockDomain, Elaboratable, Module
from amaranth.build import ResourceError
from amaranth.lib import io

from fpga.board_core import DEFAULT_BAUD, LINK_TIMEOUT_S, BoardCore, check_link, uart_divisor
from fpga.plls import AnyPllConfig, pll_block
from rtl_gen.params import ParamsFirst

__all__ = ["BoardTop", "BoardTopParams", "DEFAULT_BAUD", "uart_divisor"]


@dataclass(frozen=True, eq=False)
class BoardTopParams:
    """The ``accelerator`` (see ``BoardTop``), ``baud``, ``clock_hz`` (None:
    the PLL's output, else the platform's clock at elaboration),
    ``timeout_s``, ``image_ram``, an optional ``pll`` and the ``network_id``
    the link's info reply names."""
    accelerator: object
    _: KW_ONLY
    baud: int = DEFAULT_BAUD
    clock_hz: float | None = None
    timeout_s: float = LINK_TIMEOUT_S
    image_ram: str = "block"
    pll: AnyPllConfig | None = None
    network_id: int = 0

    def __post_init__(self):
        if self.clock_hz is None and self.pll is not None:
            object.__setattr__(self, "clock_hz", self.pll.f_out)
        check_link(self.accelerator, self.clock_hz, self.baud, self.timeout_s)     # fail early, before elaboration


class BoardTop(Elaboratable, metaclass=ParamsFirst):
    """Wrapper elaborated by an amaranth-boards platform: ``fpga.board_core.BoardCore``
    on the platform's UART and LED pins.

    ``accelerator``: a component implementing
    ``rtl_gen.accelerator.AcceleratorSignature``.  ``clock_hz``: overrides the platform's
    default clock frequency (used for simulation without a platform, where
    the serial lines are ``core.rx``/``core.tx``, ``core`` being set by
    elaboration).  ``pll``: a PLL config (``fpga.plls``: iCE40, ECP5, Gowin) whose
    output becomes the ``sync`` clock; ``clock_hz`` then defaults to its output.

    Latency/throughput/back-pressure: those of ``HostLink`` and the UART
    (two requests outstanding; 10 bit-times per byte each way).
    """

    Params = BoardTopParams

    def __init__(self, params: BoardTopParams):
        accelerator, baud, clock_hz = params.accelerator, params.baud, params.clock_hz
        timeout_s, image_ram, pll = params.timeout_s, params.image_ram, params.pll
        self.accelerator = accelerator
        self.baud = baud
        self.clock_hz = clock_hz
        self.timeout_s = timeout_s
        self.image_ram = image_ram          # "spram" on the iCE40 UP5K (fpga.image_store)
        self.pll = pll
        self.network_id = params.network_id
        self.core = None        # the BoardCore, once elaborated

    def elaborate(self, platform):
        m = Module()
        clock_hz = self.clock_hz if self.clock_hz is not None else platform.default_clk_frequency
        m.submodules.core = core = BoardCore(self.accelerator, clock_hz=clock_hz, baud=self.baud,
                                             timeout_s=self.timeout_s, image_ram=self.image_ram,
                                             network_id=self.network_id)
        self.core = core

        if platform is not None:
            if self.pll is not None:
                m.domains.sync = ClockDomain()
                m.submodules.pll = pll_block(self.pll)
            # dir="-" for every subsignal: some boards' UART also has handshake
            # lines (ULX3S: rts, dtr; HX8K breakout: rts..dcd), left unconnected.
            uart = platform.request("uart", 0, dir="-")
            m.submodules.rx_pin = rx_pin = io.Buffer("i", uart.rx)
            m.submodules.tx_pin = tx_pin = io.Buffer("o", uart.tx)
            m.d.comb += [core.rx.eq(rx_pin.i), tx_pin.o.eq(core.tx)]
            for index, signal in ((0, core.error_led), (1, core.frame_led)):
                try:
                    led = platform.request("led", index, dir="-")
                except ResourceError:
                    continue
                m.submodules[f"led{index}"] = buf = io.Buffer("o", led)
                m.d.comb += buf.o.eq(signal)
        return m
