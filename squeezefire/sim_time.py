"""How long an RTL simulation will take, asked before it starts.

The estimate is the cycle model's (the accelerator's ``cycles_per_frame``)
times the images, at ``SIMULATED_CYCLES_PER_S``: the cocotb + Verilator
speed measured on the project's shared 2-core machine, ``python
golden/compare.py --images 20 --arch engine`` simulating 20 x 97 454
cycles in 46.7 s (41.7 k cycles/s; the Verilator build before it, ~2 min
the first time, is not included).  A run longer
than ``LONG_RUN_S`` by that estimate is refused unless the user asks for
it (``--long``), so a typo in ``--images`` does not start a day of
simulation."""
from __future__ import annotations

from golden.bad_input import BadInput

__all__ = ["SIMULATED_CYCLES_PER_S", "LONG_RUN_S", "estimated_seconds", "check_run_time", "duration"]

SIMULATED_CYCLES_PER_S = 40_000
LONG_RUN_S = 30 * 60


def estimated_seconds(cycles_per_image: int, images: int) -> float:
    return cycles_per_image * images / SIMULATED_CYCLES_PER_S


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def check_run_time(cycles_per_image: int, images: int, long_ok: bool) -> float:
    """The estimate in seconds; BadInput naming it and the ways out when it
    is longer than ``LONG_RUN_S`` and ``long_ok`` is not set."""
    seconds = estimated_seconds(cycles_per_image, images)
    if seconds > LONG_RUN_S and not long_ok:
        within = max(1, int(LONG_RUN_S * SIMULATED_CYCLES_PER_S // max(cycles_per_image, 1)))
        raise BadInput(f"--images {images}: the RTL simulation would take about {duration(seconds)} by the cycle "
                       f"model ({cycles_per_image} cycles per image at ~{SIMULATED_CYCLES_PER_S // 1000}k simulated "
                       f"cycles/s); give --images {within} or fewer (30 min), or --long to run it anyway")
    return seconds
