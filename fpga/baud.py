"""The host link's baud-rate rules, without Amaranth (the host driver
checks ``--baud`` with them before it imports anything heavy)."""
from __future__ import annotations

import math

__all__ = ["DEFAULT_BAUD", "LINK_TIMEOUT_S", "MIN_DIVISOR", "check_baud", "uart_divisor"]

# Mid-bit sampling needs a few cycles per bit to place the sample away from
# the edges; with the 2-flop synchroniser, 4 is the practical floor.
MIN_DIVISOR = 4

DEFAULT_BAUD = 1_000_000
# HostLink answers TIMEOUT when a frame's next byte is this late (docs/host-link.md)
LINK_TIMEOUT_S = 0.05
BYTE_BITS = 10              # start, 8 data, stop
# A byte may take at most this fraction of the timeout, so that a host's
# pauses between bytes (USB packets, scheduling) still fit in the rest.
MAX_BYTE_SHARE = 0.25


def _check_baud_value(baud) -> None:
    if not isinstance(baud, int) or baud < 1:
        raise ValueError(f"baud must be a positive integer, got {baud!r}")


def uart_divisor(clock_hz: float, baud: int) -> int:
    """Cycles per bit; refuses a rate the clock cannot produce within 1 %."""
    _check_baud_value(baud)
    divisor = round(clock_hz / baud)
    if divisor < MIN_DIVISOR:
        raise ValueError(f"{baud} baud is too fast for a {clock_hz / 1e6:g} MHz clock "
                         f"(needs at least {MIN_DIVISOR} cycles per bit)")
    error = abs(clock_hz / divisor - baud) / baud
    if error > 0.01:
        raise ValueError(f"{baud} baud is {error:.1%} off at {clock_hz / 1e6:g} MHz "
                         f"(nearest divisor {divisor}); pick a rate that divides the clock")
    return divisor


def check_baud(clock_hz: float | None, baud: int, timeout_s: float = LINK_TIMEOUT_S) -> None:
    """ValueError naming the problem with ``baud``: a rate the clock cannot
    make (when the clock is known), or one so slow that a byte takes more
    than ``MAX_BYTE_SHARE`` of the link's inter-byte timeout -- at 123 baud
    a byte takes 81 ms, longer than the whole 50 ms timeout, so no frame
    could ever be received."""
    _check_baud_value(baud)
    if clock_hz is not None:
        uart_divisor(clock_hz, baud)
    byte_s = BYTE_BITS / baud
    if byte_s > MAX_BYTE_SHARE * timeout_s:
        slowest = math.ceil(BYTE_BITS / (MAX_BYTE_SHARE * timeout_s))
        raise ValueError(f"{baud} baud is too slow for the host link: a byte ({BYTE_BITS} bits) takes "
                         f"{byte_s * 1e3:.3g} ms, more than a quarter of its {timeout_s * 1e3:g} ms "
                         f"inter-byte timeout; use at least {slowest} baud")


