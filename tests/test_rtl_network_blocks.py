"""Network blocks (maxpool, classifier) in Amaranth's simulator, bit-exact
against golden.intref, with seeded random bubbles and stalls."""
import numpy as np
import pytest

from golden import intref
from rtl_gen.pipeline.classifier import Classifier
from rtl_gen.pipeline.maxpool3x3 import MaxPool3x3
from sim.lib.pysim import run_stream


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
    out, _ = run_stream(MaxPool3x3(c, h, w, rows), _beats(frames), want.size, seed=3, bubbles=0.3, stalls=0.3)
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
    from rtl_gen.pipeline.conv import Conv
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
    from rtl_gen.pipeline.conv import Conv
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


@pytest.mark.parametrize("block_ram", [False, True])
@pytest.mark.parametrize("c,h,w", [(1, 2, 2), (1, 3, 3), (3, 5, 4), (2, 4, 7), (4, 6, 6), (1, 7, 5), (2, 13, 11)])
def test_maxpool2x2_matches_golden(c, h, w, block_ram):
    """2x2/2 floor mode, an odd last row or column dropped; C = 1 reads
    what the previous beat wrote (the transparent port)."""
    from rtl_gen.pipeline.maxpool2x2 import MaxPool2x2
    rng = np.random.default_rng(c * 100 + h * 10 + w)
    frames = rng.integers(0, 256, (3, h, w, c)).astype(np.uint8)
    want = intref.maxpool(frames, 2, 2, False)
    assert want.shape[1:3] == (h // 2, w // 2)
    dut = MaxPool2x2(c, h, w, block_ram)
    out, _ = run_stream(dut, _beats(frames), want.size, seed=4, bubbles=0.3, stalls=0.3)
    assert [v for v, _, _ in out] == want.reshape(-1).tolist()
    per = want[0].size
    assert [f for _, f, _ in out] == ([1] + [0] * (per - 1)) * 3
    assert [l for _, _, l in out] == ([0] * (per - 1) + [1]) * 3


def test_maxpool2x2_takes_a_beat_per_cycle():
    """Unthrottled, the pool takes one input beat per cycle: its last output
    leaves 1 cycle after its last input beat."""
    from rtl_gen.pipeline.maxpool2x2 import MaxPool2x2
    frames = np.random.default_rng(9).integers(0, 256, (1, 6, 8, 3)).astype(np.uint8)
    want = intref.maxpool(frames, 2, 2, False)
    out, cycles = run_stream(MaxPool2x2(3, 6, 8), _beats(frames), want.size)
    assert [v for v, _, _ in out] == want.reshape(-1).tolist()
    assert cycles <= frames.size + 2


@pytest.mark.parametrize("cin,k,s,p,h,w,fill", [(3, 3, 1, 1, 5, 6, (124, 116, 104)),    # a folded Normalize
                                                (3, 3, 2, 1, 7, 6, (255, 0, 17)),       # stride 2
                                                (2, 3, 1, 1, 4, 5, (9, 9)),             # one value: a constant
                                                (1, 5, 1, 2, 6, 5, (200,))])
def test_conv_pads_with_the_fill(cin, k, s, p, h, w, fill):
    """The window generator pads channel c with ``fill[c]``, exactly
    ``golden.intref``'s padding with the input's ``pad``."""
    from rtl_gen.pipeline.conv import Conv
    rng = np.random.default_rng(cin * 10 + k + s)
    frames = rng.integers(0, 256, (2, h, w, cin)).astype(np.uint8)
    weight = rng.integers(-127, 128, (3, cin, k, k)).astype(np.int8)
    bias = rng.integers(-5000, 5000, 3).astype(np.int32)
    m = rng.integers(1, 2**16, 3).astype(np.uint16)
    want = intref.requant(intref.conv_acc(frames, weight, bias, s, p, fill), m, 22)
    assert not np.array_equal(want, intref.conv(frames, weight, bias, m, 22, s, p))     # the fill matters
    out, _ = run_stream(Conv(weight, bias, m, 22, h, w, s, p, fill=fill), _beats(frames), want.size, seed=7,
                        bubbles=0.2, stalls=0.3)
    assert [v for v, _, _ in out] == want.reshape(-1).tolist()


def test_zero_fill_is_the_same_hardware():
    """Padding with 0 given explicitly costs nothing: the same Verilog."""
    import re

    from amaranth.back import verilog

    from rtl_gen.pipeline.window import WindowGenerator
    text = [re.sub(r'\(\* src = "[^"]*" \*\)', "", verilog.convert(WindowGenerator(3, 5, 6, **kw), name="w"))
            for kw in ({}, {"fill": (0, 0, 0)})]
    assert text[0] == text[1]


def _acc(payload):
    return int(payload.data), int(payload.first), int(payload.last)


@pytest.mark.parametrize("options,lanes,k,p", [({"requant": "serial"}, 1, 1, 0), ({}, 1, 1, 0), ({}, 2, 3, 1),
                                               ({"requant": "serial"}, 1, 3, 1)])
def test_logits_conv_sends_its_accumulators(options, lanes, k, p):
    """A logits conv (``raw``): the int32 accumulators themselves, signed,
    through the output register (serial) or the FIFO (parallel)."""
    from rtl_gen.pipeline.conv import Conv
    cin, cout, h, w = 4, 6, 3, 4
    rng = np.random.default_rng(lanes * 10 + k)
    frames = rng.integers(0, 256, (3, h, w, cin)).astype(np.uint8)
    weight = rng.integers(-127, 128, (cout, cin, k, k)).astype(np.int8)
    bias = rng.integers(-200_000, 200_000, cout).astype(np.int32)
    want = intref.conv_acc(frames, weight, bias, 1, p)
    assert want.min() < 0 < want.max()
    dut = Conv(weight, bias, None, None, h, w, 1, p, lanes, options, raw=True)
    out, _ = run_stream(dut, _beats(frames), want.size, seed=8, bubbles=0.2, stalls=0.4, read=_acc)
    assert [v for v, _, _ in out] == want.reshape(-1).tolist()
    per = want[0].size
    assert [f for _, f, _ in out] == ([1] + [0] * (per - 1)) * 3
    assert [l for _, _, l in out] == ([0] * (per - 1) + [1]) * 3


@pytest.mark.parametrize("c,h,w,acc_bits", [(10, 3, 3, 22), (1, 2, 2, 2), (4, 1, 1, 32), (5, 4, 7, 27)])
def test_classifier_sums_signed_logits(c, h, w, acc_bits):
    """Signed accumulators summed and compared signed: ties to the lowest
    class, a negative maximum, and the extreme values of the width."""
    rng = np.random.default_rng(c * 7 + acc_bits)
    lo, hi = -2 ** (acc_bits - 1), 2 ** (acc_bits - 1) - 1
    frames = rng.integers(lo, hi + 1, (5, h, w, c)).astype(np.int64)
    frames[1] = -1                                  # every class ties (negative): argmax 0
    frames[2] = lo
    frames[2, :, :, c - 1] = lo + 1                 # the last class wins alone, all sums negative
    frames[3] = hi
    want = intref.gap(frames)
    dut = Classifier(c, h, w, acc_bits)
    out, _ = run_stream(dut, _beats(frames), 5 * c, seed=c, bubbles=0.3, stalls=0.3, write=lambda v: v,
                        read=lambda p: (int(p.data), int(p.argmax), int(p.first), int(p.last)))
    assert [o[0] for o in out] == want.reshape(-1).tolist()
    assert [out[(f + 1) * c - 1][1] for f in range(5)] == intref.argmax(want).tolist()
    assert intref.argmax(want)[2] == c - 1 and (want[2] < 0).all()


def test_bad_fill_and_accumulator_width_are_refused():
    from rtl_gen.pipeline.window import WindowGenerator
    with pytest.raises(ValueError, match=r"fill must hold 3 pixel values 0\.\.255"):
        WindowGenerator(3, 4, 4, fill=(1, 2))
    with pytest.raises(ValueError, match="fill must hold 1 pixel values"):
        WindowGenerator(1, 4, 4, fill=(256,))
    with pytest.raises(ValueError, match="acc_bits must be 2..32"):
        Classifier(10, 2, 2, 33)
