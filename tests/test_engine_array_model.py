"""The engine array's models (``rtl_gen.engine.array``) from their
definitions: the interval per N frames, the images/s through it, the
resources following N, the parameter checks; and one engine is the plain
``FireEngine``.  The simulation's side: ``sim/tests/test_engine_array.py``."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from amaranth.hdl import Fragment

from fpga.boards import get_board
from golden.bundle import Bundle
from golden.quantize import REFERENCE_BUNDLE
from rtl_gen.accelerator import (AcceleratorSignature, frame_interval, frames_per_interval, images_per_second,
                                 steady_intervals)
from rtl_gen.engine import ArrayParams, EngineArray, EngineParams, FireEngine
from rtl_gen.engine.array import ARRAY_LUT_PER_COPY
from rtl_gen.fit import FitError, check_fit, estimate
from squeezefire import build as B
from squeezefire.architectures import ArchOptions, assess_arch, make_accelerator


@pytest.fixture(scope="module")
def engine():
    return EngineParams(Bundle.load(REFERENCE_BUNDLE))


@pytest.mark.parametrize("copies", [1, 2, 3, 8])
def test_interval_is_the_engine_frame_or_the_loads(engine, copies):
    array = ArrayParams(engine, copies)
    h, w, c = engine.in_shape
    assert array.cycles_per_frame == engine.cycles_per_frame          # latency: the array adds none
    assert array.frame_interval == max(engine.cycles_per_frame, copies * h * w * c)
    assert array.mac_lanes == copies * engine.lanes and array.macs_per_frame == engine.macs_per_frame
    assert images_per_second(array, 25e6) == 25e6 * copies / array.frame_interval


def test_input_bound_past_the_loads(engine):
    """Where N loads outlast an engine's frame the input sets the interval."""
    h, w, c = engine.in_shape
    n = engine.cycles_per_frame // (h * w * c) + 1
    array = ArrayParams(engine, n)
    assert array.input_bound and not ArrayParams(engine, n - 1).input_bound
    assert array.frame_interval == n * h * w * c > engine.cycles_per_frame


def test_one_frame_at_a_time_accelerators():
    """Without ``copies``/``frame_interval`` (the pipeline, the stand-in):
    one frame per ``cycles_per_frame``."""
    acc = SimpleNamespace(cycles_per_frame=1234)
    assert frames_per_interval(acc) == 1 and frame_interval(acc) == 1234
    assert images_per_second(acc, 1e6) == 1e6 / 1234


def test_steady_intervals_are_n_frames_apart():
    ends = [10, 15, 20, 110, 115, 120, 210]
    assert steady_intervals(ends, 3) == [100, 100, 100, 100]
    assert steady_intervals(ends, 1) == [5, 5, 90, 5, 5, 90]


@pytest.mark.parametrize("board_key", ["ecp5", "gowin", "ice40"])
def test_resources_follow_the_copies(engine, board_key):
    device = get_board(board_key).device
    one = engine.resource_estimate(device)
    for n in (1, 2, 5):
        r = ArrayParams(engine, n).resource_estimate(device)
        assert r.dsp == n * one.dsp and r.bram_blocks == n * one.bram_blocks and r.bram_bits == n * one.bram_bits
        assert r.lut == n * one.lut + (n * ARRAY_LUT_PER_COPY if n > 1 else 0) and r.spram_bits == n * one.spram_bits


def test_fit_refuses_the_copy_past_the_multipliers(engine):
    """On the ULX3S: the largest N whose DSPs fit is accepted (by the model),
    one more is refused naming the DSPs."""
    board = get_board("ecp5")
    per = engine.resource_estimate(board.device).dsp
    fit_n = board.device.dsp // per
    check_fit(estimate(ArrayParams(engine, fit_n), board.device, image_in_bram=True), board.device)
    with pytest.raises(FitError, match=f"{(fit_n + 1) * per} DSP \\(has {board.device.dsp}\\)"):
        check_fit(estimate(ArrayParams(engine, fit_n + 1), board.device, image_in_bram=True), board.device)


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "2"])
def test_bad_copies_are_one_line_naming_them(engine, bad):
    with pytest.raises(ValueError, match=f"^copies must be an integer >= 1 .*got {bad!r}$"):
        ArrayParams(engine, bad)
    with pytest.raises(ValueError, match="^copies must be"):
        ArchOptions(copies=bad)


def test_one_engine_is_the_plain_fire_engine_and_more_make_an_array():
    bundle, board = Bundle.load(REFERENCE_BUNDLE), get_board("ecp5")
    one = make_accelerator(bundle, board, "engine", ArchOptions(copies=1))
    assert type(one) is FireEngine
    array = make_accelerator(bundle, board, "engine", ArchOptions(copies=2))
    assert isinstance(array, EngineArray) and array.signature == AcceleratorSignature((28, 28, 1), 10)
    assert array.mac_lanes == 32 and array.frame_interval == array.params.frame_interval
    for acc in (one, array):        # elaborated: none is left unused (and the array elaborates)
        Fragment.get(acc, None)


def test_assessment_and_report_use_the_interval(tmp_path, monkeypatch, engine):
    """``--arch auto``'s assessment and the build report's frames/s: N frames per interval."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    bundle, board = Bundle.load(REFERENCE_BUNDLE), get_board("ecp5")
    a = assess_arch(bundle, board, "engine", ArchOptions(copies=3))
    array = ArrayParams(engine, 3)
    assert a.images_per_s == a.clock_hz * 3 / array.frame_interval
    assert a.cycles_per_frame == engine.cycles_per_frame
    inputs = B._Inputs(board, tmp_path / "o", bundle, B.DEFAULT_BUNDLE, 1_000_000, "engine", 1, ArchOptions(copies=3))
    acc = make_accelerator(bundle, board, "engine", ArchOptions(copies=3))
    f = B.frame_figures(acc, inputs, 25e6)
    assert f.engines == 3 and f.frame_interval_model == array.frame_interval
    assert f.frames_per_s_model == round(25e6 * 3 / array.frame_interval, 1)
    from squeezefire.rates import rate_figures
    rates = rate_figures(f.macs_per_frame, f.frame_interval_model, 25e6, 156, 1, 1e9, f.engines)
    assert rates.images_per_s_compute_model == f.frames_per_s_model
    rows = dict(B._frame_rows(f, rates))
    assert rows["cycles/3 frames"].startswith(f"{array.frame_interval} (model)")
    Fragment.get(acc, None)         # made, so elaborated (none left unused)


def test_reuse_refuses_a_build_of_several_engines(tmp_path):
    """``--reuse`` rewrites one engine's ROMs: a build of more is refused in
    one line naming ``--engines`` and the count, before anything else."""
    import json

    from squeezefire.reuse import ReuseError, _check_build
    build = tmp_path / "build"
    build.mkdir()
    (build / "report.json").write_text(json.dumps({"board": "ecp5", "arch": "engine", "engines": 3}))
    with pytest.raises(ReuseError, match="^--reuse .*: built with --engines 3; only a one-engine build's ROMs"):
        _check_build(None, build, tmp_path / "out", B.DEFAULT_BUNDLE)


def test_engines_auto_is_the_largest_the_fit_model_accepts():
    """``--engines auto``: N fits by the model, N + 1 does not (the reason
    names the resource); on the UP5K the one engine the build makes."""
    from squeezefire.architectures import _engine_params, most_engines
    bundle = Bundle.load(REFERENCE_BUNDLE)
    for key in ("ecp5", "ice40"):
        board = get_board(key)
        n, why = most_engines(bundle, board)
        for m, fits in ((n, True), (n + 1, False)):
            est = estimate(ArrayParams(_engine_params(bundle, board), m), board.device,
                           image_in_bram=board.image_ram == "block")
            if fits:
                check_fit(est, board.device)
            else:
                with pytest.raises(FitError):
                    check_fit(est, board.device)
        assert why.startswith(f"{n + 1} would not (model): does not fit")
    assert most_engines(bundle, get_board("ice40"))[0] == 1
