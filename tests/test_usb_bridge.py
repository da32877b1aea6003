"""The link's baud follows the clock (fpga.usb_bridge.fastest_baud): the
fastest rate the board's USB bridge makes exactly that the clock divides
within the UART's tolerance at 6 or more cycles per bit; each board's
engine baud (squeezefire.architectures.ENGINE_BAUD) is that rate at its
engine clock."""
import pytest

from fpga.baud import uart_divisor
from fpga.boards import BOARDS
from fpga.usb_bridge import BL702, ENGINE_MIN_DIVISOR, FT231X, FT2232H, fastest_baud
from squeezefire import architectures as A


@pytest.mark.parametrize("bridge", [FT2232H, FT231X, BL702])
@pytest.mark.parametrize("clock_mhz", [12, 24, 25, 27, 36, 48, 50, 75, 81, 90, 100.285714])
def test_fastest_baud_is_the_first_rate_that_divides(bridge, clock_mhz):
    clock_hz = clock_mhz * 1e6
    try:
        baud = fastest_baud(bridge, clock_hz)
    except ValueError as e:
        assert bridge.name in str(e)
        return
    assert uart_divisor(clock_hz, baud) >= ENGINE_MIN_DIVISOR
    for faster in bridge.rates[:bridge.rates.index(baud)]:          # every faster rate fails a rule
        ok_cycles = round(clock_hz / faster) >= ENGINE_MIN_DIVISOR
        if ok_cycles:
            with pytest.raises(ValueError):
                uart_divisor(clock_hz, faster)


def test_known_rates():
    assert fastest_baud(FT2232H, 36e6) == 6_000_000          # 12 Mbaud would be 3 cycles per bit
    assert fastest_baud(FT231X, 75e6) == 3_000_000 == FT231X.max_baud
    assert fastest_baud(FT231X, 25e6) == 1_000_000     # 3, 2, 1.5 Mbaud are 4.2, 4.2, 2.0 % off at 25 MHz
    assert fastest_baud(FT2232H, 12e6) == 2_000_000          # 6 cycles
    with pytest.raises(ValueError, match="no rate of the FT231X"):
        fastest_baud(FT231X, 5e6)


@pytest.mark.parametrize("key", sorted(A.ENGINE_BAUD))
def test_engine_baud_is_the_fastest_the_bridge_and_clock_allow(key):
    board = BOARDS[key]
    clock_hz, _ = A.arch_clock(board, "engine")
    assert A.ENGINE_BAUD[key] == fastest_baud(board.usb_bridge, clock_hz)
