"""SerialRequant (shift-add requantiser, no multiplier) in Amaranth's
simulator, bit-exact against golden.intref.requant."""
import numpy as np
import pytest

from golden import intref
from rtl_gen.pipeline.serial_requant import CYCLES_PER_VALUE, SerialRequant
from sim.lib.pysim import run_stream


def _run(accs, m, shift, acc_bits, **kw):
    cout = m.size
    beats = [(int(a), int(i % cout == 0), int(i % cout == cout - 1)) for i, a in enumerate(accs)]
    out, cycles = run_stream(SerialRequant(m, shift, acc_bits), beats, len(beats), write=lambda v: v, **kw)
    return out, cycles


@pytest.mark.parametrize("shift,acc_bits,cout", [(24, 24, 16), (17, 20, 3), (16, 24, 5), (1, 12, 1),
                                                 (9, 32, 4), (48, 32, 2), (30, 18, 7)])
def test_matches_golden(shift, acc_bits, cout):
    rng = np.random.default_rng(shift * 100 + acc_bits)
    m = rng.integers(0, 2**16, cout)
    m[0] = 2**16 - 1                                 # the largest multiplier
    lim = 2 ** (acc_bits - 1)
    accs = rng.integers(-lim, lim, 40 * cout)
    accs[:4] = [lim - 1, -lim, 0, 1][:4]             # range ends and the ReLU edge
    # values near the rounding/saturation thresholds of each channel
    for c in range(cout):
        if m[c]:
            for j, y in enumerate((0.5, 1.5, 255.5, 256)):
                a = int(y * 2**shift // m[c])
                if -lim <= a < lim:
                    accs[(4 + j) * cout + c] = a
    want = intref.requant(accs, np.tile(m, 40), shift)
    out, _ = _run(accs, m, shift, acc_bits, seed=shift, bubbles=0.3, stalls=0.3)
    assert [v for v, _, _ in out] == want.tolist()
    assert [(f, l) for _, f, l in out] == [(int(i % cout == 0), int(i % cout == cout - 1))
                                          for i in range(accs.size)]


def test_throughput_is_one_value_per_18_cycles():
    m = np.array([40000, 3, 65535])
    accs = np.arange(60) * 1000
    out, cycles = _run(accs, m, 24, 24)
    assert len(out) == 60
    assert CYCLES_PER_VALUE == 18
    assert cycles <= 60 * CYCLES_PER_VALUE + 4


@pytest.mark.parametrize("kw,msg", [({"m": [70000]}, "m values must fit uint16"),
                                    ({"shift": 0}, "shift must be an integer"),
                                    ({"acc_bits": 40}, "acc_bits must be an integer in 2..32"),
                                    ({"m": []}, "m must be a non-empty vector")])
def test_bad_parameters(kw, msg):
    args = {"m": [1, 2], "shift": 20, "acc_bits": 24, **kw}
    with pytest.raises(ValueError, match=msg):
        SerialRequant(np.array(args["m"]), args["shift"], args["acc_bits"])
