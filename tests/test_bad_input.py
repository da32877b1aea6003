"""Issue 23: every bad input to ``python -m golden.quantize`` (the user's
model, its input shape, the calibration data, the normalisation, the counts,
the output) ends in one line naming it, exit 2 (130 for Ctrl-C), no
traceback, nothing written -- and before any long step: the tests assert
that no image was resized and no calibration ran (the functions that do
those are replaced by ones that fail the test)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from golden import datasets
from golden import quantize as quantize_module
from golden.quantize import main as quantize_main

ROOT = Path(__file__).resolve().parent.parent
MODEL = f"{ROOT / 'examples' / 'my_net.py'}:build_tiny"


def one_line(capsys, code: int, *needles: str) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and err.count("\n") == 0, err
    assert err.startswith("error: " if code == 2 else "interrupted"), err
    for needle in needles:
        assert needle in err, err
    return err


@pytest.fixture
def no_long_step(monkeypatch):
    """Any resize or calibration fails the test: the refusal must come first."""
    def long_step(*args, **kwargs):
        raise AssertionError("a long step ran before the input was checked")
    monkeypatch.setattr(datasets, "fit_image", long_step)
    monkeypatch.setattr(quantize_module, "activation_maxima", long_step)


def _model_file(tmp_path: Path, body: str, name: str = "net.py") -> str:
    path = tmp_path / name
    path.write_text("import torch\nfrom torch import nn\n" + body)
    return f"{path}:build"


MIXED_ADD = """
class Mixed(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(1, 16, 3, padding=1)
        self.b = nn.Conv2d(16, 8, 1)
    def forward(self, x):
        x = self.a(x)
        return x + self.b(x)
def build():
    return Mixed()
"""

TWO_INPUTS = """
class Two(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(1, 4, 3)
    def forward(self, x, y):
        return self.a(x) + self.a(y)
def build():
    return Two()
"""

FORWARD_EXITS = """
class Exits(nn.Module):
    def forward(self, x):
        raise SystemExit(3)
def build():
    return Exits()
"""


@pytest.mark.parametrize("body, needles", [
    ("def build():\n    return 3\n", ("build() returned int, not an nn.Module",)),
    ("def build():\n    return nn.Conv2d\n", ("build() returned type, not an nn.Module",)),
    ("def build():\n    raise SystemExit(0)\n", ("SystemExit",)),
    ("raise SystemExit(1)\ndef build():\n    pass\n", ("SystemExit",)),
    ("def build(width):\n    return nn.Conv2d(1, 1, 1)\n", ("build()", "TypeError")),
    ("build = 5\n", ("build is int, not a function",)),
    (MIXED_ADD, ("Mixed does not run on a 28x28x1 image",)),
    (TWO_INPUTS, ("takes 2 inputs (x, y)", "one image")),
    (FORWARD_EXITS, ("torch.fx cannot trace Exits", "SystemExit(3)")),
])
def test_a_bad_user_model_is_one_line(body, needles, tmp_path, capsys, no_long_step):
    out = tmp_path / "x.bundle"
    assert quantize_main(["--model", _model_file(tmp_path, body), "--out", str(out)]) == 2
    one_line(capsys, 2, *needles)
    assert not out.exists()


def test_ctrl_c_inside_the_users_function_is_an_interrupt(tmp_path, capsys, no_long_step):
    model = _model_file(tmp_path, "def build():\n    raise KeyboardInterrupt\n")
    out = tmp_path / "x.bundle"
    assert quantize_main(["--model", model, "--out", str(out)]) == 130
    assert one_line(capsys, 130) == "interrupted; nothing written"
    assert not out.exists()


def test_ctrl_c_during_the_calibration_is_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(quantize_module, "activation_maxima", interrupted)
    out = tmp_path / "x.bundle"
    assert quantize_main(["--model", MODEL, "--calibration-images", "20", "--out", str(out)]) == 130
    assert one_line(capsys, 130) == "interrupted; nothing written"
    assert list(tmp_path.iterdir()) == []


def test_an_input_shape_with_other_channels_than_the_model_is_one_line(tmp_path, capsys, no_long_step):
    assert quantize_main(["--model", MODEL, "--input-shape", "64,64,3", "--out", str(tmp_path / "x.bundle")]) == 2
    one_line(capsys, 2, "--input-shape 64,64,3", "3 channels", "1")


@pytest.mark.parametrize("shape, needle", [
    ("4096,4096,3", "--input-shape 4096,4096,3"),
    ("0,28,1", "--input-shape 0,28,1"),
    ("28,28,2", "--input-shape 28,28,2"),
    ("28,28,1,1", "--input-shape must be H,W,C"),
    ("a,b,c", "--input-shape must be H,W,C"),
])
def test_a_bad_input_shape_is_refused_before_any_resize(shape, needle, tmp_path, capsys, no_long_step):
    assert quantize_main(["--model", MODEL, f"--input-shape={shape}", "--out", str(tmp_path / "x.bundle")]) == 2
    one_line(capsys, 2, needle)


def test_a_model_refused_is_refused_before_the_data_is_resized(tmp_path, capsys, no_long_step):
    """A model the importer refuses, at a shape the data must be resized to."""
    model = _model_file(tmp_path, "def build():\n    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.Tanh())\n")
    assert quantize_main(["--model", model, "--input-shape", "32,32,1", "--out", str(tmp_path / "x.bundle")]) == 2
    one_line(capsys, 2, "Tanh")


def _folder(root: Path, classes: tuple[str, ...], per_class: int = 2) -> Path:
    from PIL import Image
    rng = np.random.default_rng(0)
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(root / name / f"{i}.png")
    return root


def test_a_calibration_folder_with_fewer_classes_than_the_model_is_refused(tmp_path, capsys, no_long_step):
    folder = _folder(tmp_path / "photos", ("shirt",))
    out = tmp_path / "x.bundle"
    assert quantize_main(["--model", MODEL, "--calib", str(folder), "--out", str(out)]) == 2
    one_line(capsys, 2, f"--calib {folder}", "1 class", "10 outputs")
    assert not out.exists()


@pytest.mark.parametrize("count", ["0", "-3", "17"])
def test_a_calibration_count_is_checked_against_the_data(count, tmp_path, capsys, no_long_step):
    images = tmp_path / "16.npy"
    np.save(images, np.zeros((16, 28, 28), np.uint8))
    assert quantize_main(["--model", MODEL, "--calib", str(images), f"--calibration-images={count}",
                          "--out", str(tmp_path / "x.bundle")]) == 2
    one_line(capsys, 2, f"--calibration-images {count}", "16 images")


def test_a_calibration_set_of_zero_images_is_refused(tmp_path, capsys, no_long_step):
    images = tmp_path / "none.npy"
    np.save(images, np.zeros((0, 28, 28), np.uint8))
    assert quantize_main(["--model", MODEL, "--calib", str(images), "--out", str(tmp_path / "x.bundle")]) == 2
    one_line(capsys, 2, str(images), "no images")


@pytest.mark.parametrize("shape", [(4, 0, 28), (4, 28, 28, 0), (4, 28, 28, 5)])
def test_images_of_no_pixels_or_odd_channels_are_refused(shape, tmp_path, capsys, no_long_step):
    images = tmp_path / "odd.npy"
    np.save(images, np.zeros(shape, np.uint8))
    assert quantize_main(["--model", MODEL, "--calib", str(images), "--input-shape", "28,28,1",
                          "--out", str(tmp_path / "x.bundle")]) == 2
    one_line(capsys, 2, str(images), "at least 1x1 with 1 to 4 channels", str(list(shape)))


@pytest.mark.parametrize("option, value, needle", [
    ("--std", "inf", "--std inf"),
    ("--std", "nan", "--std nan"),
    ("--std", "0", "--std 0"),
    ("--std", "-1", "--std -1"),
    ("--std", "1e-300", "--std 1e-300"),
    ("--mean", "nan", "--mean nan"),
    ("--mean", "1.5", "--mean 1.5"),
    ("--mean", "0.5,0.5", "--mean 0.5,0.5"),
    ("--std", "x", "--std x"),
])
def test_bad_normalisation_values_are_refused_before_the_calibration(option, value, needle, tmp_path, capsys,
                                                                     no_long_step):
    out = tmp_path / "x.bundle"
    assert quantize_main(["--model", MODEL, option, value, "--out", str(out)]) == 2
    one_line(capsys, 2, needle)
    assert not out.exists()


def test_a_file_that_is_not_onnx_is_named(tmp_path, capsys, no_long_step):
    onnx = tmp_path / "net.onnx"
    onnx.write_bytes(b"not an onnx file")
    assert quantize_main(["--onnx", str(onnx), "--out", str(tmp_path / "x.bundle")]) == 2
    one_line(capsys, 2, f"{onnx}: not a readable ONNX model")


def test_an_unwritable_out_is_refused_before_the_quantisation(unwritable_folder, capsys, no_long_step):
    out = unwritable_folder / "x.bundle"
    assert quantize_main(["--model", MODEL, "--out", str(out)]) == 2
    one_line(capsys, 2, f"--out {out}", "cannot write")
    assert quantize_main(["--out", str(out), "--calibration-images", "20"]) == 2
    one_line(capsys, 2, f"--out {out}", "cannot write")


def test_a_bad_multiplier_width_and_name_are_one_line(tmp_path, capsys, no_long_step):
    assert quantize_main(["--model", MODEL, "--multiplier-bits", "20", "--out", str(tmp_path / "x.bundle")]) == 2
    one_line(capsys, 2, "--multiplier-bits")
    assert quantize_main(["--model", MODEL, "--name", "", "--out", str(tmp_path / "x.bundle")]) == 2
    one_line(capsys, 2, "--name")


def test_the_module_runs_as_a_script_and_ctrl_c_leaves_one_line(tmp_path):
    """The real command, as a user starts it, interrupted by SIGINT while it calibrates."""
    import signal
    import subprocess
    import time
    model = _model_file(tmp_path, "import time\ndef build():\n    print('ready', flush=True)\n    time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-m", "golden.quantize", "--model", model, "--out",
                             str(tmp_path / "x.bundle")], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err.strip() == "interrupted; nothing written", err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.py"]
