"""The committed reference network: reproducible from its checkpoint and
its fine-tuned shared weights, small enough for the iCE40 UP5K, with the
accuracy measured (``README.md``)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from golden.bundle import Bundle
from golden.compress import main as compress_main
from golden.quantize import REFERENCE_BUNDLE, REFERENCE_CHECKPOINT, REFERENCE_DIR

ROOT = Path(__file__).resolve().parent.parent
UP5K_EBR_BITS = 30 * 4096


def test_the_checkpoint_and_shared_weights_give_the_committed_bundle(tmp_path):
    """The fine-tuning is float training (not the same bits on every
    machine), so its result is committed; from it the bundle is remade
    exactly: codebooks, calibration and requantisation are machine-independent."""
    argv = ["--checkpoint", str(REFERENCE_CHECKPOINT), "--shared", str(REFERENCE_DIR / "reference.shared.npz"),
            "--multiplier-bits", "12", "--out", str(tmp_path / "r.bundle")]
    assert compress_main(argv) == 0
    assert (tmp_path / "r.bundle").read_bytes() == REFERENCE_BUNDLE.read_bytes()
    bundle = Bundle.load(REFERENCE_BUNDLE)
    assert bundle.version == 2 and {c.bits for c in bundle.codebooks.values()} == {3}
    assert sum(layer.kind == "fire" for layer in bundle.layers) == 4


def test_constants_leave_room_in_block_ram():
    bundle = Bundle.load(REFERENCE_BUNDLE)
    # Weights, biases and multipliers must leave at least a third of the EBR
    # for line buffers and FIFOs.
    assert bundle.weight_bits() <= UP5K_EBR_BITS * 2 // 3


@pytest.mark.slow      # the float model and the integer reference on all 10 000 test images
def test_compare_meets_the_accuracy_targets(tmp_path):
    out = tmp_path / "out.json"
    r = subprocess.run([sys.executable, "golden/compare.py", "--images", "0", "--json", str(out)], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "int8 top-1" in r.stdout
    res = json.loads(out.read_text())
    assert {"network", "dataset", "images_golden", "float_top1", "int8_top1",
            "float_int8_agreement"} <= res.keys()
    assert res["images_golden"] == 10000
    # measured 0.9171 with 3-bit codebooks, float 0.9229; issue 13 asks 0.915 (the bundle is committed and
    # golden.intref is integer arithmetic, so this holds on every machine)
    assert res["int8_top1"] >= 0.915 and res["fire_layers"] == 4 and res["weight_index_bits"] == 46512
    assert abs(res["float_top1"] - res["int8_top1"]) <= 0.01


def test_compare_reports_a_bad_bundle_in_one_line(tmp_path):
    bad = tmp_path / "bad.bundle"
    bad.write_text("not a zip")
    r = subprocess.run([sys.executable, "golden/compare.py", "--bundle", str(bad)], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "bad.bundle" in r.stderr and "Traceback" not in r.stderr
