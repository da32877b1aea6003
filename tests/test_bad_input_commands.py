"""Issue 23 for the other commands: the sweep's grid files, compare's image
counts and long runs, compress, train and the build's Ctrl-C.  One line,
exit 2 (130 for Ctrl-C), no traceback, nothing left behind, refused before
the long step (the step itself is replaced by one that fails the test)."""
from __future__ import annotations

import json
import os

import pytest
import torch

from golden import compress, train
from golden.models import SqueezeNet, tiny_spec
from squeezefire import compare
from squeezefire.dse import cli as dse


def one_line(capsys, code: int, *needles: str) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and err.count("\n") == 0, err
    assert err.startswith("error: " if code == 2 else "interrupted; "), err
    for needle in needles:
        assert needle in err, err
    return err


def interrupted_line(capsys) -> str:
    """After Ctrl-C: the progress lines printed so far, then one line, no traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return err.strip().splitlines()[-1]


def _fails(*args, **kwargs):
    raise AssertionError("a long step ran before the input was checked")


def _interrupted(*args, **kwargs):
    raise KeyboardInterrupt


# -- squeezefire.dse --grid ---------------------------------------------------------------

@pytest.mark.parametrize("content, needles", [
    (b'[{"sr": 0.25}]', ("top level must be a table/object", "list")),
    (b'{"points": [{"sr": "abc"}]}', ("point 0", "sr", "'abc'", "number")),
    (b'{"points": [3]}', ("point 0", "must be a table/object", "int")),
    (b'{"points": [{"bits": 3}]}', ("point 0", "bits", "list of integers")),
    (b'{"points": [{"bits": [3, "x"]}]}', ("point 0", "bits", "list of integers")),
    (b'{"points": [{"bits": []}]}', ("point 0", "bits", "at least one")),
    (b'{"points": [{"base_e": 2.5}]}', ("point 0", "base_e", "integer")),
    (b'{"points": [{"base_e": true}]}', ("point 0", "base_e", "integer")),
    (b'{"points": [{"freq": 100000}]}', ("point 0", "freq", "100000")),
    (b'{"points": [{"sr": NaN}]}', ("point 0", "sr", "nan")),
    (b'{"points": [{"bypass": 1}]}', ("point 0", "bypass", "one of")),
    (b'{"base": 3, "points": [{}]}', ("'base'", "table/object")),
    (b'{"points": {"sr": 1}}', ("'points'", "list")),
    (b'{"points": [{}], "extra": 1}', ("unknown key 'extra'",)),
    (b'\xff\xfe{"points": []}', ("not UTF-8",)),
])
def test_a_bad_grid_is_one_line_before_any_training(content, needles, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(dse, "run_points", _fails)
    grid = tmp_path / "g.json"
    grid.write_bytes(content)
    out = tmp_path / "o"
    assert dse.main(["--grid", str(grid), "--out", str(out)]) == 2
    one_line(capsys, 2, f"--grid {grid}", *needles)
    assert not out.exists()


def test_a_bad_toml_grid_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(dse, "run_points", _fails)
    grid = tmp_path / "g.toml"
    grid.write_text('[[points]]\nsr = "abc"\n')
    assert dse.main(["--grid", str(grid), "--out", str(tmp_path / "o")]) == 2
    one_line(capsys, 2, "point 0", "sr", "'abc'")


@pytest.mark.parametrize("argv, needle", [
    (["--workers", "0"], "--workers 0"), (["--epochs", "0"], "--epochs 0"), (["--validate", "-1"], "--validate -1"),
    (["--validate", "4"], "--validate 4: must be from 0 to 3 (the grid has 3 points)"),
])
def test_bad_sweep_counts_are_one_line(argv, needle, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(dse, "run_points", _fails)
    assert dse.main(["--quick", "--out", str(tmp_path / "o"), *argv]) == 2
    one_line(capsys, 2, needle)


def test_the_sweeps_out_in_an_unwritable_folder_is_one_line(unwritable_folder, capsys, monkeypatch):
    monkeypatch.setattr(dse, "run_points", _fails)
    assert dse.main(["--quick", "--out", str(unwritable_folder / "d")]) == 2
    one_line(capsys, 2, str(unwritable_folder), "cannot write")


def test_ctrl_c_during_a_sweep_says_what_was_kept(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(dse, "run_points", _interrupted)
    out = tmp_path / "o"
    assert dse.main(["--quick", "--out", str(out)]) == 130
    one_line(capsys, 130, f"{out / 'points'}", "resume")


# -- golden/compare.py ----------------------------------------------------------------------

def test_more_rtl_images_than_the_data_has_is_refused_before_any_evaluation(capsys, monkeypatch):
    monkeypatch.setattr(compare, "evaluate", _fails)
    assert compare.main(["--images", "10000000"]) == 2
    one_line(capsys, 2, "--images 10000000", "fashion-mnist/test has 10000 images")


def test_a_long_rtl_run_asks_for_long_first(capsys, monkeypatch):
    """All 10 000 reference test images take hours by the cycle model:
    refused naming the estimate and the way out, before the float and int8
    evaluation; 20 do not need --long (a negative control)."""
    monkeypatch.setattr(compare, "evaluate", _fails)
    assert compare.main(["--images", "10000", "--arch", "engine"]) == 2
    one_line(capsys, 2, "--images 10000", "h by the cycle model", "--long")
    with pytest.raises(AssertionError, match="a long step ran"):
        compare.main(["--images", "20", "--arch", "engine"])


def test_long_lets_a_long_run_start(capsys, monkeypatch):
    monkeypatch.setattr(compare, "evaluate", _interrupted)         # stops right after the checks
    assert compare.main(["--images", "10000", "--arch", "engine", "--long"]) == 130
    one_line(capsys, 130, "nothing written")


def test_ctrl_c_during_the_rtl_simulation_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(compare, "evaluate", lambda *args: {"seconds": {}})
    monkeypatch.setattr(compare, "simulate_rtl", _interrupted)
    out = tmp_path / "r.json"
    assert compare.main(["--images", "1", "--arch", "engine", "--json", str(out), "--data",
                         "fashion-mnist"]) == 130
    assert interrupted_line(capsys) == "interrupted; nothing written"
    assert not out.exists()


@pytest.mark.parametrize("argv, needle", [
    (["--images", "-1"], "--images -1"),
    (["--images", "x"], "--images"),
])
def test_bad_compare_counts_are_one_line(argv, needle, capsys):
    assert compare.main(argv) == 2
    one_line(capsys, 2, needle)


def test_a_model_file_for_a_bundle_not_made_from_one_is_refused(capsys, monkeypatch):
    monkeypatch.setattr(compare, "evaluate", _fails)
    assert compare.main(["--images", "0", "--model", "net.py:build"]) == 2
    one_line(capsys, 2, "--model net.py:build", "was not made from a model file")


def test_compares_json_in_an_unwritable_folder_is_refused_first(unwritable_folder, capsys, monkeypatch):
    monkeypatch.setattr(compare, "evaluate", _fails)
    assert compare.main(["--images", "0", "--json", str(unwritable_folder / "r.json")]) == 2
    one_line(capsys, 2, "--json", "cannot write")


# -- golden.compress -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    torch.save(SqueezeNet(tiny_spec()).state_dict(), path)
    return path


@pytest.mark.parametrize("argv, needle", [
    (["--calibration-images", "0"], "--calibration-images"),
    (["--calibration-images", "-3"], "--calibration-images"),
    (["--finetune-epochs", "1", "--finetune-images", "60001"], "--finetune-images 60001"),
    (["--threads", "0"], "--threads 0"),
    (["--prune", "nan"], "--prune"),
    (["--seed", "99999999999999999999999"], "--seed 99999999999999999999999"),
])
def test_bad_compress_counts_are_one_line_before_clustering(argv, needle, tmp_path, checkpoint, capsys,
                                                            monkeypatch):
    monkeypatch.setattr(compress, "cluster", _fails)
    out = tmp_path / "o.bundle"
    assert compress.main(["--net", "tiny-fmnist", "--checkpoint", str(checkpoint), "--bits", "3",
                          "--out", str(out), *argv]) == 2
    one_line(capsys, 2, needle)
    assert not out.exists()


def test_compress_out_in_an_unwritable_folder_is_refused_first(unwritable_folder, checkpoint, capsys, monkeypatch):
    monkeypatch.setattr(compress, "cluster", _fails)
    assert compress.main(["--net", "tiny-fmnist", "--checkpoint", str(checkpoint), "--bits", "3",
                          "--out", str(unwritable_folder / "o.bundle")]) == 2
    one_line(capsys, 2, "cannot write")


def test_ctrl_c_during_compress_is_one_line(tmp_path, checkpoint, capsys, monkeypatch):
    monkeypatch.setattr(compress, "cluster", _interrupted)
    assert compress.main(["--net", "tiny-fmnist", "--checkpoint", str(checkpoint), "--bits", "3",
                          "--calibration-images", "20", "--out", str(tmp_path / "o.bundle")]) == 130
    assert interrupted_line(capsys) == "interrupted; nothing written"
    assert os.listdir(tmp_path) == []


# -- golden.train --------------------------------------------------------------------------

@pytest.mark.parametrize("argv, needle", [
    (["--threads", "0"], "--threads 0"),
    (["--limit", "60001"], "--limit 60001"),
    (["--epochs", "0"], "--epochs 0"),
    (["--seed", "-1"], "--seed -1"),
    (["--seed", "99999999999999999999999"], "--seed 99999999999999999999999"),
])
def test_bad_train_counts_are_one_line(argv, needle, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(train, "train", _fails)
    assert train.main(["--out", str(tmp_path / "f.pt"), *argv]) == 2
    one_line(capsys, 2, needle)
    assert os.listdir(tmp_path) == []


def test_train_out_in_an_unwritable_folder_is_refused_first(unwritable_folder, capsys, monkeypatch):
    monkeypatch.setattr(train, "train", _fails)
    assert train.main(["--out", str(unwritable_folder / "f.pt")]) == 2
    one_line(capsys, 2, "--out", "cannot write")


def test_train_ctrl_c_says_what_was_kept(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(train, "train", _interrupted)
    out = tmp_path / "f.pt"
    assert train.main(["--out", str(out)]) == 130
    assert one_line(capsys, 130) == "interrupted; nothing written"

    def after_an_epoch(*args, checkpoint, **kwargs):
        checkpoint.write_bytes(b"the state after epoch 1")
        raise KeyboardInterrupt
    monkeypatch.setattr(train, "train", after_an_epoch)
    assert train.main(["--out", str(out)]) == 130
    one_line(capsys, 130, "--resume", f"{out}.ckpt")
    assert not out.exists()


# -- python -m rtl_gen.build ---------------------------------------------------------------

def test_build_ctrl_c_before_the_tools_writes_nothing(tmp_path, capsys, monkeypatch):
    from squeezefire import build
    monkeypatch.setattr(build, "check_fit", _interrupted)
    assert build.main(["--board", "ice40", "--arch", "standin", "--out", str(tmp_path / "out")]) == 130
    assert one_line(capsys, 130) == "interrupted; nothing written"
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("argv, needles", [
    (["--lanes", "3"], ("lanes must be an even integer from 2 to 64", "got 3")),
    (["--lanes", "66"], ("lanes must be an even integer from 2 to 64", "got 66")),
    (["--lanes", "0"], ("lanes must be an even integer from 2 to 64", "got 0")),
    (["--lanes", "x"], ("--lanes", "invalid int value")),
    (["--lanes", "8", "--arch", "pipeline"], ("--lanes 8", "pipeline", "no lanes")),
])
def test_bad_lanes_are_one_line_before_any_step(argv, needles, tmp_path, capsys, monkeypatch):
    """``--lanes`` on the build and the comparison: one line naming it,
    exit 2, before the fit check (the build) or any evaluation (compare)."""
    from squeezefire import build
    monkeypatch.setattr(build, "check_fit", _fails)
    monkeypatch.setattr(build, "choose_arch", _fails)
    assert build.main(["--board", "ice40", "--out", str(tmp_path / "out"), *argv]) == 2
    one_line(capsys, 2, *needles)
    assert os.listdir(tmp_path) == []
    monkeypatch.setattr(compare, "evaluate", _fails)
    monkeypatch.setattr(compare.Bundle, "load", _fails)
    assert compare.main(["--images", "1", *argv]) == 2
    one_line(capsys, 2, *needles)


def test_lanes_the_up5k_cannot_hold_are_refused_by_the_fit_check(tmp_path, capsys, monkeypatch):
    """32 lanes on the iCEBreaker: the fit model refuses them naming the
    DSPs needed (32 / 2 SB_MAC16) and the chip's 8, before any tool."""
    from squeezefire import build
    monkeypatch.setattr(build, "prepare_plan", _fails)
    assert build.main(["--board", "ice40", "--arch", "engine", "--lanes", "32", "--out", str(tmp_path / "out")]) == 2
    one_line(capsys, 2, "does not fit iCE40 UP5K", f"{32 // 2} DSP (has 8)")
    assert os.listdir(tmp_path) == []


def test_grid_error_messages_hold_the_value(tmp_path, capsys):
    """A negative control for the grid tests: a good grid passes the checks."""
    from squeezefire.dse.grid import grid_from_file
    grid = tmp_path / "g.json"
    grid.write_text(json.dumps({"base": {"base_e": 8}, "points": [{"sr": 0.5, "bits": [4, 3]}]}))
    (point,) = grid_from_file(grid)
    assert point.sr == 0.5 and point.bits == (4, 3) and point.base_e == 8


def test_lanes_are_not_dropped_when_auto_picks_the_pipeline(tmp_path, capsys, monkeypatch):
    """When ``--arch auto`` picks the pipeline (here: the engine made to
    refuse the bundle; the one-Fire pipeline fits the UP5K), ``--lanes`` is
    refused naming the lanes and the choice, not built without them."""
    from dataclasses import replace

    from squeezefire import architectures as A, build

    def refuse(*args):
        raise ValueError("refused for this test")
    monkeypatch.setitem(A.ARCHITECTURES, "engine", replace(A.ARCHITECTURES["engine"], assess=refuse))
    monkeypatch.setattr(build, "check_fit", _fails)
    bundle = build.DEFAULT_BUNDLE.with_name("fire1.bundle")
    assert build.main(["--board", "ice40", "--bundle", str(bundle), "--lanes", "8",
                       "--out", str(tmp_path / "out")]) == 2
    one_line(capsys, 2, "--lanes 8", "--arch auto chose the pipeline, which has no lanes", "refused for this test")
    assert os.listdir(tmp_path) == []
