"""The ECP5 PLL divider search (fpga.ecp5_pll) against the frequency
formula and ecppll's limits for every target it accepts, and against the
settings Project Trellis's ecppll (yowasp-ecppll) writes."""
import re
import shutil
import subprocess
from fractions import Fraction

import pytest

from fpga.ecp5_pll import (CLKFB_DIV, CLKI_DIV, CLKOP_DIV, OUT_MHZ, PFD_MHZ, VCO_MHZ, Ecp5PllConfig,
                           ecp5_pll_config)


def _exact(cfg: Ecp5PllConfig):
    """(f_out, f_vco) in MHz from the dividers alone, exactly."""
    f_out = Fraction(cfg.f_in) / 10 ** 6 / cfg.clki_div * cfg.clkfb_div
    return f_out, f_out * cfg.clkop_div


def _within_limits(cfg: Ecp5PllConfig) -> bool:
    f_out, f_vco = _exact(cfg)
    f_pfd = Fraction(cfg.f_in) / 10 ** 6 / cfg.clki_div
    return (CLKI_DIV[0] <= cfg.clki_div <= CLKI_DIV[1] and CLKFB_DIV[0] <= cfg.clkfb_div <= CLKFB_DIV[1]
            and CLKOP_DIV[0] <= cfg.clkop_div <= CLKOP_DIV[1] and PFD_MHZ[0] <= f_pfd <= PFD_MHZ[1]
            and VCO_MHZ[0] <= f_vco <= VCO_MHZ[1] and OUT_MHZ[0] <= f_out <= OUT_MHZ[1])


def _reachable(f_in_mhz: int):
    """Every output frequency (MHz, exact) some legal setting makes from ``f_in_mhz``."""
    out = set()
    for clki in range(CLKI_DIV[0], CLKI_DIV[1] + 1):
        f_pfd = Fraction(f_in_mhz, clki)
        if not PFD_MHZ[0] <= f_pfd <= PFD_MHZ[1]:
            continue
        for clkfb in range(CLKFB_DIV[0], CLKFB_DIV[1] + 1):
            f = f_pfd * clkfb
            if OUT_MHZ[0] <= f <= OUT_MHZ[1] and any(VCO_MHZ[0] <= f * d <= VCO_MHZ[1]
                                                     for d in range(CLKOP_DIV[0], CLKOP_DIV[1] + 1)):
                out.add(f)
    return out


@pytest.mark.parametrize("f_in_mhz", [25, 12])
def test_every_reachable_target_is_made_exactly(f_in_mhz):
    # every output the ULX3S's 25 MHz crystal (and a 12 MHz one) can give
    # within the limits, each made exactly by a legal setting
    targets = sorted(_reachable(f_in_mhz))
    assert targets and targets[0] >= OUT_MHZ[0] and targets[-1] <= OUT_MHZ[1]
    for f in targets:
        cfg = ecp5_pll_config(f_in_mhz * 1e6, f.numerator / f.denominator * 1e6)
        assert _within_limits(cfg), cfg
        assert _exact(cfg)[0] == f


def test_unreachable_targets_take_the_nearest_within_one_percent():
    reachable = sorted(_reachable(25))
    for target in (33.1, 47.3, 81.7, 99.9, 133.0, 211.0):
        cfg = ecp5_pll_config(25e6, target * 1e6)
        nearest = min(abs(f - Fraction(target).limit_denominator(1000)) for f in reachable)
        assert _within_limits(cfg)
        assert abs(_exact(cfg)[0] - Fraction(target).limit_denominator(1000)) == nearest


def _ecppll(tmp_path, f_in_mhz, f_out_mhz):
    """ecppll's CLKI_DIV, CLKFB_DIV, CLKOP_DIV, CLKOP_CPHASE (run from the
    folder: YoWASP tools cannot see absolute /tmp paths)."""
    subprocess.run(["yowasp-ecppll", "-i", str(f_in_mhz), "-o", str(f_out_mhz), "-f", "pll.v"],
                   cwd=tmp_path, check=True, capture_output=True)
    text = (tmp_path / "pll.v").read_text()
    return tuple(int(re.search(rf"\.{name}\((\d+)\)", text).group(1))
                 for name in ("CLKI_DIV", "CLKFB_DIV", "CLKOP_DIV", "CLKOP_CPHASE"))


@pytest.mark.skipif(shutil.which("yowasp-ecppll") is None, reason="yowasp-ecppll not installed")
@pytest.mark.parametrize("f_in, f_out", [(25, 50), (25, 62.5), (25, 70), (25, 75), (25, 80), (25, 90),
                                         (25, 100), (25, 110), (25, 125), (25, 133), (25, 150), (12, 48),
                                         (12, 36), (100, 65)])
def test_same_frequency_as_ecppll(tmp_path, f_in, f_out):
    clki, clkfb, clkop, cphase = _ecppll(tmp_path, f_in, f_out)
    tool = Ecp5PllConfig(clki, clkfb, clkop, f_in * 1e6, f_in * 1e6 / clki * clkfb)
    ours = ecp5_pll_config(f_in * 1e6, f_out * 1e6)
    # the same output and the same VCO distance from 600 MHz; the same dividers
    # unless ecppll's single precision broke an exact tie (25 -> 133: VCO 533 1/3
    # or 666 2/3, both 66 2/3 from the centre)
    assert _exact(ours)[0] == _exact(tool)[0]
    assert abs(_exact(ours)[1] - 600) == abs(_exact(tool)[1] - 600)
    if _exact(ours)[1] == _exact(tool)[1]:
        assert (ours.clki_div, ours.clkfb_div, ours.clkop_div, ours.clkop_cphase) == (clki, clkfb, clkop, cphase)


@pytest.mark.parametrize("f_in, f_out, needle", [
    (25e6, 5e6, "output 5 MHz is outside its 10-400 MHz"),
    (25e6, 450e6, "output 450 MHz is outside its 10-400 MHz"),
    (4e6, 50e6, "input 4 MHz is outside its 8-400 MHz"),
    (25e6, 33e6, "cannot make 33 MHz from 25 MHz within 1%"),    # 33 1/3 is the nearest
    (25e6, -1, "output frequency must be a positive number"),
])
def test_impossible_frequencies_are_refused(f_in, f_out, needle):
    with pytest.raises(ValueError, match=needle):
        ecp5_pll_config(f_in, f_out)
