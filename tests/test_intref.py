"""The pure-integer reference against PyTorch: exact where the arithmetic is
exact, bounded by the quantisation step where it approximates floats."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from golden import graph as fgraph
from golden import intref
from golden.models import SqueezeNet, family, squeezenet_v1_1
from golden.quantize import quantize, random_fire_bundle


def _torch_conv_int(x, w, b, stride, pad):
    xt = torch.from_numpy(x.astype(np.float64)).permute(0, 3, 1, 2)
    out = F.conv2d(xt, torch.from_numpy(w.astype(np.float64)), torch.from_numpy(b.astype(np.float64)),
                   stride=stride, padding=pad)
    return out.permute(0, 2, 3, 1).numpy()


@pytest.mark.parametrize("seed", range(6))
def test_conv_acc_exact_against_torch(seed):
    rng = np.random.default_rng(seed)
    cin, cout = rng.integers(1, 20, 2)
    k = int(rng.choice([1, 3, 5, 7]))
    stride, pad = int(rng.integers(1, 3)), int(rng.integers(0, k // 2 + 1))
    h, w = rng.integers(k, 20, 2)
    x = rng.integers(0, 256, (2, h, w, cin)).astype(np.uint8)
    wt = rng.integers(-127, 128, (cout, cin, k, k)).astype(np.int8)
    b = rng.integers(-2**20, 2**20, cout).astype(np.int32)
    acc = intref.conv_acc(x, wt, b, stride, pad)
    ref = _torch_conv_int(x, wt, b, stride, pad)
    assert acc.dtype == np.int64
    assert np.array_equal(acc, ref.astype(np.int64)) and np.array_equal(ref, np.rint(ref))


def test_requant_matches_python_integers():
    rng = np.random.default_rng(1)
    acc = rng.integers(-2**31, 2**31, 5000)
    m = rng.integers(0, 2**16, 5000).astype(np.uint16)
    for shift in (1, 7, 16, 31, 48):
        got = intref.requant(acc, m, shift)
        want = [min(255, max(0, (int(a) * int(mm) + (1 << (shift - 1))) >> shift)) for a, mm in zip(acc, m)]
        assert got.tolist() == want


def test_maxpool_exact_against_torch_ceil_mode():
    rng = np.random.default_rng(2)
    for h, w in [(28, 28), (14, 14), (55, 55), (3, 3), (4, 9), (111, 6)]:
        x = rng.integers(0, 256, (2, h, w, 5)).astype(np.uint8)
        ref = F.max_pool2d(torch.from_numpy(x.astype(np.float64)).permute(0, 3, 1, 2), 3, 2, ceil_mode=True)
        assert np.array_equal(intref.maxpool(x), ref.permute(0, 2, 3, 1).numpy().astype(np.uint8))


def test_argmax_ties_go_to_lowest_index():
    sums = np.array([[5, 9, 9, 1], [3, 3, 3, 3], [0, 0, 0, 7]], dtype=np.int32)
    assert intref.argmax(sums).tolist() == [1, 0, 3]


def test_gap_is_exact_sum():
    x = np.full((1, 13, 13, 3), 255, dtype=np.uint8)
    assert intref.gap(x).tolist() == [[255 * 169] * 3]


def _dequantised_error(bundle, images, graph, scales):
    """max |int8 activation * scale - float activation| / scale per layer."""
    acts_q = intref.run(bundle, images)
    acts_f = fgraph.forward(graph, torch.from_numpy(images).permute(0, 3, 1, 2).double() / 255)
    errors = {}
    for name, s in scales.items():
        f = acts_f[name].permute(0, 2, 3, 1).numpy()
        errors[name] = float(np.max(np.abs(acts_q[name].astype(np.float64) * s - np.minimum(f, 255 * s)))) / s
    return errors


def test_quantised_fire_tracks_float_within_quantisation_steps():
    bundle, images = random_fire_bundle(6, 4, 5, 7, 9, 11, seed=3)
    from golden.quantize import fire_graph
    torch.manual_seed(3)
    from golden.models import Fire
    g = fire_graph(Fire(6, 4, 5, 7), 9, 11)
    lay = bundle.layer("fire")
    err = _dequantised_error(bundle, images, g, {"fire.squeeze": lay.squeeze_scale, "fire": lay.scale})
    # Rounding of weights, biases and each requant contributes a fraction of
    # a step; the squeeze error feeds the expand through at most 9*S weights.
    assert err["fire.squeeze"] <= 1.5
    assert err["fire"] <= 4.0


def test_quantised_network_tracks_float():
    torch.manual_seed(0)
    spec = family(base_e=16, incr_e=16, num_fire=4, conv1=(8, 3, 2, 0), pool_after=(3,), bypass="complex",
                  in_channels=1, image_size=29, num_classes=5)
    net = SqueezeNet(spec).eval()
    g = fgraph.extract(net)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (8, 29, 29, 1)).astype(np.uint8)
    bundle = quantize(g, images, spec.name)
    scales = {lay.name: lay.scale for lay in bundle.layers if lay.kind != "gap"}
    err = _dequantised_error(bundle, images, g, scales)
    for name, e in err.items():
        assert e <= 12.0, (name, e)   # errors compound along the chain, but stay a few steps


def test_run_rejects_wrong_image_shape():
    bundle, _ = random_fire_bundle(3, 2, 2, 2, 4, 4)
    with pytest.raises(ValueError, match="uint8"):
        intref.run(bundle, np.zeros((1, 4, 4, 2), np.uint8))
