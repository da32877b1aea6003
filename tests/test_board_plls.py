"""Each board's PLL in its board top, elaborated for the board's platform
(no tools run): the primitive with the dividers the search chose, fed from
the crystal pin, and on Gowin nextpnr's --freq set to the PLL's output
(squeezefire.build.prepare_plan)."""
import functools
import re

import pytest

from fpga.boards import BOARDS, get_board
from fpga.ecp5_pll import Ecp5PllConfig
from fpga.gowin_pll import GowinPllConfig
from fpga.pll import PllConfig
from fpga.testing import ClassSumStandIn
from fpga.toolchain import plan_commands
from fpga.top import BoardTop
from squeezefire import build as B


def test_board_clock_takes_each_familys_pll():
    assert get_board("ecp5").clock() == (25e6, None) and get_board("gowin").clock() == (27e6, None)
    hz, pll = get_board("ecp5").clock(75)
    assert hz == 75e6 and isinstance(pll, Ecp5PllConfig) and pll.f_in == 25e6
    hz, pll = get_board("gowin").clock(81)
    assert hz == 81e6 and isinstance(pll, GowinPllConfig) and pll.f_in == 27e6
    assert isinstance(get_board("ice40").clock(36)[1], PllConfig)
    with pytest.raises(ValueError, match="ECP5 PLL output 500 MHz is outside its 10-400 MHz"):
        get_board("ecp5").clock(500)


@functools.cache             # one elaboration per board (seconds each)
def _rtlil(board_key, mhz):
    board = BOARDS[board_key]
    clock_hz, pll = board.clock(mhz)
    plan = B.prepare_plan(board, BoardTop(ClassSumStandIn(), pll=pll))
    return plan, plan.files["top.il"], pll


@pytest.mark.parametrize("key, mhz, cell, params", [
    ("ecp5", 75, "EHXPLLL", lambda p: {"CLKI_DIV": p.clki_div, "CLKFB_DIV": p.clkfb_div, "CLKOP_DIV": p.clkop_div}),
    ("gowin", 81, "rPLL", lambda p: {"IDIV_SEL": p.idiv_sel, "FBDIV_SEL": p.fbdiv_sel, "ODIV_SEL": p.odiv_sel}),
])
def test_the_top_instantiates_the_pll_with_its_dividers(key, mhz, cell, params):
    plan, rtlil, pll = _rtlil(key, mhz)
    text = rtlil if isinstance(rtlil, str) else rtlil.decode()
    block = re.search(rf"cell \\{cell} .*?\n  end", text, re.S)
    assert block, f"no {cell} in the board top"
    for name, value in params(pll).items():
        assert re.search(rf"parameter \\{name} {value}\b", block.group(0)), (name, value)


def test_gowin_nextpnr_gets_the_plls_frequency():
    plan, _, _ = _rtlil("gowin", 81)
    _, pnr, _ = plan_commands(BOARDS["gowin"], plan.files)
    assert pnr[pnr.index("--freq") + 1] == "81"
