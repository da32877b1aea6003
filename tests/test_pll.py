"""The iCE40 PLL divider search (fpga.pll) against the datasheet formula and
limits, and against the settings Project IceStorm's icepll prints."""
import pytest

from fpga.pll import PllConfig, ice40_pll_config


def _out(cfg: PllConfig) -> float:
    return cfg.f_in * (cfg.divf + 1) / ((cfg.divr + 1) * 2 ** cfg.divq)


# (input MHz, requested MHz, (DIVR, DIVF, DIVQ, FILTER_RANGE), achieved MHz): what
# Project IceStorm's icepll prints for these requests
ICEPLL = [
    (12, 24, (0, 63, 5, 1), 24), (12, 48, (0, 63, 4, 1), 48), (12, 96, (0, 63, 3, 1), 96),
    (48, 60, (0, 19, 4, 4), 60), (48, 100, (2, 49, 3, 1), 100), (48, 150, (1, 24, 2, 2), 150),
    (48, 25, (2, 49, 5, 1), 25), (48, 24, (0, 15, 5, 4), 24), (96, 16, (2, 31, 6, 3), 16),
    (100, 16, (3, 40, 6, 2), 16.015625),
]


@pytest.mark.parametrize("f_in, f_out, want, achieved", ICEPLL)
def test_same_settings_as_icepll(f_in, f_out, want, achieved):
    cfg = ice40_pll_config(f_in * 1e6, f_out * 1e6)
    assert (cfg.divr, cfg.divf, cfg.divq, cfg.filter_range) == want
    assert cfg.f_out == _out(cfg) == achieved * 1e6
    assert cfg.describe().startswith(f"SB_PLL40_PAD from {f_in} MHz: DIVR {want[0]}, DIVF {want[1]}, DIVQ {want[2]},")


@pytest.mark.parametrize("f_out_mhz", [16, 20, 25, 33, 36, 42, 50, 66, 100, 133, 200, 275])
def test_every_setting_obeys_the_limits(f_out_mhz):
    cfg = ice40_pll_config(12e6, f_out_mhz * 1e6)
    f_pfd = cfg.f_in / (cfg.divr + 1)
    assert 10e6 <= f_pfd <= 133e6 and 533e6 <= cfg.f_vco <= 1066e6
    assert 0 <= cfg.divr <= 15 and 0 <= cfg.divf <= 127 and 1 <= cfg.divq <= 6
    assert cfg.f_out == _out(cfg) and abs(cfg.f_out - f_out_mhz * 1e6) <= 0.01 * f_out_mhz * 1e6


@pytest.mark.parametrize("f_in, f_out, needle", [
    (12e6, 10e6, "outside the iCE40 PLL's 16-275 MHz"),
    (12e6, 300e6, "outside"),
    (12e6, -1, "output frequency must be a positive number"),
    (0, 24e6, "input frequency must be a positive number"),
    (5e6, 24e6, "cannot make 24 MHz from 5 MHz"),       # PFD below 10 MHz for every DIVR
])
def test_impossible_frequencies_are_refused(f_in, f_out, needle):
    with pytest.raises(ValueError, match=needle):
        ice40_pll_config(f_in, f_out)


def test_board_clocks():
    from fpga.boards import get_board
    hz, pll = get_board("ice40").clock()
    assert hz == 24e6 and (pll.divr, pll.divf, pll.divq) == (0, 63, 5)
    assert get_board("ice40-hx8k").clock() == (12e6, None)          # its oscillator, no PLL
