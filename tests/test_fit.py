"""rtl_gen.fit: the pre-synthesis estimate accepts what fits and refuses,
in seconds and with one line, what cannot."""
import time
from types import SimpleNamespace

import pytest

from golden.layers import ConvLayer, FireLayer, FireShifts, GapLayer, InputLayer, Shape
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
    """Typed layers only (no arrays): what the bundle model reads."""
    conv = dict(scale=1.0, stride=1, padding=1, shift=8)
    layers = [InputLayer("input", (), Shape(64, 64, 3), scale=1 / 255),
              ConvLayer("conv1", ("input",), Shape(64, 64, width), kernel=3, **conv)]
    prev = "conv1"
    for k in range(fires):
        layers.append(FireLayer(f"fire{k}", (prev,), Shape(64, 64, width), scale=1.0, cin=width,
                                s1x1=width // 4, e1x1=width // 2, e3x3=width // 2,
                                shift=FireShifts(8, 8, 8), squeeze_scale=1.0))
        prev = f"fire{k}"
    layers.append(GapLayer("gap", (prev,), Shape(1, 1, 10)))
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

    def huge_standin(bundle=None, style="fast"):
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


def test_reference_network_design_model():
    """The design model walks the elaborated network: the "small" style
    (one product per MAC unit, serial requantisers) fits the UP5K with the
    link's image in SPRAM; the "fast" style (3 DSPs per lane) does not."""
    from golden.bundle import Bundle
    from rtl_gen.network import Network
    bundle = Bundle.load(B.DEFAULT_BUNDLE)
    est = estimate(Network(bundle, style="small"), UP5K, bundle, image_in_bram=False)
    assert est.source == "design model" and est.dsp == 5 and est.bram_blocks <= 30     # one DSP per MAC unit
    assert est.spram_bits == 256 * 1024
    check_fit(est, UP5K)
    with pytest.raises(FitError, match=r"does not fit iCE40 UP5K: needs \d+ DSP \(has 8\)"):
        check_fit(estimate(Network(bundle, style="fast"), UP5K, bundle), UP5K)


@pytest.mark.parametrize("width,depth,shapes,blocks", [
    (8, 1152, "ice40", 3), (8, 144, "ice40", 1), (10, 559, "ice40", 3), (8, 559, "ice40", 2),
    (32, 32, "ice40", 2), (8, 3456, "ecp5", 2), (36, 512, "ecp5", 1)])
def test_memory_blocks(width, depth, shapes, blocks):
    from rtl_gen.fit import memory_blocks
    assert memory_blocks(width, depth, BOARDS[shapes].device.bram_shapes) == blocks
