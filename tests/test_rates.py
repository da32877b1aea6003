"""The build report's rate figures (squeezefire.rates): the chip's peak
multiply rate, the MACs per cycle the cycle model achieves, their ratio,
and which bound on images/s binds."""
import pytest

from fpga.boards import BOARDS
from squeezefire.rates import rate_figures


@pytest.mark.parametrize("key, products", [("ice40", 16), ("ecp5", 156), ("gowin", 40), ("ice40-hx8k", 0)])
def test_peak_is_the_chips_multipliers_times_their_products(key, products):
    device = BOARDS[key].device
    r = rate_figures(1_298_304, 97_454, 75e6, device.dsp, device.products_per_dsp, 382.0)
    assert r.peak_macs_per_cycle == products == device.dsp * device.products_per_dsp
    assert r.peak_macs_per_s == products * 75e6
    assert r.macs_per_cycle_model == round(1_298_304 / 97_454, 3)
    assert r.peak_ratio_model == (None if products == 0 else round(1_298_304 / 97_454 / products, 4))
    assert r.images_per_s_compute_model == round(75e6 / 97_454, 1)


def test_the_smaller_bound_binds():
    slow_link = rate_figures(1000, 100, 1e6, 8, 2, 100.0)       # compute 10 000/s, link 100/s
    assert slow_link.bound == "link" and slow_link.images_per_s_link == 100.0
    slow_chip = rate_figures(1000, 100_000, 1e6, 8, 2, 100.0)   # compute 10/s
    assert slow_chip.bound == "compute" and slow_chip.images_per_s_compute_model == 10.0
    assert "(model)" in slow_chip.summary() and "of the chip's peak 16 per cycle" in slow_chip.summary()
    assert "no hard multipliers" in rate_figures(1000, 100, 1e6, 0, 1, 1.0).summary()
