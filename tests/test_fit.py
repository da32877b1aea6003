"""rtl_gen.fit: the pre-synthesis estimate accepts what fits and refuses,
in seconds and with one line, what cannot."""
import time
from types import SimpleNamespace

import pytest

from rtl_gen import build as B
from rtl_gen.boards import BOARDS
from rtl_gen.fit import FitError, check_fit, estimate

UP5K = BOARDS["ice40"].device
HX8K = BOARDS["ice40-hx8k"].device


def _acc(**est):
    return SimpleNamespace(in_shape=(28, 28, 1), resource_estimate={"lut": 100, "dsp": 0, "bram_bits": 0, **est})


def test_small_design_fits():
    est = estimate(_acc(dsp=4, bram_bits=72_544), UP5K)
    check_fit(est, UP5K)
    assert est.bram_blocks == 18 + 2          # weights + the link's 784-byte image buffer


@pytest.mark.parametrize("est, message", [
    (dict(dsp=40), "does not fit iCE40 UP5K: needs 40 DSP (has 8)"),
    (dict(lut=9000), "does not fit iCE40 UP5K: needs 9420 LUT (has 5280)"),
    (dict(bram_bits=200_000), "does not fit iCE40 UP5K: needs 51 block RAM blocks (has 30)"),
    (dict(spram_bits=2_000_000), "needs 2000000 SPRAM bits (has 1048576)"),
])
def test_refuses_with_one_line(est, message):
    with pytest.raises(FitError) as e:
        check_fit(estimate(_acc(**est), UP5K), UP5K)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_no_dsp_device_pays_in_luts():
    est = estimate(_acc(dsp=8), HX8K)
    assert est.dsp == 0 and est.lut == 100 + 420 + 8 * HX8K.mult_lut_cost
    with pytest.raises(FitError, match="LUT"):
        check_fit(estimate(_acc(dsp=200), HX8K), HX8K)


def _fake_bundle(width, fires):
    layers = [{"name": "input", "kind": "input", "inputs": [], "shape": [64, 64, 3]},
              {"name": "conv1", "kind": "conv", "inputs": ["input"], "kernel": 3, "shape": [64, 64, width]}]
    prev = "conv1"
    for k in range(fires):
        layers.append({"name": f"fire{k}", "kind": "fire", "inputs": [prev], "s1x1": width // 4,
                       "e1x1": width // 2, "e3x3": width // 2, "shape": [64, 64, width]})
        prev = f"fire{k}"
    layers.append({"name": "gap", "kind": "gap", "inputs": [prev], "shape": [1, 1, 10]})
    return SimpleNamespace(layers=layers, weight_bits=lambda: fires * width * width * 8 * 6)


def test_huge_network_refused_in_seconds(monkeypatch, tmp_path, capsys):
    """A deliberately huge network (bundle model, no hardware generated) is
    refused by the build command before any tool runs."""
    huge = _fake_bundle(width=256, fires=8)
    t = time.monotonic()
    with pytest.raises(FitError, match=r"does not fit iCE40 UP5K: needs \d+ DSP \(has 8\)"):
        check_fit(estimate(SimpleNamespace(in_shape=(64, 64, 3)), UP5K, huge), UP5K)
    # Through the command line: the stand-in path with an oversized estimate.
    from fpga.testing import ClassSumStandIn

    def huge_standin(bundle=None):
        acc = ClassSumStandIn((28, 28, 1), 10)
        acc.resource_estimate = {"lut": 200_000, "dsp": 0, "bram_bits": 0}
        acc._MustUse__silence = True
        return acc

    monkeypatch.setitem(B.ACCELERATORS, "standin", huge_standin)
    out = tmp_path / "o"
    assert B.main(["--board", "ice40", "--accelerator", "standin", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: does not fit iCE40 UP5K: needs 200420 LUT (has 5280)"
    assert time.monotonic() - t < 10 and not out.exists()


def test_reference_bundle_model():
    """1 multiplier per MAC unit: conv1, 3 x 3 Fire parts, conv10 = 11, more
    than the UP5K's 8 DSPs (synth_ice40 -dsp maps every multiplier to one)."""
    from golden.bundle import Bundle
    bundle = Bundle.load(B.DEFAULT_BUNDLE)
    est = estimate(SimpleNamespace(in_shape=(28, 28, 1)), UP5K, bundle)
    assert est.dsp == 11 and est.bram_bits >= bundle.weight_bits() and est.bram_blocks <= 30
    with pytest.raises(FitError, match="needs 11 DSP"):
        check_fit(est, UP5K)
    check_fit(estimate(SimpleNamespace(in_shape=(28, 28, 1), mac_lanes=11), BOARDS["ecp5"].device, bundle),
              BOARDS["ecp5"].device)
