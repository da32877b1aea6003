"""Quantiser: weight round trips, multiplier precision, bias rounding."""
import numpy as np
import pytest

from golden.bundle import M_MAX
from golden.quantize import multipliers, quantize_conv, quantize_weights


def test_weight_round_trip_within_half_step():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(7, 5, 3, 3)) * rng.uniform(0.01, 3, (7, 1, 1, 1))
    w[3] = 0.0
    wq, s = quantize_weights(w)
    assert wq.dtype == np.int8 and wq.min() >= -127
    assert np.all(np.abs(w - wq * s[:, None, None, None]) <= s[:, None, None, None] / 2 + 1e-12)
    assert np.all(np.abs(wq.reshape(7, -1)).max(1)[[0, 1, 2, 4, 5, 6]] == 127)
    assert np.all(wq[3] == 0)


def test_multipliers_are_precise_and_uint16():
    rng = np.random.default_rng(1)
    for _ in range(50):
        r = rng.uniform(1e-6, 1e-1, 10) * 10.0 ** rng.integers(-3, 3)
        (m,), shift = multipliers([r], "t")
        assert m.dtype == np.uint16 and int(m.max()) <= M_MAX
        assert int(m.max()) >= M_MAX // 2          # the largest ratio uses the full width
        assert np.all(np.abs(m / 2.0**shift - r) <= 0.5 / 2.0**shift)


def test_multiplier_too_large_is_refused():
    with pytest.raises(ValueError, match="too large"):
        multipliers([np.array([1e6])], "layer 'x'")


def test_bias_quantised_at_accumulator_scale():
    rng = np.random.default_rng(2)
    p = {"weight": rng.normal(size=(4, 3, 1, 1)), "bias": rng.normal(size=4)}
    arr, shift, s_acc = quantize_conv(p, 1 / 255, 0.02, "t")
    assert arr["bias"].dtype == np.int32
    assert np.all(np.abs(arr["bias"] * s_acc - p["bias"]) <= s_acc / 2 + 1e-15)
