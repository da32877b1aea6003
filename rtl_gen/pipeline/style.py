"""The pipeline's two styles, chosen per board (``fpga.boards.Board.style``)."""
from __future__ import annotations

from enum import StrEnum

__all__ = ["Style"]


class Style(StrEnum):
    """``FAST``: lanes folded to the DSP budget, parallel requantisers
    (devices with DSPs and block RAMs to spare).  ``SMALL``: one lane per
    unit, bit-serial requantisers and bypass adders, memories in block RAM
    (the iCE40s)."""
    FAST = "fast"
    SMALL = "small"
