"""python -m golden.compress --model/--onnx: Deep Compression of a user's own
network on the user's own data (issue 26).  A SqueezeNet written as a plain
nn.Module (``examples/my_squeezenet.py``: torch.cat Fires, ReLU(inplace=True),
a final conv + ReLU + AdaptiveAvgPool2d) is imported, given codebooks,
pruned and fine-tuned on a few seeded images, calibrated, written as a
bundle, and the integer reference and the engine's program agree on it
value for value; the held-out images are never fine-tuned or calibrated on;
bad input is one line, exit 2, nothing written."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from golden import compress, data, intref
from golden.bundle import Bundle
from golden.graph import GraphModule, forward
from golden.user_model import UserModel
from golden.importers.normalize import Normalization
from golden.weight_sharing import codebook_graph, share_graph, weight_params

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "my_squeezenet.py"
MODEL = f"{EXAMPLE}:build_tiny"
LOGITS_MODEL = f"{EXAMPLE}:build_tiny_logits"
IMAGES = 256            # the user's labelled set: a seeded choice of Fashion-MNIST training images
HELD_OUT = 0.25         # -> 64 held out, 192 to fine-tune and calibrate on
NORM = ["--mean", "0.286", "--std", "0.353"]      # a folded Normalize: conv1 pads with rint(255 * 0.286) = 73


def _example():
    sys.path.insert(0, str(EXAMPLE.parent))
    try:
        import my_squeezenet
    finally:
        sys.path.pop(0)
    return my_squeezenet


@pytest.fixture(scope="module")
def user(tmp_path_factory):
    """The tiny SqueezeNet trained briefly (seeded) and the user's data as
    IMAGES.npy + LABELS.npy: 256 seeded Fashion-MNIST training images."""
    d = tmp_path_factory.mktemp("compress_user")
    images, labels = data.load("train")
    torch.set_num_threads(1)
    net = _example().train(_example().build_tiny(), images[:4000], labels[:4000], epochs=2, mean=0.286, std=0.353)
    torch.save(net.state_dict(), d / "tiny.pt")
    idx = np.sort(np.random.default_rng(26).permutation(len(images))[:IMAGES])
    np.save(d / "images.npy", images[idx])
    np.save(d / "labels.npy", labels[idx])
    return d


def _args(d: Path, *extra) -> list[str]:
    return ["--model", MODEL, "--checkpoint", str(d / "tiny.pt"), "--data", str(d / "images.npy"),
            "--labels", str(d / "labels.npy"), "--held-out", str(HELD_OUT), *NORM, *map(str, extra)]


RECIPE = ["--bits", 3, "--layer-bits", "features_4/expand3x3/weight=4", "--prune", 0.25, "--equalize",
          "--finetune-epochs", 1, "--calibration-images", 64]


@pytest.fixture(scope="module")
def compressed(user, tmp_path_factory):
    """(bundle path, the images fine-tuning saw, stdout): the compression run
    once, with the real fine-tuning, its training images recorded."""
    seen = []
    real = compress.cluster

    def recording(*args, train=None, **kwargs):
        seen.append(train[0].copy())
        return real(*args, train=train, **kwargs)
    out = tmp_path_factory.mktemp("bundle") / "tiny.bundle"
    mp = pytest.MonkeyPatch()
    mp.setattr(compress, "cluster", recording)
    try:
        import io
        from contextlib import redirect_stdout
        text = io.StringIO()
        with redirect_stdout(text):
            assert compress.main(_args(user, *RECIPE, "--out", out)) == 0
    finally:
        mp.undo()
    return out, seen, text.getvalue()


def test_the_bundle_has_the_codebooks_asked_for(compressed):
    out, _, stdout = compressed
    bundle = Bundle.load(out)
    assert bundle.version >= 2 and bundle.input.pad == (73,)          # the folded Normalize's padding value
    books = bundle.codebooks
    assert books["features_4/expand3x3/weight"].bits == 4
    assert {cb.bits for key, cb in books.items() if key != "features_4/expand3x3/weight"} == {3}
    for key, cb in books.items():
        assert np.array_equal(bundle.arrays[key], cb.weights())
        assert (cb.values == 0).any(), key                              # the pruned weights' entry
    source = bundle.graph["source"]
    assert source["user_model"]["model"] == MODEL and source["compression"]["equalize"] is True
    assert source["compression"]["data"]["train_images"] == IMAGES - 64
    assert "64 of the 256 images" in source["compression"]["data"]["held_out"]
    lines = [line for line in stdout.splitlines() if line.startswith("  ")]
    assert [line.split()[0] for line in lines] == ["float", "int8", "compressed"]
    assert all(0 <= float(line.split()[-1]) <= 1 for line in lines)


def test_the_held_out_images_are_never_fine_tuned_on(compressed, user):
    """The fine-tuning saw exactly the 192 images left after the seeded split."""
    _, seen, _ = compressed
    images = np.load(user / "images.npy")
    held = np.sort(np.random.default_rng(0).permutation(IMAGES)[:64])
    kept = np.setdiff1d(np.arange(IMAGES), held)
    assert len(seen) == 1 and np.array_equal(seen[0], images[kept])


def test_intref_and_the_engine_program_agree(compressed, user):
    """Every class sum of golden.intref and of the engine's program
    (rtl_gen.engine: the passes it plans, run in numpy) equal, on the
    held-out images and on random ones."""
    from rtl_gen.engine.engine import EngineParams
    from rtl_gen.engine.execute import run_program
    bundle = Bundle.load(compressed[0])
    engine = EngineParams(bundle)
    assert engine.codes.bits == 4
    images = np.concatenate([np.load(user / "images.npy")[:16],
                             np.random.default_rng(5).integers(0, 256, (4, 28, 28, 1), dtype=np.uint8)])
    sums, classes = intref.classify(bundle, images)
    program_sums, _ = run_program(engine.program, images)
    assert program_sums.dtype == sums.dtype and np.array_equal(program_sums, sums)


def test_the_same_inputs_give_the_same_bundle_bytes(compressed, user, tmp_path):
    again = tmp_path / compressed[0].name          # the same name: the bundle's network name is the file's stem
    assert compress.main(_args(user, *RECIPE, "--out", again)) == 0
    assert again.read_bytes() == compressed[0].read_bytes()


def test_saved_shared_values_remake_the_bundle(user, tmp_path):
    tuned, shared, remade = tmp_path / "t.bundle", tmp_path / "s.npz", tmp_path / "r.bundle"
    assert compress.main(_args(user, "--bits", 3, "--finetune-epochs", 1, "--calibration-images", 32,
                               "--save-shared", shared, "--name", "tiny", "--out", tuned)) == 0
    assert compress.main(_args(user, "--shared", shared, "--calibration-images", 32, "--name", "tiny",
                               "--out", remade)) == 0
    assert remade.read_bytes() == tuned.read_bytes()


def test_an_onnx_export_compresses_to_the_same_network(user, tmp_path):
    """--onnx instead of --model: the same layers and codebooks (the
    constants may differ in a last rounding: the exporter folds in float32)."""
    net = _example().build_tiny()
    net.load_state_dict(torch.load(user / "tiny.pt"))
    torch.onnx.export(net.eval(), (torch.zeros(1, 1, 28, 28),), str(tmp_path / "tiny.onnx"), dynamo=False)
    common = ["--data", str(user / "images.npy"), "--labels", str(user / "labels.npy"), *NORM,
              "--bits", "3", "--calibration-images", "32", "--images", "8"]
    assert compress.main(["--onnx", str(tmp_path / "tiny.onnx"), *common, "--out", str(tmp_path / "o.bundle")]) == 0
    assert compress.main(["--model", MODEL, "--checkpoint", str(user / "tiny.pt"), *common,
                          "--out", str(tmp_path / "m.bundle")]) == 0
    a, b = Bundle.load(tmp_path / "o.bundle"), Bundle.load(tmp_path / "m.bundle")
    assert [layer.kind for layer in a.layers] == [layer.kind for layer in b.layers]
    assert len(a.codebooks) == len(b.codebooks) == 11 and {cb.bits for cb in a.codebooks.values()} == {3}
    images = np.load(user / "images.npy")[:64]
    assert np.mean(intref.classify(a, images)[1] == intref.classify(b, images)[1]) >= 0.9


def test_a_logits_layer_keeps_one_weight_scale(user):
    """A final conv without ReLU: its accumulators are the logits, compared
    with each other, so clustering and fine-tuning keep one scale for all
    its channels -- and the bundle's classes are the float codebook
    network's."""
    from golden.finetune import Schedule, finetune
    graph = UserModel(LOGITS_MODEL).graph((28, 28, 1))
    key = [k for k, p in weight_params(graph)][-1]
    assert graph[-2]["act"] == "none"
    shared = share_graph(graph, 3)
    assert len(set(shared[key].scale)) == 1
    assert len(set(shared[weight_params(graph)[0][0]].scale)) > 1       # the others: one per channel
    images, labels = np.load(user / "images.npy"), np.load(user / "labels.npy")
    tuned, biases = finetune(graph, shared, images[:128], labels[:128], Schedule(1, batch=64), progress=False)
    assert len(set(tuned[key].scale)) == 1 and tuned[key].scale[0] != shared[key].scale[0]
    from golden.codebook_bundle import codebook_bundle
    bundle = codebook_bundle(graph, tuned, biases, images[:64], "logits")
    assert bundle.layers[-2].logits
    _, classes = intref.classify(bundle, images)
    float_classes = GraphModule(codebook_graph(graph, tuned, biases))(
        torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255).argmax(1).numpy()
    assert np.mean(classes == float_classes) >= 0.95


def test_fine_tuning_pads_with_the_normalize_fill(user):
    """The fine-tuned network pads its first conv with the folded
    Normalize's zero, as the bundle does (not with 0)."""
    from golden.finetune import SharedWeightNet
    graph = UserModel(MODEL, checkpoint=user / "tiny.pt", normalization=Normalization((0.286,), (0.353,))
                      ).graph((28, 28, 1))
    assert graph[1]["fill"] is not None and graph[1]["padding"] == 1
    shared = share_graph(graph, 4)
    x = torch.from_numpy(np.load(user / "images.npy")[:8]).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        tuned = SharedWeightNet(graph, shared)(x)
    coded = forward(codebook_graph(graph, shared), x)[graph[-1]["name"]]
    assert torch.allclose(tuned, coded, rtol=1e-4, atol=1e-6)


# -- bad input -------------------------------------------------------------------------------

def _fails(*args, **kwargs):
    raise AssertionError("a long step ran before the input was checked")


def _bad_cases(d: Path, tmp_path: Path) -> dict:
    wide = tmp_path / "wide_labels.npy"
    np.save(wide, np.full(IMAGES, 12, dtype=np.int64))
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, x=np.zeros(1))
    npy = ["--model", MODEL, "--checkpoint", str(d / "tiny.pt"), "--data", str(d / "images.npy")]
    return {
        "--net and --model": (_args(d, "--bits", 3, "--net", "tiny-fmnist"), "--net tiny-fmnist"),
        "--labels with fashion-mnist": (["--model", MODEL, "--labels", str(d / "labels.npy"), "--bits", 3],
                                        "--labels goes with --data IMAGES.npy"),
        "--held-out 1.5": (_args(d, "--bits", 3, "--held-out", 1.5), "--held-out 1.5"),
        "--held-out everything": (_args(d, "--bits", 3, "--held-out", 0.999), "leave none"),
        "--held-out and --test-data": (_args(d, "--bits", 3, "--test-data", "fashion-mnist"), "give one"),
        "--test-labels alone": (_args(d, "--bits", 3, "--test-labels", str(d / "labels.npy")), "--test-labels"),
        "no labels to fine-tune": ([*npy, "--bits", 3, "--finetune-epochs", 1], "needs labelled --data"),
        "labels beyond the outputs": ([*npy, "--labels", str(wide), "--bits", 3], "label 12"),
        "--finetune-images": (_args(d, "--bits", 3, "--finetune-epochs", 1, "--finetune-images", 193),
                              "--finetune-images 193"),
        "--calibration-images": (_args(d, "--bits", 3, "--calibration-images", 500), "--calibration-images 500"),
        "--images": (_args(d, "--bits", 3, "--images", 65), "--images 65"),
        "--first-layers": (_args(d, "--bits", 3, "--finetune-epochs", 1, "--first-layers", 11), "11 weight arrays"),
        "--layer-bits key": (_args(d, "--bits", 3, "--layer-bits", "conv9/weight=3"), "conv9/weight"),
        "--bits": (_args(d, "--bits", 9), "--bits"),
        "--mean": (_args(d, "--bits", 3, "--mean", "2"), "--mean 2"),
        "--shared of another file": (_args(d, "--shared", foreign), "shared-weights"),
        "--data for the family": (["--checkpoint", str(d / "tiny.pt"), "--data", str(d / "images.npy"),
                                   "--bits", 3], "--data goes with --model"),
        "model file missing": (["--model", "nowhere.py:build", "--bits", 3], "nowhere.py not found"),
    }


def test_bad_input_is_one_line_exit_2_and_writes_nothing(user, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(compress, "cluster", _fails)
    for what, (args, needle) in _bad_cases(user, tmp_path).items():
        out = tmp_path / "out.bundle"
        assert compress.main([*map(str, args), "--out", str(out)]) == 2, what
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and err.startswith("error:") and needle in err, (what, err)
        assert not out.exists(), what


def test_an_out_that_is_not_a_bundle_is_kept(user, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(compress, "cluster", _fails)
    out = tmp_path / "notes.txt"
    out.write_text("mine")
    assert compress.main(_args(user, "--bits", 3, "--out", out)) == 2
    assert "refusing to overwrite" in capsys.readouterr().err and out.read_text() == "mine"
    assert compress.main(_args(user, "--bits", 3)) == 2
    assert "--out" in capsys.readouterr().err


def test_report_on_an_imported_model(user, compressed, capsys):
    code = compress.main(_args(user, "--report", "--report-bits", "4,3", "--calibration-images", 32,
                               "--bundle", compressed[0]))
    out = capsys.readouterr().out
    assert code == 0
    trained = out.split("top-1 on 64 held-out images")[1].splitlines()
    rows = [line for line in trained[2:] if line.strip()]
    assert [r.split()[0] for r in rows] == ["float32", "int8", "pruned", "codebook", "codebook", "tiny.bundle"]
    assert all(0 <= float(r.split()[-1]) <= 1 for r in rows)


@pytest.mark.slow
def test_the_engine_in_simulation_agrees(compressed, user):
    """The compressed bundle on the iCEBreaker's engine (cocotb + Verilator,
    as ``golden/compare.py --arch engine``): every class sum ==, and the
    cycles the model says (one build of its own: its ROMs hold these weights)."""
    from squeezefire.compare import simulate_rtl
    bundle = Bundle.load(compressed[0])
    images = np.load(user / "images.npy")[:3]
    sums, classes = intref.classify(bundle, images)
    rtl = simulate_rtl(bundle, images, sums, arch="engine")
    assert np.array_equal(rtl.sums, sums) and np.array_equal(rtl.classes, classes)
    assert rtl.rtl_mismatches == 0 and rtl.cycles_per_image == rtl.cycles_per_image_model
