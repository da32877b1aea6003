"""The iCE40 PLL divider search (fpga.pll) against the datasheet formula and
limits, and against settings Project IceStorm's icepll prints."""
import pytest

from fpga.pll import PllConfig, ice40_pll_config


def _out(cfg: PllConfig) -> float:
    return cfg.f_in * (cfg.divf + 1) / ((cfg.divr + 1) * 2 ** cfg.divq)


@pytest.mark.parametrize("f_in, f_out, want", [
    (12e6, 24e6, (0, 63, 5, 1)),        # VCO 768 MHz
    (12e6, 48e6, (0, 63, 4, 1)),        # icepll -i 12 -o 48
    (12e6, 30e6, (0, 79, 5, 1)),        # VCO 960 MHz
])
def test_known_settings(f_in, f_out, want):
    cfg = ice40_pll_config(f_in, f_out)
    assert (cfg.divr, cfg.divf, cfg.divq, cfg.filter_range) == want
    assert cfg.f_out == _out(cfg) == f_out


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
