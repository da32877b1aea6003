"""The Gowin rPLL divider search (fpga.gowin_pll) against the frequency
formula and the GW1NR-9's limits for every target it accepts, and against
the settings Apicula's gowin_pll writes."""
import re
import shutil
import subprocess
from fractions import Fraction

import pytest

from fpga.gowin_pll import FBDIV_SEL, IDIV_SEL, ODIV_SEL, OUT_MHZ, PFD_MHZ, VCO_MHZ, GowinPllConfig, gowin_pll_config


def _exact(cfg: GowinPllConfig):
    f_out = Fraction(cfg.f_in) / 10 ** 6 / (cfg.idiv_sel + 1) * (cfg.fbdiv_sel + 1)
    return f_out, f_out * cfg.odiv_sel


def _within_limits(cfg: GowinPllConfig) -> bool:
    f_out, f_vco = _exact(cfg)
    f_pfd = Fraction(cfg.f_in) / 10 ** 6 / (cfg.idiv_sel + 1)
    return (cfg.idiv_sel in IDIV_SEL and cfg.fbdiv_sel in FBDIV_SEL and cfg.odiv_sel in ODIV_SEL
            and PFD_MHZ[0] <= f_pfd <= PFD_MHZ[1] and VCO_MHZ[0] < f_vco < VCO_MHZ[1]
            and OUT_MHZ[0] < f_out < OUT_MHZ[1])


def _reachable(f_in_mhz: int):
    out = set()
    for idiv in IDIV_SEL:
        f_pfd = Fraction(f_in_mhz, idiv + 1)
        if not PFD_MHZ[0] <= f_pfd <= PFD_MHZ[1]:
            continue
        for fbdiv in FBDIV_SEL:
            f = f_pfd * (fbdiv + 1)
            if OUT_MHZ[0] < f < OUT_MHZ[1] and any(VCO_MHZ[0] < f * d < VCO_MHZ[1] for d in ODIV_SEL):
                out.add(f)
    return out


def test_every_reachable_target_is_made_exactly():
    # every output the Tang Nano 9K's 27 MHz crystal can give, within the limits
    targets = sorted(_reachable(27))
    assert targets and OUT_MHZ[0] < targets[0] and targets[-1] < OUT_MHZ[1]
    for f in targets:
        cfg = gowin_pll_config(27e6, f.numerator / f.denominator * 1e6)
        assert _within_limits(cfg), cfg
        assert _exact(cfg)[0] == f


def _gowin_pll(tmp_path, f_in_mhz, f_out_mhz):
    subprocess.run(["gowin_pll", "-i", str(f_in_mhz), "-o", str(f_out_mhz), "-d", "GW1NR-LV9QN88PC6/I5",
                    "-f", "pll.v"], cwd=tmp_path, check=True, capture_output=True)
    text = (tmp_path / "pll.v").read_text()
    return tuple(int(re.search(rf"\.{name}\((\d+)\)", text).group(1)) for name in ("IDIV_SEL", "FBDIV_SEL", "ODIV_SEL"))


@pytest.mark.skipif(shutil.which("gowin_pll") is None, reason="Apicula's gowin_pll not installed")
@pytest.mark.parametrize("f_out", [27, 50, 54, 60, 67.5, 72, 81, 90, 100, 108, 135])
def test_same_settings_as_gowin_pll(tmp_path, f_out):
    cfg = gowin_pll_config(27e6, f_out * 1e6)
    assert (cfg.idiv_sel, cfg.fbdiv_sel, cfg.odiv_sel) == _gowin_pll(tmp_path, 27, f_out)
    assert cfg.f_out == pytest.approx(float(_exact(cfg)[0]) * 1e6, rel=1e-12)


@pytest.mark.parametrize("f_in, f_out, needle", [
    (27e6, 3e6, "output 3 MHz is outside its 3.125-600 MHz"),
    (27e6, 700e6, "output 700 MHz is outside"),
    (27e6, 40e6, "cannot make 40 MHz from 27 MHz within 1%"),     # 40.5 is the nearest
    (0, 50e6, "input frequency must be a positive number"),
])
def test_impossible_frequencies_are_refused(f_in, f_out, needle):
    with pytest.raises(ValueError, match=needle):
        gowin_pll_config(f_in, f_out)
