"""The one check every PLL's divider search makes first (``fpga.pll``,
``fpga.ecp5_pll``, ``fpga.gowin_pll``): both frequencies positive numbers of Hz."""
from __future__ import annotations

__all__ = ["check_frequencies"]


def check_frequencies(f_in: float, f_out: float) -> None:
    """``ValueError`` (one line, naming which) unless both are positive numbers of Hz."""
    for name, value in (("input", f_in), ("output", f_out)):
        if not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(f"PLL {name} frequency must be a positive number of Hz, got {value!r}")
