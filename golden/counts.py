"""Counts the user gives (images, epochs, workers, threads): whole numbers
in a range, refused in one line naming the option and its value -- never
clamped silently to what is there."""
from __future__ import annotations

import math

from golden.bad_input import BadInput

__all__ = ["check_count", "check_seed", "MAX_THREADS", "MAX_SEED"]

MAX_THREADS = 256           # --threads: more is a typo on any CPU these commands run on
MAX_SEED = 2**32 - 1        # what torch, numpy and nextpnr all take


def check_count(value: object, option: str, minimum: int = 1, maximum: int | None = None,
                available: str = "") -> int:
    """``value`` as an int from ``minimum`` to ``maximum`` (None: no upper
    bound); ``available`` says why the maximum is what it is (e.g.
    "fashion-mnist/train has 60000 images")."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise BadInput(f"{option} {value!r}: must be a whole number")
    try:
        number = int(value) if not isinstance(value, float) else value
    except ValueError:
        raise BadInput(f"{option} {value!r}: must be a whole number") from None
    if isinstance(number, float):
        if not math.isfinite(number) or number != int(number):
            raise BadInput(f"{option} {value!r}: must be a whole number")
        number = int(number)
    why = f" ({available})" if available else ""
    if number < minimum or (maximum is not None and number > maximum):
        bounds = f"from {minimum} to {maximum}" if maximum is not None else f"at least {minimum}"
        raise BadInput(f"{option} {number}: must be {bounds}{why}")
    return number


def check_seed(value: object, option: str = "--seed") -> int:
    """A random seed every generator the commands use accepts."""
    return check_count(value, option, 0, MAX_SEED)
