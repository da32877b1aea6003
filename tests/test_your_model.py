"""docs/your-model.md, step by step, on a smaller version of its model
(``examples/my_net.py:build_tiny``): a plain nn.Module and its ONNX export
each become a bundle through the documented commands, and bad input is
refused in one line with exit 2, writing nothing (issue 14)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from golden import data, intref
from golden.bundle import Bundle
from golden.quantize import main as quantize_main

ROOT = Path(__file__).resolve().parent.parent
MODEL = f"{ROOT / 'examples' / 'my_net.py'}:build_tiny"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The tutorial's model, tiny, trained for two epochs on 4 000 images
    (5 s; well above chance, far from trained); its state_dict and ONNX export."""
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        import my_net
    finally:
        sys.path.pop(0)
    d = tmp_path_factory.mktemp("your_model")
    images, labels = data.load("train")
    model = my_net.train(my_net.build_tiny(), images[:4000], labels[:4000], epochs=2)
    torch.save(model.state_dict(), d / "my.pt")
    torch.onnx.export(model, (torch.zeros(1, 1, 28, 28),), str(d / "my.onnx"), dynamo=False)
    return d


@pytest.fixture(scope="module")
def bundles(trained):
    d = trained
    assert quantize_main(["--model", MODEL, "--checkpoint", str(d / "my.pt"), "--calibration-images", "200",
                          "--out", str(d / "my.bundle")]) == 0
    assert quantize_main(["--onnx", str(d / "my.onnx"), "--calibration-images", "200",
                          "--out", str(d / "my-onnx.bundle")]) == 0
    return d / "my.bundle", d / "my-onnx.bundle"


def test_module_and_onnx_give_the_same_network(bundles):
    """The same layers; the constants may differ in a last rounding step,
    because the ONNX exporter folds BatchNorm in float32 and the importer
    in float64 -- so the classes agree, not every bit."""
    a, b = (Bundle.load(p) for p in bundles)
    assert [layer.kind for layer in a.layers] == ["input", "conv", "maxpool", "fire", "maxpool", "fire", "conv", "gap"]
    assert [layer.kind for layer in b.layers] == [layer.kind for layer in a.layers]
    assert a.layers[-2].logits and a.version == 3
    images, _ = data.load("test")
    _, classes_a = intref.classify(a, images[:500])
    _, classes_b = intref.classify(b, images[:500])
    assert np.mean(classes_a == classes_b) >= 0.98


def test_compare_float_and_int8_columns(bundles, trained, tmp_path):
    from squeezefire.compare import main as compare_main
    out = tmp_path / "r.json"
    assert compare_main(["--bundle", str(bundles[0]), "--model", MODEL, "--checkpoint", str(trained / "my.pt"),
                         "--images", "0", "--json", str(out)]) == 0
    import json
    r = json.loads(out.read_text())
    assert r["float_top1"] > 0.25 and abs(r["float_top1"] - r["int8_top1"]) < 0.03


@pytest.mark.parametrize("args, message", [
    (["--model", "nowhere.py:build"], "file nowhere.py not found"),
    (["--model", "examples/my_net.py"], "expected FILE.py:FUNCTION"),
    (["--model", MODEL, "--onnx", "x.onnx"], "exactly one of --model"),
    (["--model", MODEL, "--mean", "0.5,0.5"], "--mean 0.5,0.5 has 2 values; the input has 1 channels"),
    (["--model", MODEL, "--input-shape", "28,28"], "--input-shape must be H,W,C"),
    (["--model", MODEL, "--calib", "nowhere/"], "data nowhere/: not 'fashion-mnist', a folder or a .npy"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(args, message, tmp_path, capsys):
    out = tmp_path / "x.bundle"
    assert quantize_main(args + ["--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not out.exists()


def test_unsupported_layer_in_a_model_file_is_named(tmp_path, capsys):
    net = tmp_path / "bad.py"
    net.write_text("from torch import nn\n"
                   "def build():\n"
                   "    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(5), nn.AdaptiveAvgPool2d(1))\n")
    assert quantize_main(["--model", f"{net}:build", "--out", str(tmp_path / "b.bundle")]) == 2
    err = capsys.readouterr().err
    assert "module '2' (MaxPool2d): a 5x5/5 floor-mode max pool" in err and err.count("\n") == 1


def _image_folder(root: Path, classes=("cat", "dog", "fish"), per_class: int = 3) -> Path:
    """An ImageFolder of seeded RGB PNGs of assorted sizes (resized by the loader)."""
    from PIL import Image
    rng = np.random.default_rng(7)
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            h, w = 30 + 4 * i, 40 - 3 * i
            img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            img[..., c] = 255 - img[..., c] // 4          # a colour cast per class
            Image.fromarray(img).save(root / name / f"{i}.png")
    return root


RGB_NET = """
import torch
from my_net import build

def rgb():
    torch.manual_seed(3)
    return build(width=8, in_channels=3, classes=3)
"""


@pytest.mark.parametrize("arch", ["engine", pytest.param("pipeline", marks=pytest.mark.slow)])
def test_rgb_32x32_with_normalize_end_to_end(arch, tmp_path):
    """32x32 RGB from a folder of PNGs of other sizes, Normalize(mean, std)
    folded with its padding value, logits through a Linear: quantised,
    then simulated bit-exact against golden (compare exits 1 on any
    mismatch)."""
    from squeezefire.compare import main as compare_main
    folder = _image_folder(tmp_path / "photos")
    net = tmp_path / "rgb_net.py"
    net.write_text(f"import sys\nsys.path.insert(0, {str(ROOT / 'examples')!r})\n" + RGB_NET)
    bundle = tmp_path / "rgb.bundle"
    assert quantize_main(["--model", f"{net}:rgb", "--calib", str(folder), "--input-shape", "32,32,3",
                          "--mean", "0.49,0.48,0.45", "--std", "0.25,0.24,0.26", "--out", str(bundle)]) == 0
    b = Bundle.load(bundle)
    assert b.input.pad == (125, 122, 115) and b.classes == ["cat", "dog", "fish"]
    out = tmp_path / "r.json"
    assert compare_main(["--bundle", str(bundle), "--model", f"{net}:rgb", "--data", str(folder), "--images", "2",
                         "--arch", arch, "--json", str(out)]) == 0
    import json
    r = json.loads(out.read_text())
    assert r["images_rtl"] == 2 and r["rtl_mismatches"] == 0


def test_mixed_sizes_without_input_shape_is_one_line(tmp_path, capsys):
    folder = _image_folder(tmp_path / "photos")
    out = tmp_path / "x.bundle"
    assert quantize_main(["--model", MODEL, "--calib", str(folder), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "images of 3 different sizes; give the network's input shape (--input-shape H,W,C)" in err
    assert err.count("\n") == 1 and not out.exists()
