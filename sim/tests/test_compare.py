"""`python golden/compare.py` end to end, as a user runs it: float, int8 and
the simulated chip on real images, with the JSON and the dump."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from golden import intref
from golden.bundle import Bundle

ROOT = Path(__file__).resolve().parents[2]


def test_compare_through_the_simulated_chip(tmp_path):
    out, dump = tmp_path / "out.json", tmp_path / "dump"
    r = subprocess.run([sys.executable, "golden/compare.py", "--images", "5", "--json", str(out), "--dump", str(dump)],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads(out.read_text())
    assert res["images_rtl"] == 5 and res["rtl_mismatches"] == 0
    assert {"rtl_top1", "cycles_per_image", "float_top1", "int8_top1"} <= res.keys()
    assert "RTL vs golden mismatches  0 of 5" in r.stdout
    # The dump lets an independent checker redo the comparison.
    bundle = Bundle.load(dump / "network.bundle")
    images = np.load(dump / "images.npy")
    sums, classes = intref.classify(bundle, images)
    assert np.array_equal(np.load(dump / "rtl_sums.npy"), sums)
    assert np.array_equal(np.load(dump / "golden_classes.npy"), classes)
    assert np.array_equal(np.load(dump / "rtl_classes.npy"), classes)
    # More images asked for than the data holds: refused in one line before
    # anything runs (issue 23: never clamped); then all of them, with the
    # progress bar; the earlier dump is replaced, a user's file is not.
    np.save(tmp_path / "x.npy", images[:2])
    np.save(tmp_path / "y.npy", np.load(dump / "golden_classes.npy")[:2])
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("mine")
    data = [sys.executable, "golden/compare.py", "--data", str(tmp_path / "x.npy"), "--labels",
            str(tmp_path / "y.npy"), "--json", str(out)]
    r = subprocess.run(data + ["--images", "100000", "--dump", str(dump)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and "--images 100000" in r.stderr and "has 2 images" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert len(np.load(dump / "images.npy")) == 5           # the earlier dump untouched
    base = data + ["--images", "2"]
    r = subprocess.run(base + ["--dump", str(tmp_path / "mine")], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and "mine" in r.stderr and "Traceback" not in r.stderr
    assert (tmp_path / "mine" / "keep.txt").read_text() == "mine"
    r = subprocess.run(base + ["--dump", str(dump)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2/2" in r.stderr
    assert json.loads(out.read_text())["images_rtl"] == 2
    assert len(np.load(dump / "images.npy")) == 2
