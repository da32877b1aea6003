"""compare.py and quantize evaluate exactly what they are given: the float
model the bundle was made from (checked by SHA-256), the user's own .npy
images, and every bad input ends in one line and exit 2."""
import json
import pickle
import zipfile

import numpy as np
import pytest
import torch

from golden import data, intref
from golden.bundle import Bundle
from golden.models import SqueezeNet, tiny_spec
from golden.quantize import REFERENCE_BUNDLE, REFERENCE_CHECKPOINT, main as quantize_main
from golden.train import evaluate
from squeezefire.compare import main as compare_main


def _one_line_error(capsys, *needles):
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error: ") and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A non-reference network: random-init checkpoint and its bundle."""
    d = tmp_path_factory.mktemp("tiny")
    torch.manual_seed(5)
    model = SqueezeNet(tiny_spec()).eval()
    torch.save(model.state_dict(), d / "tiny.pt")
    assert quantize_main(["--net", "tiny-fmnist", "--checkpoint", str(d / "tiny.pt"), "--out",
                          str(d / "tiny.bundle"), "--calibration-images", "200"]) == 0
    return d, model


def test_matched_non_reference_pair_gives_its_own_float_and_int8_figures(tiny, tmp_path):
    d, model = tiny
    out = tmp_path / "r.json"
    assert compare_main(["--bundle", str(d / "tiny.bundle"), "--checkpoint", str(d / "tiny.pt"),
                         "--images", "0", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    images, labels = data.load("test")
    bundle = Bundle.load(d / "tiny.bundle")
    assert r["network"] == "tiny-fmnist"
    assert r["float_top1"] == evaluate(model, images, labels)
    assert r["int8_top1"] == float(np.mean(intref.classify(bundle, images)[1] == labels))


def test_mismatched_checkpoint_is_refused(tiny, capsys):
    d, _ = tiny
    assert compare_main(["--bundle", str(d / "tiny.bundle"), "--checkpoint", str(REFERENCE_CHECKPOINT),
                         "--images", "0"]) == 2
    _one_line_error(capsys, "is not the one bundle", "float.pt")


def test_without_a_checkpoint_the_float_columns_are_skipped(tiny, tmp_path, capsys):
    d, _ = tiny
    out = tmp_path / "r.json"
    assert compare_main(["--bundle", str(d / "tiny.bundle"), "--images", "0", "--json", str(out)]) == 0
    assert "notice: float columns skipped" in capsys.readouterr().err
    r = json.loads(out.read_text())
    assert r["float_top1"] is None and r["int8_top1"] > 0


def test_npy_images_are_evaluated(tmp_path):
    images, labels = data.load("test")
    np.save(tmp_path / "x.npy", images[100:160])
    np.save(tmp_path / "y.npy", labels[100:160])
    out = tmp_path / "r.json"
    assert compare_main(["--data", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.npy"),
                         "--images", "0", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    golden = intref.classify(Bundle.load(REFERENCE_BUNDLE), images[100:160])[1]
    assert r["images_golden"] == 60 and r["int8_top1"] == float(np.mean(golden == labels[100:160]))


def test_npy_of_another_size_is_fitted_to_the_network(tmp_path):
    """RGB 40x36 images are greyscaled and resized as the host driver
    does (golden.images.fit_image) before the golden model sees them."""
    from golden.images import fit_image
    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, (6, 40, 36, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, 6)
    np.save(tmp_path / "x.npy", images)
    np.save(tmp_path / "y.npy", labels)
    out = tmp_path / "r.json"
    assert compare_main(["--data", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.npy"),
                         "--images", "0", "--json", str(out)]) == 0
    fitted = np.stack([fit_image(img, (28, 28, 1)) for img in images])
    golden = intref.classify(Bundle.load(REFERENCE_BUNDLE), fitted)[1]
    assert json.loads(out.read_text())["int8_top1"] == float(np.mean(golden == labels))


@pytest.mark.parametrize("images, labels, needle", [
    (np.zeros((4, 28, 28, 5), np.uint8), np.zeros(4, np.int64), "at least 1x1 with 1 to 4 channels"),
    (np.zeros((4, 28, 28, 1), np.float32), np.zeros(4, np.int64), "must be uint8"),
    (np.zeros((4, 28, 28, 1), np.uint8), np.zeros(3, np.int64), "labels must be integers of shape (4,)"),
    (np.zeros((4, 28, 28, 1), np.uint8), np.full(4, 10), "label 10 but bundle"),
])
def test_bad_npy_data_is_one_line(tmp_path, capsys, images, labels, needle):
    np.save(tmp_path / "x.npy", images)
    np.save(tmp_path / "y.npy", labels)
    assert compare_main(["--data", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.npy"),
                         "--images", "0"]) == 2
    _one_line_error(capsys, needle)


def test_corrupt_bundle_member_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.bundle"
    raw = bytearray(REFERENCE_BUNDLE.read_bytes())
    with zipfile.ZipFile(REFERENCE_BUNDLE) as zf:
        info = zf.getinfo("fire2/expand3x3/indices.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    raw[start:start + 64] = bytes(64)           # the deflate stream, not the headers
    bad.write_bytes(bytes(raw))
    assert compare_main(["--bundle", str(bad), "--images", "0"]) == 2
    _one_line_error(capsys, "bad.bundle")


def test_json_out_never_overwrites_a_users_file(tmp_path, capsys):
    mine = tmp_path / "notes.json"
    mine.write_text("my notes")
    assert compare_main(["--images", "0", "--json", str(mine)]) == 2
    _one_line_error(capsys, "notes.json", "refusing to overwrite")
    assert mine.read_text() == "my notes"


@pytest.mark.parametrize("content", [b"", b"not a pickle at all", "pickle"])
def test_bad_checkpoints_are_one_line(tmp_path, capsys, content):
    ckpt = tmp_path / "c.pt"
    if content == "pickle":             # an object weights_only=True rightly refuses
        torch.save({"state": SqueezeNet(tiny_spec())}, ckpt, pickle_module=pickle)
    else:
        ckpt.write_bytes(content)
    assert quantize_main(["--checkpoint", str(ckpt), "--out", str(tmp_path / "o.bundle")]) == 2
    _one_line_error(capsys, "c.pt")
    assert not (tmp_path / "o.bundle").exists()


def test_wrong_network_checkpoint_is_one_line(tiny, tmp_path, capsys):
    d, _ = tiny
    assert quantize_main(["--checkpoint", str(d / "tiny.pt"), "--out", str(tmp_path / "o.bundle")]) == 2
    _one_line_error(capsys, "does not hold network 'reference-fmnist'")


@pytest.mark.parametrize("count", ["0", "-1", "60001"])
def test_calibration_count_out_of_range_is_refused(tmp_path, capsys, count):
    assert quantize_main(["--calibration-images", count, "--out", str(tmp_path / "o.bundle")]) == 2
    _one_line_error(capsys, f"--calibration-images {count}: must be from 1 to 60000")
    assert not (tmp_path / "o.bundle").exists()


def test_quantize_has_no_default_output(capsys):
    """The committed reference bundle has codebook weights; a plain int8 one
    must not replace it by default."""
    before = REFERENCE_BUNDLE.read_bytes()
    assert quantize_main([]) == 2
    _one_line_error(capsys, "--out is missing", "golden.compress")
    assert REFERENCE_BUNDLE.read_bytes() == before


def test_quantize_never_overwrites_a_users_file(tmp_path, capsys):
    mine = tmp_path / "thesis.tex"
    mine.write_text("chapter 1")
    assert quantize_main(["--out", str(mine)]) == 2
    _one_line_error(capsys, "thesis.tex", "not a bundle")
    assert mine.read_text() == "chapter 1"
