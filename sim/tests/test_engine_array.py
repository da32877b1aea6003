"""cocotb tests of the engine array (``rtl_gen.engine.EngineArray``): frames
back to back through N Fire engines, every class sum and argmax equal to
``golden.intref`` in the frames' order under input throttling, output
back-pressure and a reset mid-frame; and without stalls, the interval of
every N frames exactly the cycle model's ``frame_interval``."""
from __future__ import annotations

import numpy as np
import pytest

from golden import intref
from rtl_gen.accelerator import steady_intervals
from rtl_gen.engine import EngineArray, EngineParams
from sim.lib.network_cases import random_network, small_bypass_spec
from sim.lib.network_sim import run_network
from sim.lib.stimulus import Stimulus
from sim.lib.yosys_models import engine_models

STALLS = dict(in_stall=60, py_bubbles=0.05, py_stalls=0.2, reset_mid_frame=True)


def _run(case_id, array, bundle, images, stimulus, dsp):
    sums, classes = intref.classify(bundle, images)
    res = run_network(case_id, array, images, sums, classes, stimulus, models=engine_models(dsp, "block"))
    assert res["passed"], res["message"]
    assert res["beats"] == len(images) * array.num_classes
    assert np.array_equal(res["arrays"]["sums"], sums) and np.array_equal(res["arrays"]["argmax"], classes)
    return res


def _array_case(case_id, bundle, images, copies, dsp="generic", lanes=16):
    """Under stalls and a reset, then (the same build) without: every N
    frames' interval equal to the model's."""
    assert len(images) >= 2 * copies
    array = EngineArray(EngineParams(bundle, dsp=dsp, lanes=lanes), copies)
    _run(case_id, array, bundle, images, Stimulus(seed=41, **STALLS), dsp)
    array = EngineArray(EngineParams(bundle, dsp=dsp, lanes=lanes), copies)
    res = _run(case_id, array, bundle, images, Stimulus(seed=41), dsp)
    intervals = steady_intervals(res["arrays"]["end_cycles"], copies)
    assert len(intervals) == len(images) - copies
    assert set(intervals) == {array.frame_interval}, (intervals, array.frame_interval)
    return array, res


def test_three_engines_four_fire_bypass_network():
    """Three engines on the four-Fire simple-bypass network, seven frames:
    the loads (3 x 578 cycles) fit in one engine's frame, so three frames
    leave every engine frame (``cycles_per_frame``) -- faster than one
    engine by the factor three, which the intervals show."""
    bundle, images = random_network(small_bypass_spec("simple"), seed=21, calib_images=7)
    array, res = _array_case("engine_array3_bypass", bundle, images, 3)
    assert not array.params.input_bound and array.frame_interval == array.cycles_per_frame
    # within an interval the frames leave one load apart (the model's stagger)
    ends = np.diff(res["arrays"]["end_cycles"])
    assert list(ends[:2]) == [array.params.load_cycles] * 2


@pytest.mark.slow
def test_input_bound_array_of_nine_sb_mac16_lanes_8():
    """Nine engines of 8 lanes (SB_MAC16 models) on the same network: nine
    loads outlast an engine's frame, so the input sets the pace (interval
    9 x load)."""
    bundle, images = random_network(small_bypass_spec("simple"), seed=21, calib_images=18)
    array, _ = _array_case("engine_array9_bypass_l8", bundle, images, 9, dsp="sb_mac16", lanes=8)
    assert array.params.input_bound and array.frame_interval == 9 * array.params.load_cycles
