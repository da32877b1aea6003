"""python -m golden.compress: codebook bundles, the report, bad input."""
import numpy as np
import pytest
import torch

from golden import compress
from golden import graph as fgraph
from golden.bundle import Bundle
from golden.models import SqueezeNet, tiny_spec
from golden.weight_sharing import weight_params

FAST = ["--net", "tiny-fmnist", "--calibration-images", "20"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A random-init tiny network (no training needed to test the plumbing)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    torch.save(SqueezeNet(tiny_spec()).state_dict(), path)
    return path


def _run(capsys, *args):
    code = compress.main([*FAST, *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err.strip().splitlines()


def test_compress_writes_a_codebook_bundle(tmp_path, checkpoint, capsys):
    out = tmp_path / "t3.bundle"
    code, stdout, _ = _run(capsys, "--checkpoint", checkpoint, "--bits", 3, "--prune", 0.25, "--out", out)
    assert code == 0 and "index bits" in stdout
    bundle = Bundle.load(out)
    assert bundle.version == 2 and all(cb.bits == 3 for cb in bundle.codebooks.values())
    assert len(bundle.codebooks) == 5
    for key, cb in bundle.codebooks.items():
        assert np.array_equal(bundle.arrays[key], cb.weights())
        assert (cb.values == 0).any()                                # the pruned weights' entry
    settings = bundle.graph["source"]["compression"]
    assert settings["prune"] == 0.25 and set(settings["bits"].values()) == {3}
    again = tmp_path / "again.bundle"
    assert _run(capsys, "--checkpoint", checkpoint, "--bits", 3, "--prune", 0.25, "--out", again)[0] == 0
    assert again.read_bytes() == out.read_bytes()


def test_layer_bits(tmp_path, checkpoint, capsys):
    out = tmp_path / "mixed.bundle"
    assert _run(capsys, "--checkpoint", checkpoint, "--bits", 3, "--layer-bits", "conv1/weight=5", "--out", out)[0] == 0
    books = Bundle.load(out).codebooks
    assert books["conv1/weight"].bits == 5 and books["fire2/expand3x3/weight"].bits == 3


def test_finetuned_values_remake_the_same_bundle(tmp_path, checkpoint, capsys):
    """The fine-tuned float values, saved, give the same bundle bytes again
    without fine-tuning: the integers are a pure function of that file."""
    tuned, shared, remade = tmp_path / "tuned.bundle", tmp_path / "shared.npz", tmp_path / "remade.bundle"
    code, _, _ = _run(capsys, "--checkpoint", checkpoint, "--bits", 3, "--finetune-epochs", 1, "--finetune-images",
                      256, "--out", tuned, "--save-shared", shared)
    assert code == 0 and shared.exists()
    assert _run(capsys, "--checkpoint", checkpoint, "--shared", shared, "--out", remade)[0] == 0
    assert remade.read_bytes() == tuned.read_bytes()
    assert Bundle.load(tuned).graph["source"]["compression"]["finetune"]["epochs"] == 1


def test_two_stages_after_equalisation(tmp_path, checkpoint, capsys):
    """--equalize --first-layers: the first weight arrays fine-tuned alone,
    then all; the saved values still remake the same bundle."""
    tuned, shared, remade = tmp_path / "tuned.bundle", tmp_path / "shared.npz", tmp_path / "remade.bundle"
    code, _, err = _run(capsys, "--checkpoint", checkpoint, "--bits", 3, "--equalize", "--first-layers", 2,
                        "--finetune-epochs", 1, "--finetune-images", 256, "--out", tuned, "--save-shared", shared)
    assert code == 0, err
    assert sum(line.startswith("fine-tune 1/1: loss") for line in err) == 2       # two stages
    settings = Bundle.load(tuned).graph["source"]["compression"]
    assert settings["equalize"] is True and settings["finetune"]["first_layers"] == 2
    assert all(cb.bits == 3 for cb in Bundle.load(tuned).codebooks.values())
    assert _run(capsys, "--checkpoint", checkpoint, "--shared", shared, "--out", remade)[0] == 0
    assert remade.read_bytes() == tuned.read_bytes()


def _bad_cases(tmp_path, checkpoint):
    not_bundle = tmp_path / "notes.txt"
    not_bundle.write_text("mine")
    other = tmp_path / "other.pt"
    torch.save({"x": torch.zeros(1)}, other)
    return {
        "missing checkpoint": (["--checkpoint", tmp_path / "nope.pt", "--bits", 3], "not found"),
        "bits 1": (["--checkpoint", checkpoint, "--bits", 1], "--bits"),
        "bits 9": (["--checkpoint", checkpoint, "--bits", 9], "--bits"),
        "bits x": (["--checkpoint", checkpoint, "--bits", "x"], "--bits"),
        "no bits": (["--checkpoint", checkpoint], "--bits"),
        "prune 1": (["--checkpoint", checkpoint, "--bits", 3, "--prune", 1.0], "--prune"),
        "layer bits key": (["--checkpoint", checkpoint, "--bits", 3, "--layer-bits", "fire9/weight=3"], "fire9/weight"),
        "layer bits value": (["--checkpoint", checkpoint, "--bits", 3, "--layer-bits", "conv1/weight=12"], "conv1/weight"),
        "wrong network": (["--checkpoint", other, "--bits", 3], "does not hold network"),
        "shared not a file of ours": (["--checkpoint", checkpoint, "--shared", not_bundle], "shared-weights"),
        "first-layers without fine-tuning": (["--checkpoint", checkpoint, "--bits", 3, "--first-layers", 2],
                                             "--first-layers"),
        "first-layers negative": (["--checkpoint", checkpoint, "--bits", 3, "--finetune-epochs", 1,
                                   "--first-layers", -1], "--first-layers"),
        "first-layers all": (["--checkpoint", checkpoint, "--bits", 3, "--finetune-epochs", 1,
                              "--first-layers", 5], "5 weight arrays"),
        "save-shared over a foreign file": (["--checkpoint", checkpoint, "--bits", 3, "--finetune-epochs", 1,
                                             "--save-shared", not_bundle], "refusing"),
    }


def test_bad_input_is_one_line_and_writes_nothing(tmp_path, checkpoint, capsys):
    for what, (args, needle) in _bad_cases(tmp_path, checkpoint).items():
        out = tmp_path / "out.bundle"
        code, _, err = _run(capsys, *args, "--out", out)
        assert code == 2, what
        assert len(err) == 1 and err[0].startswith("error:") and needle in err[0], (what, err)
        assert not out.exists(), what
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("make", ["file", "folder"])
def test_output_that_is_not_a_bundle_is_refused(tmp_path, checkpoint, capsys, make):
    out = tmp_path / "out"
    out.mkdir() if make == "folder" else out.write_text("mine")
    code, _, err = _run(capsys, "--checkpoint", checkpoint, "--bits", 3, "--out", out)
    assert code == 2 and len(err) == 1 and str(out) in err[0]
    assert out.is_dir() if make == "folder" else out.read_text() == "mine"


def test_report_on_the_tiny_network(tmp_path, checkpoint, capsys):
    bundle = tmp_path / "t.bundle"
    assert _run(capsys, "--checkpoint", checkpoint, "--bits", 3, "--out", bundle)[0] == 0
    code, stdout, _ = _run(capsys, "--report", "--report-nets", "tiny-fmnist", "--report-bits", "4,3",
                           "--checkpoint", checkpoint, "--images", 40, "--bundle", bundle)
    assert code == 0
    assert "No pretrained ImageNet weights exist offline" in stdout
    for row in ("float32", "int8", "pruned 33% (sparse)", "codebook 4-bit + Huffman", "codebook 3-bit", "t.bundle"):
        assert row in stdout, row
    trained = stdout.split("trained (")[1].splitlines()
    top1 = [float(line.split()[-1]) for line in trained[2:]]
    assert len(top1) == 6 and all(0 <= t <= 1 for t in top1)
    graph = fgraph.extract(SqueezeNet(tiny_spec()).eval())
    params = sum(p["weight"].size + p["bias"].size for _, p in weight_params(graph))
    assert f"{params} parameters" in stdout


def test_report_refuses_an_unknown_network(capsys):
    code, _, err = _run(capsys, "--report", "--report-nets", "alexnet")
    assert code == 2 and len(err) == 1 and "alexnet" in err[0]
