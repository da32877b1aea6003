"""Network blocks (maxpool, classifier) in Amaranth's simulator, bit-exact
against golden.intref, with seeded random bubbles and stalls."""
import numpy as np
import pytest

from golden import intref
from rtl_gen.classifier import Classifier
from rtl_gen.maxpool import MaxPool
from sim.pysim import run_stream


def _beats(frames):
    out = []
    for x in frames:
        flat = x.reshape(-1)
        out += [(int(v), int(i == 0), int(i == flat.size - 1)) for i, v in enumerate(flat)]
    return out


@pytest.mark.parametrize("rows", [None, 3])
@pytest.mark.parametrize("c,h,w", [(1, 3, 3), (2, 4, 4), (3, 7, 6), (1, 28, 5), (4, 5, 9)])
def test_maxpool_matches_golden(c, h, w, rows):
    rng = np.random.default_rng(c * 100 + h * 10 + w)
    frames = rng.integers(0, 256, (3, h, w, c)).astype(np.uint8)
    want = intref.maxpool(frames)
    out, _ = run_stream(MaxPool(c, h, w, rows), _beats(frames), want.size, seed=3, bubbles=0.3, stalls=0.3)
    assert [v for v, _, _ in out] == want.reshape(-1).tolist()
    per = want[0].size
    assert [f for _, f, _ in out] == ([1] + [0] * (per - 1)) * 3
    assert [l for _, _, l in out] == ([0] * (per - 1) + [1]) * 3


@pytest.mark.parametrize("c,h,w", [(10, 3, 3), (1, 2, 2), (3, 1, 1), (5, 4, 7)])
def test_classifier_sums_and_argmax(c, h, w):
    rng = np.random.default_rng(c + h + w)
    frames = rng.integers(0, 256, (4, h, w, c)).astype(np.uint8)
    frames[1] = 7                                   # every class ties: argmax must be 0
    frames[2, :, :, c - 1] = 255                    # the last class wins alone
    out, _ = run_stream(Classifier(c, h, w), _beats(frames), 4 * c, seed=c, bubbles=0.3, stalls=0.3,
                        read=lambda p: (int(p.data), int(p.argmax), int(p.first), int(p.last)))
    sums = intref.gap(frames)
    assert [o[0] for o in out] == sums.reshape(-1).tolist()
    assert [out[(f + 1) * c - 1][1] for f in range(4)] == intref.argmax(sums).tolist()
    assert [o[2] for o in out] == ([1] + [0] * (c - 1)) * 4
    assert [o[3] for o in out] == ([0] * (c - 1) + [1]) * 4


@pytest.mark.parametrize("cin,cout,k,s,p,h,w,lanes", [(3, 4, 7, 2, 0, 13, 11, 2),    # v1.0 conv1 shape
                                                      (3, 6, 3, 2, 0, 9, 9, 3),      # v1.1 conv1 shape
                                                      (1, 4, 3, 1, 1, 6, 5, 4)])     # grayscale, padded
def test_conv_layer_matches_golden(cin, cout, k, s, p, h, w, lanes):
    from rtl_gen.conv import Conv
    rng = np.random.default_rng(k * 10 + cin)
    frames = rng.integers(0, 256, (2, h, w, cin)).astype(np.uint8)
    weight = rng.integers(-127, 128, (cout, cin, k, k)).astype(np.int8)
    bias = rng.integers(-5000, 5000, cout).astype(np.int32)
    m = rng.integers(1, 2**16, cout).astype(np.uint16)
    shift = 22
    want = intref.conv(frames, weight, bias, m, shift, s, p)
    assert 0 < np.count_nonzero(want) < want.size      # neither all clamped to 0 nor to 255
    dut = Conv(weight, bias, m, shift, h, w, s, p, lanes)
    out, _ = run_stream(dut, _beats(frames), want.size, seed=5, bubbles=0.2, stalls=0.3)
    assert [v for v, _, _ in out] == want.reshape(-1).tolist()


@pytest.mark.parametrize("bits,lanes", [(3, 2), (1, 4)])
def test_codebook_conv_matches_golden(bits, lanes):
    """A padded 3x3 conv whose ROM holds codebook indices, reordered to the
    window's (ky, kx, c) order with the weights: bit-exact."""
    from golden.codebook import Codebook
    from rtl_gen.conv import Conv
    cin, cout, h, w = 2, 4, 5, 6
    rng = np.random.default_rng(bits)
    frames = rng.integers(0, 256, (2, h, w, cin)).astype(np.uint8)
    codebook = Codebook(rng.integers(-127, 128, 2 ** bits).astype(np.int8),
                        rng.integers(0, 2 ** bits, (cout, cin, 3, 3)).astype(np.uint8))
    bias = rng.integers(-5000, 5000, cout).astype(np.int32)
    m = rng.integers(1, 2**16, cout).astype(np.uint16)
    want = intref.conv(frames, codebook.weights(), bias, m, 20, 1, 1)
    assert 0 < np.count_nonzero(want) < want.size
    dut = Conv(codebook.weights(), bias, m, 20, h, w, 1, 1, lanes, codebook=codebook)
    assert dut.mac.codebook.indices.shape == (cout, 9 * cin)
    out, _ = run_stream(dut, _beats(frames), want.size, seed=6, bubbles=0.2, stalls=0.3)
    assert [v for v, _, _ in out] == want.reshape(-1).tolist()
