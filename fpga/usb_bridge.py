"""The USB-UART bridges on the boards and the baud rates they make
exactly, and the fastest of them a board's clock also divides
(``fastest_baud``): what the host link runs at.

* FT2232H (iCEBreaker, HX8K breakout): 12 MHz / n, up to 12 Mbaud.
* FT231X (ULX3S): 3 MHz / n (and the FT-X's special 2 Mbaud), up to 3 Mbaud.
* BL702 (Tang Nano 9K), Sipeed's firmware emulating an FTDI serial port:
  it decodes the FTDI divisor the host sends -- 0 is 3 Mbaud, 1 is 2 Mbaud,
  else 48 MHz / (16 · divisor) (``usbd_ftdi.c``, ``ftdi_set_baudrate``, in
  sipeed/RV-Debugger-BL702) -- so 3 Mbaud is its ceiling; a user reports
  clean transfers at 3 Mbaud (sipeed/TangNano-9K-example issue 7).  How
  exactly the BL702's own UART makes the rate is not documented: the
  receiver's tolerance at the Tang Nano's 27 or more cycles per bit (about
  −4 % … +5.5 %, ``python -m sim.uart_margin``) covers a divider error of a
  few per cent.  Untested on hardware here.
"""
from __future__ import annotations

from dataclasses import dataclass

from fpga.baud import uart_divisor

__all__ = ["UsbBridge", "FT2232H", "FT231X", "BL702", "ENGINE_MIN_DIVISOR", "fastest_baud"]

# cycles per bit the link is run at, at least: the receiver holds a host
# clock -3.0 % .. +5.5 % off at 6 (python -m sim.uart_margin; docs/host-link.md)
ENGINE_MIN_DIVISOR = 6


@dataclass(frozen=True)
class UsbBridge:
    name: str
    rates: tuple[int, ...]      # the rates it makes exactly, fastest first

    @property
    def max_baud(self) -> int:
        return self.rates[0]


FT2232H = UsbBridge("FT2232H", (12_000_000, 6_000_000, 4_000_000, 3_000_000, 2_400_000, 2_000_000,
                                1_500_000, 1_000_000))
FT231X = UsbBridge("FT231X", (3_000_000, 2_000_000, 1_500_000, 1_000_000))
BL702 = UsbBridge("BL702 (FTDI emulation)", (3_000_000, 2_000_000, 1_500_000, 1_000_000))


def fastest_baud(bridge: UsbBridge, clock_hz: float, min_divisor: int = ENGINE_MIN_DIVISOR) -> int:
    """The fastest rate ``bridge`` makes exactly that ``clock_hz`` divides
    within the UART's tolerance (``fpga.baud.uart_divisor``: 1 %) at
    ``min_divisor`` or more cycles per bit; ValueError naming the bridge and
    clock when none does."""
    for baud in bridge.rates:
        if round(clock_hz / baud) < min_divisor:
            continue
        try:
            uart_divisor(clock_hz, baud)
        except ValueError:
            continue
        return baud
    raise ValueError(f"no rate of the {bridge.name} ({', '.join(map(str, bridge.rates))} baud) divides "
                     f"{clock_hz / 1e6:g} MHz within 1 % at {min_divisor} or more cycles per bit")
