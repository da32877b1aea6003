"""Choosing bits for a board (squeezefire.fit_bits) and the zero weights per
engine pass (squeezefire.zero_taps).  The devices here are the ECP5's with
its block RAM bits cut to amounts taken from the fit model itself, so the
expectations come from the fit model, not from numbers written down."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from fpga.boards import get_board
from golden import graph as fgraph
from golden.models import SqueezeNet, tiny_spec
from golden.quantize import calibration_images
from golden.weight_sharing import MIN_SHARE_BITS, weight_params
from rtl_gen.engine.program import DEFAULT_LANES as LANES, MIN_PERIOD, plan_program
from squeezefire import fit_bits, zero_taps
from squeezefire.fit_bits import FitRefused, FitSearch, choose_bits, greedy_bits

ENGINE = ("engine",)


@pytest.fixture(scope="module")
def graph():
    torch.manual_seed(0)
    return fgraph.extract(SqueezeNet(tiny_spec()).eval())


@pytest.fixture(scope="module")
def calib():
    return calibration_images(8)


def _limited(bram_bits: int):
    """The ULX3S with ``bram_bits`` of block RAM in one-bit 'blocks' (the
    engine counts its blocks over the device's shapes, so only the bits bind)."""
    board = get_board("ecp5")
    return replace(board, device=replace(board.device, bram_blocks=bram_bits, bram_block_bits=1))


def _uniform(graph, bits: int) -> dict:
    return {k: bits for k, _ in weight_params(graph)}


def _needs(graph, calib, bits: int) -> int:
    """The engine's block RAM bits for ``bits`` everywhere, by the fit model."""
    search = FitSearch(graph, calib, get_board("ecp5"), archs=ENGINE)
    return search.assess(_uniform(graph, bits))[0].est.bram_bits


def test_the_search_lowers_bits_until_the_fit_model_says_it_fits(graph, calib):
    need4, need3 = _needs(graph, calib, 4), _needs(graph, calib, 3)
    assert need3 < need4
    search = FitSearch(graph, calib, _limited((need3 + need4) // 2), archs=ENGINE)
    start = _uniform(graph, 4)
    choice = choose_bits(search, start)
    assert not search.fits(start)
    assert search.fits(choice.bits)
    assert all(b <= start[k] for k, b in choice.bits.items()) and choice.bits != start
    # no lowered array can have a bit back
    for key, b in choice.bits.items():
        if b < start[key]:
            assert not search.fits(choice.bits | {key: b + 1}), key


def test_a_board_that_fits_the_start_keeps_it(graph, calib):
    search = FitSearch(graph, calib, _limited(_needs(graph, calib, 4)), archs=ENGINE)
    start = _uniform(graph, 4)
    assert choose_bits(search, start).bits == start


def test_even_the_fewest_bits_not_fitting_is_refused_naming_the_resource(graph, calib):
    need = _needs(graph, calib, MIN_SHARE_BITS)
    search = FitSearch(graph, calib, _limited(need - 1), archs=ENGINE)
    with pytest.raises(FitRefused) as e:
        choose_bits(search, _uniform(graph, 4))
    text = str(e.value)
    assert "\n" not in text and "block RAM bits" in text and f"needs {need}" in text and f"has {need - 1}" in text


def test_greedy_lowers_the_most_weight_bits_first():
    sizes = {"a": 100, "b": 10, "c": 1000}
    seen = []

    def fits(bits):
        seen.append(dict(bits))
        return sum(sizes[k] * b for k, b in bits.items()) <= 2500
    bits = greedy_bits(sizes, {"a": 4, "b": 4, "c": 4}, fits)
    assert not fits({"a": 4, "b": 4, "c": 4})
    assert seen[1] == {"a": 4, "b": 4, "c": 3}          # the biggest array first
    assert sum(sizes[k] * b for k, b in bits.items()) <= 2500
    for k in bits:                                       # and nothing can have a bit back
        if bits[k] < 4:
            assert not fits(bits | {k: bits[k] + 1})


def _run(capsys, *argv):
    code = fit_bits.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv, words", [
    (["--board", "nope", "--net", "tiny-fmnist", "--checkpoint", "x.pt"], "unknown board 'nope'"),
    (["--net", "tiny-fmnist", "--checkpoint", "x.pt"], "--board is missing"),
    (["--board", "ecp5", "--net", "tiny-fmnist", "--checkpoint", "x.pt", "--report"], "--report does not go"),
    (["--board", "ecp5", "--net", "tiny-fmnist", "--checkpoint", "x.pt", "--bits", "9"], "--bits"),
    (["--board", "ecp5", "--net", "tiny-fmnist"], "needs --checkpoint"),
    (["--board", "ecp5", "--net", "tiny-fmnist", "--checkpoint", "x.pt", "--lanes", "3"], "lanes must be"),
])
def test_bad_input_is_one_line_exit_2(capsys, argv, words):
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and words in err, err


def test_the_command_on_the_tiny_network(capsys, tmp_path):
    ck = tmp_path / "tiny.pt"
    torch.manual_seed(0)
    torch.save(SqueezeNet(tiny_spec()).state_dict(), ck)
    out_path = tmp_path / "fit.bundle"
    code, out, err = _run(capsys, "--board", "ecp5", "--net", "tiny-fmnist", "--checkpoint", str(ck),
                          "--bits", "4", "--prune", "0.5", "--calibration-images", "20", "--images", "50",
                          "--out", str(out_path))
    assert code == 0, err
    assert "block RAM bits (model)" in out and "LUT (model)" in out and "chosen bits (golden.intref)" in out
    assert "zero in all lanes" in out and out_path.exists()


# ---------------------------------------------------------------- zero weights

def _brute_force(weight: np.ndarray, taps: int) -> tuple[int, int]:
    """(zero weights, group-taps zero in all the group's lanes), by loops."""
    cout = weight.shape[0]
    flat = weight.reshape(cout, taps)
    zeros = sum(1 for c in range(cout) for t in range(taps) if flat[c, t] == 0)
    skippable = 0
    for g in range(0, cout, LANES):
        for t in range(taps):
            if all(flat[c, t] == 0 for c in range(g, min(g + LANES, cout))):
                skippable += 1
    return zeros, skippable


def test_zero_taps_match_a_brute_force_count(graph, calib):
    search = FitSearch(graph, calib, get_board("ecp5"), prune=0.6, archs=ENGINE)
    bundle = search.bundle(_uniform(graph, 3))
    program = plan_program(bundle)
    rows = zero_taps.zero_taps(bundle)
    assert [r.name for r in rows] == [p.name for p in program.passes]
    assert any(r.all_lane_zero for r in rows)            # the seeded pruning leaves some whole taps zero
    for p, r in zip(program.passes, rows):
        assert (r.zeros, r.all_lane_zero) == _brute_force(p.weight, p.taps), p.name
        oh, ow = program.out_shape(p)
        assert r.cycles == program.issue_cycles(p)
        assert r.cycles_skipping <= r.cycles
        flat = p.weight.reshape(p.cout, p.taps)
        want = 0
        for g in range(0, p.cout, LANES):
            kept = sum(1 for t in range(p.taps) if flat[g:g + LANES, t].any())
            want += oh * ow * max(kept, min(p.cout, LANES), MIN_PERIOD)
        assert r.cycles_skipping == want, p.name


def test_zero_taps_of_a_seeded_array():
    rng = np.random.default_rng(1)
    w = rng.integers(-3, 4, size=(40, 5, 3, 3)).astype(np.int8)
    w[rng.random(w.shape) < 0.7] = 0
    w[16:32, 2] = 0                                      # whole taps zero in the second group
    counted = zero_taps.zero_group_taps(w)
    flat = w.reshape(40, 45)
    assert list(counted) == [sum(1 for t in range(45) if not flat[g:g + 16, t].any()) for g in (0, 16, 32)]
    assert counted[1] >= 9


def test_the_command_refuses_in_one_line_when_nothing_fits(capsys, tmp_path, monkeypatch):
    ck = tmp_path / "tiny.pt"
    torch.save(SqueezeNet(tiny_spec()).state_dict(), ck)
    monkeypatch.setattr(fit_bits, "get_board", lambda key: _limited(1000))
    out_path = tmp_path / "fit.bundle"
    code, out, err = _run(capsys, "--board", "ecp5", "--net", "tiny-fmnist", "--checkpoint", str(ck),
                          "--calibration-images", "20", "--images", "20", "--out", str(out_path))
    assert code == 2 and out == "" and not out_path.exists()
    line = err.strip().splitlines()[-1]
    assert line.startswith("error: no bits fit") and "block RAM bits (has 1000)" in line, err


def test_zero_taps_bad_input_is_one_line(capsys, tmp_path):
    assert zero_taps.main(["--bundle", str(tmp_path / "none.bundle")]) == 2
    assert zero_taps.main(["--bundle", str(tmp_path / "none.bundle"), "--lanes", "3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "not found" in err[0] and "lanes must be" in err[1]
