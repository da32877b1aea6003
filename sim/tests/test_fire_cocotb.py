"""pytest entry of the cocotb regression: one Verilator (or ``SIM=icarus``)
build per Fire configuration, each checked bit-exact against golden.intref."""
from __future__ import annotations

import pytest

from rtl_gen.pipeline.fire import Fire, Folding
from sim.lib.fire_cases import fire2, random_fire
from sim.lib.fire_sim import run_fire_case
from sim.lib.stimulus import FireStimulus

STALLY = dict(in_stall=80, out_stall=100, py_bubbles=0.05, py_stalls=0.05)

# id: (Fire shape (cin, s1x1, e1x1, e3x3, h, w), frames, folding, stimulus)
CASES = {
    "odd_h1_w13": ((3, 5, 7, 9, 1, 13), 3, None, FireStimulus(seed=1, **STALLY)),
    "h1_w1": ((4, 3, 2, 5, 1, 1), 4, Folding(3, 2, 5), FireStimulus(seed=2, **STALLY, reset_mid_frame=True)),
    "h13_w1": ((5, 4, 6, 3, 13, 1), 3, Folding(2, 3, 1), FireStimulus(seed=3, **STALLY)),
    "tiny_non_square": ((8, 4, 8, 8, 5, 7), 3, None, FireStimulus(seed=4, **STALLY, reset_mid_frame=True)),
    "folded_9x6": ((16, 8, 16, 16, 9, 6), 2, Folding(2, 4, 8), FireStimulus(seed=5, in_stall=160, out_stall=20,
                                                                       reset_mid_frame=True)),
}


def _check(case_id, case, folding, stimulus, **kw):
    fire = Fire.from_bundle(case.bundle, case.layer, folding)
    result = run_fire_case(case_id, fire, case.images, case.expected, stimulus, **kw)
    assert result.passed, result.message
    assert result.beats == case.images.shape[0] * case.images.shape[1] * case.images.shape[2]
    return result


@pytest.mark.parametrize("case_id", list(CASES))
def test_fire_bit_exact(case_id):
    shape, frames, folding, stimulus = CASES[case_id]
    _check(case_id, random_fire(*shape, frames=frames, seed=stimulus.seed), folding, stimulus)


@pytest.mark.slow
def test_fire2_bit_exact():
    """SqueezeNet v1.1 fire2 at full size: a reset half-way through a
    frame, then two frames back to back under light random stalls."""
    _check("fire2", fire2(frames=2), None,
           FireStimulus(seed=6, in_stall=24, out_stall=24, reset_mid_frame=True, timeout_cycles=6_000_000))


@pytest.mark.slow
def test_fire2_heavy_stalls():
    _check("fire2_stalls", fire2(frames=3), Folding(4, 4, 32),
           FireStimulus(seed=7, in_stall=128, out_stall=200, py_bubbles=0.05, py_stalls=0.05, reset_mid_frame=True,
                    timeout_cycles=30_000_000))


def test_checker_catches_a_wrong_value():
    """The regression can fail: one expected value off by one must be
    reported.  The Fire of ``tiny_non_square`` (its build is shared)."""
    shape, frames, _, _ = CASES["tiny_non_square"]
    case = random_fire(*shape, frames=frames, seed=CASES["tiny_non_square"][3].seed)
    wrong = case.expected.copy()
    wrong[1, 1, 0, 3] ^= 1
    fire = Fire.from_bundle(case.bundle, case.layer)
    result = run_fire_case("checker_fails", fire, case.images, wrong, FireStimulus(seed=8))
    assert not result.passed
    assert f"frame 1 pixel {1 * shape[5] + 0}" in result.message and "(3," in result.message
