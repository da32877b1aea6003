"""golden.calibration: a fixed-order float64 forward, so the quantiser's
activation maxima, and hence every bundle byte, are the same on any
machine; the reference bundle is re-made exactly under settings that used
to change its last digits."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from golden import calibration
from golden.quantize import FIRE1_BUNDLE, FIRE1_CHECKPOINT, random_fire_bundle
from golden.shapes import output_size

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("k, stride, padding", [(1, 1, 0), (3, 1, 1), (3, 2, 0), (5, 2, 2)])
def test_fixed_order_conv_is_a_convolution(k, stride, padding):
    # Small integers keep every float64 product and sum exact, so the
    # result must equal an int64 convolution to the last bit.
    rng = np.random.default_rng(k * 10 + stride)
    x = rng.integers(0, 256, (3, 4, 9, 11))
    w = rng.integers(-127, 128, (5, 4, k, k))
    b = rng.integers(-1000, 1000, 5)
    got = calibration.conv_fixed_order(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64),
                                       stride, padding)
    want = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), stride, padding).numpy()
    assert got.shape == want.shape and np.array_equal(got, want.astype(np.float64))


@pytest.mark.parametrize("k, s, ceil", [(3, 2, True), (2, 2, False), (3, 2, False)])
@pytest.mark.parametrize("h, w", [(7, 7), (8, 13), (3, 4), (28, 28)])
def test_maxpool_matches_pytorch(h, w, k, s, ceil):
    x = np.random.default_rng(h * w).normal(size=(2, 3, h, w))
    got = calibration.maxpool(x, k, s, ceil)
    want = F.max_pool2d(torch.from_numpy(x), k, s, ceil_mode=ceil).numpy()
    assert got.shape == (2, 3, output_size(h, k, s, 0, ceil), output_size(w, k, s, 0, ceil))
    assert np.array_equal(got, want)


def test_maxima_do_not_depend_on_the_batch(monkeypatch):
    bundle, images = random_fire_bundle(6, 3, 4, 4, 9, 7, seed=3, calib_images=11)
    from golden.models import Fire
    from golden.quantize import fire_graph
    torch.manual_seed(3)
    graph = fire_graph(Fire(6, 3, 4, 4), 9, 7)
    whole = calibration.activation_maxima(graph, images, 1 / 255)
    monkeypatch.setattr(calibration, "BATCH", 4)
    assert calibration.activation_maxima(graph, images, 1 / 255) == whole


def test_reference_bundle_is_remade_exactly_under_other_float_settings(tmp_path):
    # MKL_CBWR=COMPATIBLE changed three scales in their last digit when the
    # calibration ran through torch's convolutions; ATEN_CPU_CAPABILITY=default
    # selects torch's scalar kernels; one thread changes any reduction split.
    out = tmp_path / "r.bundle"
    env = dict(os.environ, MKL_CBWR="COMPATIBLE", ATEN_CPU_CAPABILITY="default", OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "golden.quantize", "--net", "fire1-fmnist", "--checkpoint",
                        str(FIRE1_CHECKPOINT), "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == FIRE1_BUNDLE.read_bytes()
