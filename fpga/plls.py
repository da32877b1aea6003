"""Each FPGA family's PLL: the divider search (``pll_config``) and the block
that makes the ``sync`` clock from it (``pll_block``).  iCE40
``SB_PLL40_PAD`` (``fpga.pll``), ECP5 ``EHXPLLL`` (``fpga.ecp5_pll``),
Gowin ``rPLL`` (``fpga.gowin_pll``).  Every config has ``f_in``, ``f_out``
(Hz), ``f_vco`` and ``describe()``."""
from __future__ import annotations

from fpga.ecp5_pll import Ecp5Pll, Ecp5PllConfig, ecp5_pll_config
from fpga.gowin_pll import GowinPll, GowinPllConfig, gowin_pll_config
from fpga.pll import Ice40Pll, PllConfig, ice40_pll_config

__all__ = ["PLL_FAMILIES", "AnyPllConfig", "pll_config", "pll_block"]

AnyPllConfig = PllConfig | Ecp5PllConfig | GowinPllConfig

_SEARCH = {"ice40": ice40_pll_config, "ecp5": ecp5_pll_config, "gowin": gowin_pll_config}
_BLOCK = {PllConfig: Ice40Pll, Ecp5PllConfig: Ecp5Pll, GowinPllConfig: GowinPll}
PLL_FAMILIES = tuple(_SEARCH)


def pll_config(family: str, f_in: float, f_out: float) -> AnyPllConfig:
    """The ``family``'s PLL dividers for ``f_out`` from ``f_in`` (Hz);
    ValueError (one line) when the family has no PLL here or the PLL cannot
    make the frequency."""
    try:
        search = _SEARCH[family]
    except KeyError:
        raise ValueError(f"no PLL for the {family} family; families with one: {', '.join(_SEARCH)}") from None
    return search(f_in, f_out)


def pll_block(config: AnyPllConfig):
    """The elaboratable driving ``sync`` from ``config``'s PLL."""
    return _BLOCK[type(config)](config)
