"""Whole-network cocotb tests of the Fire engine (``rtl_gen.engine``):
class sums and argmax equal to ``golden.intref`` on every value, under
input bubbles, output back-pressure, back-to-back frames and a reset in the
middle of a frame.  The engine's multipliers are the iCE40 ``SB_MAC16``
primitive itself, simulated with Yosys's model, unless a test says
otherwise; its feature maps are block RAM, or the UP5K's SPRAM (its model)
where a test says so."""
from __future__ import annotations

import numpy as np
import pytest

from golden import intref
from golden.models import family, squeezenet_v1_1
from rtl_gen.engine import FireEngine
from sim.lib.network_cases import (fashion_images, feature_network, random_network, reference, small_bypass_spec,
                               with_random_codebooks)
from sim.lib.network_sim import run_network
from sim.lib.stimulus import Stimulus
from sim.lib.yosys_models import engine_models


def _run(case_id, bundle, images, stimulus, dsp="sb_mac16", banks="block", rom_segment=1, lanes=16):
    sums, classes = intref.classify(bundle, images)
    engine = FireEngine(bundle, dsp=dsp, banks=banks, rom_segment=rom_segment, lanes=lanes)
    res = run_network(case_id, engine, images, sums, classes, stimulus, models=engine_models(dsp, banks))
    assert res["passed"], res["message"]
    assert res["beats"] == len(images) * engine.num_classes
    assert np.array_equal(res["arrays"]["sums"], sums) and np.array_equal(res["arrays"]["argmax"], classes)
    return res, engine


def test_reference_real_images_under_stalls_and_reset():
    """The iCEBreaker's engine -- eight SB_MAC16 and SPRAM feature maps, on
    their models, its ROMs padded to whole 256-word slices as the build
    makes them (``rtl_gen.engine.rom_images``) -- on real Fashion-MNIST
    images, with random input throttling, output back-pressure, and a
    reset half-way through a frame first."""
    res, engine = _run("engine_reference_stalls", reference(), fashion_images(4),
                       Stimulus(seed=11, in_stall=100, py_bubbles=0.03, py_stalls=0.3, reset_mid_frame=True),
                       banks="spram", rom_segment=256)


def test_reference_back_to_back_frames():
    """Frames back to back with the input always valid and the output
    always ready: every frame takes the same number of cycles, exactly the
    engine's cycle model (it has no data-dependent timing).  The design of
    the test above (one Verilator build for both)."""
    res, engine = _run("engine_reference_frames", reference(), fashion_images(6, offset=100), Stimulus(seed=12),
                       banks="spram", rom_segment=256)      # the iCEBreaker's engine: the build above
    steady = res["cycles_per_frame"][1:]
    assert len(set(steady)) == 1, f"frame periods vary: {sorted(set(steady))}"
    assert steady[0] == engine.cycles_per_frame, (steady[0], engine.cycles_per_frame)


@pytest.mark.parametrize("bypass", ["simple", "complex"])
def test_four_fire_bypass_network(bypass):
    bundle, images = random_network(small_bypass_spec(bypass), seed=21, calib_images=4)
    _run(f"engine_bypass_{bypass}", bundle, images,
         Stimulus(seed=22, in_stall=60, py_bubbles=0.05, py_stalls=0.2, reset_mid_frame=True))


@pytest.mark.parametrize("bypass,bits", [("simple", 3), pytest.param("complex", 4, marks=pytest.mark.slow)])
def test_codebook_weights(bypass, bits):
    """Codebook-coded weights: b-bit indices in the weight ROM, decoded
    through each pass's pair tables (``codebook_decode``), bit-exact under
    throttling, back-pressure and a reset mid-frame."""
    bundle, images = random_network(small_bypass_spec(bypass), seed=23, calib_images=3, m_bits=12)
    bundle = with_random_codebooks(bundle, bits, seed=bits)
    res, engine = _run(f"engine_codebook_{bypass}_{bits}", bundle, images,
                       Stimulus(seed=24, in_stall=60, py_bubbles=0.05, py_stalls=0.2, reset_mid_frame=True))
    assert engine.params.codes.bits == bits


def test_codebook_table_waits_are_in_the_cycle_model():
    """Passes shorter than the codebook writer wait for their tables (4-bit
    codes: 272 cycles a pass, on 6x6 images): frames back to back take
    exactly the model's cycles, waits included."""
    spec = family(base_e=6, incr_e=5, freq=1, sr=0.5, pct3x3=0.34, num_fire=2, conv1=(5, 3, 1, 1), pool_after=(),
                  bypass=None, in_channels=1, image_size=6, num_classes=3, name="short-passes")
    bundle, images = random_network(spec, seed=3, calib_images=3)
    bundle = with_random_codebooks(bundle, 4, seed=3)
    res, engine = _run("engine_codebook_waits", bundle, images, Stimulus(seed=12))
    lengths = engine.params.pass_cycles()
    assert sum(engine.params.table_waits(lengths, 6 * 6 + 4 * 3 + 2)) > 0
    assert set(res["cycles_per_frame"][1:]) == {engine.cycles_per_frame}


def odd_spec():
    """Odd shapes: 1 input channel, a prime width (13), E1 != E3, 3x3
    expands on 1x1 maps (all padding but the centre) after the last pool."""
    return family(base_e=6, incr_e=5, freq=1, sr=0.5, pct3x3=0.34, num_fire=3, conv1=(5, 3, 2, 0),
                  pool_after=(2,), bypass="simple", in_channels=1, image_size=13, num_classes=3, name="odd")


def test_odd_shapes_generic_multipliers():
    bundle, images = random_network(odd_spec(), seed=5, calib_images=3)
    shapes = [tuple(lay.shape) for lay in bundle.layers]
    assert (1, 1) in {s[:2] for s in shapes}, shapes
    _run("engine_odd_shapes", bundle, images, Stimulus(seed=5, in_stall=30, py_stalls=0.2), dsp="generic")


def test_user_model_features_through_compare():
    """Issue 14's three cases at once -- 2x2/2 floor pools on odd sides
    (13x11: the last row and column dropped), conv1 padding with the
    input's per-channel pad values, a logits classifier whose signed int32
    accumulators the gap sums -- on the iCEBreaker's engine, simulated the
    way ``golden/compare.py --arch engine`` does: every class sum, the
    argmax and the cycle count exact."""
    from squeezefire.compare import simulate_rtl
    bundle, images = feature_network(image=(13, 11, 3), seed=14)
    images = np.concatenate([images, np.random.default_rng(14).integers(0, 256, (2, 13, 11, 3), dtype=np.uint8)])
    sums, classes = intref.classify(bundle, images)
    assert (sums < 0).any() and (sums > 0).any()
    rtl = simulate_rtl(bundle, images, sums, arch="engine")
    assert np.array_equal(rtl.sums, sums) and np.array_equal(rtl.classes, classes)
    assert rtl.rtl_mismatches == 0
    assert rtl.cycles_per_image == rtl.cycles_per_image_model


@pytest.mark.slow
@pytest.mark.parametrize("name,kw", [
    ("ceil_logits_pad", {"image": (15, 13, 3), "pool": (3, 2, True)}),
    ("floor_1ch", {"image": (13, 11, 1), "logits": False, "pad": None}),
    ("image_pool_floor", {"image": (13, 11, 3), "pool_image": True}),
    ("image_pool_ceil_pad", {"image": (23, 21, 2), "pad": (9, 200), "pool": (3, 2, True), "pool_image": True}),
])
def test_user_model_features_variants(name, kw):
    """The same cases alone and in other combinations (the 3x3/2 ceil pool
    with logits and padding values; floor pools of a one-channel image;
    pools of the image itself, identity passes), generic multipliers,
    under throttling, back-pressure and a reset mid-frame."""
    bundle, images = feature_network(**kw, seed=3)
    _run(f"engine_features_{name}", bundle, images,
         Stimulus(seed=4, in_stall=60, py_bubbles=0.05, py_stalls=0.2, reset_mid_frame=True), dsp="generic")


def _lanes_case(lanes, bundle, images, case_id, dsp):
    """The engine at ``lanes`` on ``bundle``: every class sum and argmax
    equal to golden under throttling, back-pressure and a reset mid-frame;
    then (the same build: same design and seed) frames back to back taking
    exactly the cycle model's ``cycles_per_frame``."""
    res, engine = _run(case_id, bundle, images, Stimulus(seed=31, in_stall=60, py_bubbles=0.05, py_stalls=0.2,
                                                         reset_mid_frame=True), dsp=dsp, lanes=lanes)
    assert engine.mac_lanes == lanes
    # the lanes change the schedule (else this test would not test them)
    assert engine.params.program.passes[0].groups == -(-engine.params.program.passes[0].cout // lanes)
    res, engine = _run(case_id, bundle, images, Stimulus(seed=31), dsp=dsp, lanes=lanes)
    assert set(res["cycles_per_frame"][1:]) == {engine.cycles_per_frame}, (res["cycles_per_frame"],
                                                                             engine.cycles_per_frame)
    return engine


def wide_spec(bypass: str):
    """The four-Fire bypass network of ``small_bypass_spec`` twice as wide
    (conv1 12 channels, expands of 8 to 16), so that lane counts below 16
    take several groups per pass, the last one partial (conv1 at 8 lanes)."""
    return family(base_e=16, incr_e=16, freq=2, sr=0.5, pct3x3=0.5, num_fire=4, conv1=(12, 3, 2, 1),
                  pool_after=(3,), bypass=bypass, in_channels=2, image_size=17, num_classes=6,
                  name=f"wide-{bypass}-bypass")


def test_lanes_8_codebook_pool_simple_bypass():
    """8 lanes (4 SB_MAC16 models) on a coded bundle (3-bit codebooks: 4
    pair tables) with a max pool between Fires and simple bypasses: passes
    of one to two groups of 8 channels, conv1's second one half empty."""
    bundle, images = random_network(wide_spec("simple"), seed=23, calib_images=3, m_bits=12)
    bundle = with_random_codebooks(bundle, 3, seed=3)
    engine = _lanes_case(8, bundle, images, "engine_lanes8_codebook", "sb_mac16")
    passes = engine.params.program.passes
    assert engine.params.codes.bits == 3 and any(p.groups > 1 for p in passes)
    assert any(p.cout % 8 for p in passes if p.groups > 1)


@pytest.mark.slow          # one more engine build: the default suite has lanes 8 above
def test_lanes_32_pool_complex_bypass_generic():
    """32 lanes of generic multipliers on an int8 bundle with a pool and
    complex bypasses: every pass is one group of which most lanes are
    empty (their channels do not exist; the serializer skips them)."""
    bundle, images = random_network(small_bypass_spec("complex"), seed=21, calib_images=3)
    engine = _lanes_case(32, bundle, images, "engine_lanes32_complex", "generic")
    assert all(p.groups == 1 and p.cout < 32 for p in engine.params.program.passes)


@pytest.mark.slow
@pytest.mark.parametrize("lanes,spec,coded", [(2, "odd", False), (6, "wide", True), (24, "wide", False),
                                               (64, "odd", True)])
def test_lanes_variants(lanes, spec, coded):
    """Further lane counts: 2 (one DualMult), and counts that are not a
    power of two (the lane then travels in the write-back's delay line and a
    channel is ``group * lanes + lane`` by shifted adds), coded or not, on
    the odd-shapes network (one input channel, width 13, a pool, simple
    bypasses, 3x3 expands on 1x1 maps) or the wide complex-bypass one."""
    make = {"odd": odd_spec, "wide": lambda: wide_spec("complex")}[spec]
    bundle, images = random_network(make(), seed=5, calib_images=3)
    if coded:
        bundle = with_random_codebooks(bundle, 2, seed=lanes)
    engine = _lanes_case(lanes, bundle, images, f"engine_lanes{lanes}_{spec}_{'coded' if coded else 'int8'}",
                         "generic")
    assert engine.params.codes.coded == coded


@pytest.mark.slow
def test_squeezenet_v1_1_full_size():
    """SqueezeNet v1.1 at 224x224x3, 1000 classes, one image bit-exact."""
    bundle, images = random_network(squeezenet_v1_1(), seed=0, calib_images=2)
    res, engine = _run("engine_squeezenet_v1_1", bundle, images[:1], Stimulus(seed=1, timeout_cycles=200_000_000))
    print(f"SqueezeNet v1.1 on the engine: {res['cycles_per_frame'][0]} cycles, "
          f"{engine.macs_per_frame} MACs, build {res['build_seconds']:.0f} s, simulation {res['sim_seconds']:.0f} s")
