"""Bundle format: round trip, deterministic bytes, and clear errors for
malformed or truncated files; version 2 (codebook-coded weights) likewise."""
import io
import json
import zipfile

import numpy as np
import pytest
import torch

from golden import graph as fgraph
from golden import intref
from golden.bundle import Bundle, BundleError
from golden.codebook import Codebook, exact_codebook
from golden.models import SqueezeNet, family
from golden.quantize import FIRE1_BUNDLE, quantize, random_fire_bundle, sub_bundle


@pytest.fixture
def bundle():
    return random_fire_bundle(5, 3, 4, 6, 5, 7, seed=0)[0]


def test_round_trip(tmp_path, bundle):
    bundle.save(tmp_path / "a.bundle")
    back = Bundle.load(tmp_path / "a.bundle")
    assert back.graph == json.loads(json.dumps(bundle.graph))
    assert back.arrays.keys() == bundle.arrays.keys()
    for k, v in bundle.arrays.items():
        assert back.arrays[k].dtype == v.dtype and np.array_equal(back.arrays[k], v)


def test_bytes_are_deterministic(tmp_path, bundle):
    bundle.save(tmp_path / "a.bundle")
    random_fire_bundle(5, 3, 4, 6, 5, 7, seed=0)[0].save(tmp_path / "b.bundle")
    assert (tmp_path / "a.bundle").read_bytes() == (tmp_path / "b.bundle").read_bytes()


def test_numpy_can_read_it(tmp_path, bundle):
    bundle.save(tmp_path / "a.bundle")
    with np.load(tmp_path / "a.bundle") as z:
        assert np.array_equal(z["fire/squeeze/weight"], bundle.array("fire", "squeeze/weight"))


def _npy(array):
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def _rewrite(src, dst, graph=None, arrays=None, drop=(), add=None):
    """Copy a bundle file, editing graph.json, replacing arrays, dropping
    members and adding arrays (key -> array) on the way."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for key, array in (add or {}).items():
            zout.writestr(key + ".npy", _npy(array))
        for name in zin.namelist():
            if name in drop:
                continue
            data = zin.read(name)
            if name == "graph.json" and graph is not None:
                g = json.loads(data)
                graph(g)
                data = json.dumps(g).encode()
            if arrays and name[:-4] in arrays:
                data = _npy(arrays[name[:-4]])
            zout.writestr(name, data)


def _set(path, value):
    def edit(g):
        obj = g
        for key in path[:-1]:
            obj = obj[key]
        obj[path[-1]] = value
    return edit


@pytest.mark.parametrize("edit, message", [
    (dict(drop=("graph.json",)), "graph.json is missing"),
    (dict(drop=("fire/expand3x3/m.npy",)), "layer 'fire': array 'expand3x3/m' is missing"),
    (dict(graph=_set(["format"], "onnx")), "'format' must be"),
    (dict(graph=_set(["version"], 99)), "unsupported bundle version 99"),
    (dict(graph=_set(["layers", 1, "kind"], "lstm")), "unknown kind 'lstm'"),
    (dict(graph=_set(["layers", 1, "shift", "squeeze"], 0)), "layer 'fire': shift 0 outside"),
    (dict(graph=_set(["layers", 1, "inputs"], ["nowhere"])), "input 'nowhere' is not an earlier layer"),
    (dict(graph=_set(["layers", 1, "shape"], [5, 7, 11])), "layer 'fire': shape"),
    (dict(graph=_set(["layers", 1, "cin"], 4)), "cin 4 but its input has 5 channels"),
    (dict(arrays={"fire/squeeze/weight": np.zeros((3, 5, 1, 1), np.int16)}),
     "array 'squeeze/weight' must be int8\\[3, 5, 1, 1\\], got int16"),
    (dict(arrays={"fire/expand1x1/bias": np.zeros(3, np.int32)}), "'expand1x1/bias' must be int32\\[4\\]"),
    (dict(arrays={"fire/squeeze/bias": np.full(3, 2**31 - 1000, np.int32)}), "accumulator may reach"),
    (dict(arrays={"fire/squeeze/weight": np.full((3, 5, 1, 1), -128, np.int8)}), "holds -128"),
])
def test_malformed_bundles_name_the_problem(tmp_path, bundle, edit, message):
    bundle.save(tmp_path / "good.bundle")
    _rewrite(tmp_path / "good.bundle", tmp_path / "bad.bundle", **edit)
    with pytest.raises(BundleError, match=message):
        Bundle.load(tmp_path / "bad.bundle")


def test_truncated_and_foreign_files(tmp_path, bundle):
    bundle.save(tmp_path / "good.bundle")
    raw = (tmp_path / "good.bundle").read_bytes()
    for n in (0, 10, len(raw) // 2, len(raw) - 5):
        (tmp_path / "cut.bundle").write_bytes(raw[:n])
        with pytest.raises(BundleError, match="cut.bundle"):
            Bundle.load(tmp_path / "cut.bundle")
    (tmp_path / "text.bundle").write_text("hello")
    with pytest.raises(BundleError, match="not a bundle"):
        Bundle.load(tmp_path / "text.bundle")
    with pytest.raises(BundleError, match="not found"):
        Bundle.load(tmp_path / "missing.bundle")


def test_save_leaves_nothing_half_written(tmp_path, bundle):
    bundle.arrays["fire/squeeze/m"] = np.zeros(2, np.uint16)
    with pytest.raises(BundleError):
        bundle.save(tmp_path / "x.bundle")
    assert list(tmp_path.iterdir()) == []


# -- version 2: codebook-coded weights ---------------------------------------
FIRE_BITS = {"fire/squeeze/weight": 3, "fire/expand1x1/weight": 1, "fire/expand3x3/weight": 2}


def _random_codebooks(bundle, bits: dict[str, int], seed: int) -> dict[str, Codebook]:
    """Lossy, random codebooks of the given widths for the given weights."""
    rng = np.random.default_rng(seed)
    out = {}
    for key, b in bits.items():
        values = rng.integers(-127, 128, 2**b).astype(np.int8)
        out[key] = Codebook(values, rng.integers(0, 2**b, bundle.arrays[key].shape).astype(np.uint8))
    return out


def _exact_codebooks(bundle):
    return {key: exact_codebook(a) for key, a in bundle.arrays.items() if key.endswith("/weight")}


@pytest.fixture
def coded(bundle):
    return bundle.with_codebooks(_random_codebooks(bundle, FIRE_BITS, seed=1))


@pytest.fixture(scope="module")
def network():
    """conv1, a simple and a complex bypass, conv10: every kind of weight."""
    torch.manual_seed(0)
    spec = family(base_e=8, incr_e=8, freq=1, num_fire=2, conv1=(8, 3, 2, 0), pool_after=(), bypass="complex",
                  in_channels=1, image_size=15, num_classes=3)
    images = np.random.default_rng(0).integers(0, 256, (4, 15, 15, 1)).astype(np.uint8)
    return quantize(fgraph.extract(SqueezeNet(spec).eval()), images, spec.name)


def _assert_same_codebooks(a, b):
    assert a.codebooks.keys() == b.codebooks.keys()
    for key, cb in a.codebooks.items():
        other = b.codebooks[key]
        assert cb.values.dtype == other.values.dtype and np.array_equal(cb.values, other.values)
        assert cb.indices.dtype == other.indices.dtype and np.array_equal(cb.indices, other.indices)


@pytest.mark.parametrize("bits", [FIRE_BITS, dict(zip(FIRE_BITS, (8, 5, 4))), dict(zip(FIRE_BITS, (7, 6, 1)))])
def test_v2_round_trip(tmp_path, bundle, bits):
    coded = bundle.with_codebooks(_random_codebooks(bundle, bits, seed=2))
    coded.save(tmp_path / "a.bundle")
    back = Bundle.load(tmp_path / "a.bundle")
    assert back.version == 2 and back.graph == json.loads(json.dumps(coded.graph))
    assert back.arrays.keys() == coded.arrays.keys()
    for k, v in coded.arrays.items():
        assert back.arrays[k].dtype == v.dtype and np.array_equal(back.arrays[k], v)
    _assert_same_codebooks(back, coded)
    back.save(tmp_path / "b.bundle")
    random_fire_bundle(5, 3, 4, 6, 5, 7, seed=0)[0].with_codebooks(
        _random_codebooks(bundle, bits, seed=2)).save(tmp_path / "c.bundle")
    raw = (tmp_path / "a.bundle").read_bytes()
    assert raw == (tmp_path / "b.bundle").read_bytes() == (tmp_path / "c.bundle").read_bytes()


def _file_version(path):
    with zipfile.ZipFile(path) as zf:
        return json.loads(zf.read("graph.json"))["version"]


def test_v2_members(tmp_path, coded):
    # The writer sets the version from the codebooks, whatever the graph says.
    Bundle(dict(coded.graph, version=1), coded.arrays, coded.codebooks).save(tmp_path / "a.bundle")
    assert _file_version(tmp_path / "a.bundle") == 2
    Bundle(dict(coded.graph, version=2), Bundle.load(tmp_path / "a.bundle").arrays).save(tmp_path / "b.bundle")
    assert _file_version(tmp_path / "b.bundle") == 1
    with np.load(tmp_path / "a.bundle") as z:
        for key, b in FIRE_BITS.items():
            base = key[:-len("weight")]
            assert key not in z.files
            assert np.array_equal(z[base + "codebook"], coded.codebooks[key].values)
            n = coded.arrays[key].size
            assert z[base + "indices"].dtype == np.uint8 and z[base + "indices"].shape == (-(-n * b // 8),)


def test_v2_bit_order_is_docs_example(tmp_path, bundle):
    # docs/bundle.md: 2-bit indices 1, 2, 3, 0, ... pack to 0x39 = 0b00_11_10_01, then zeros
    indices = np.zeros((3, 5, 1, 1), np.uint8)
    indices.reshape(-1)[:3] = [1, 2, 3]
    values = np.array([0, 5, -7, 127], np.int8)
    bundle.with_codebooks({"fire/squeeze/weight": Codebook(values, indices)}).save(tmp_path / "a.bundle")
    with np.load(tmp_path / "a.bundle") as z:
        assert z["fire/squeeze/indices"].tolist() == [0x39, 0, 0, 0]


def test_with_codebooks_expands_and_leaves_the_original(bundle):
    before = {k: v.copy() for k, v in bundle.arrays.items()}
    codebooks = _random_codebooks(bundle, FIRE_BITS, seed=3)
    coded = bundle.with_codebooks(codebooks)
    assert bundle.codebooks == {} and bundle.version == 1 and bundle.graph["version"] == 1
    assert all(np.array_equal(bundle.arrays[k], v) for k, v in before.items())
    for key, cb in codebooks.items():
        assert coded.arrays[key].dtype == np.int8 and np.array_equal(coded.arrays[key], cb.values[cb.indices])
    assert coded.codebook("fire", "squeeze") is codebooks["fire/squeeze/weight"]
    assert coded.graph["version"] == 2


def test_codebook_addressing(network):
    keys = ("conv1/weight", "fire2/squeeze/weight", "fire3_bypass/weight")
    coded = network.with_codebooks({k: exact_codebook(network.arrays[k]) for k in keys})
    assert coded.codebook("conv1") is coded.codebooks["conv1/weight"]
    assert coded.codebook("fire2", "squeeze") is coded.codebooks["fire2/squeeze/weight"]
    assert coded.codebook("fire3_bypass") is coded.codebooks["fire3_bypass/weight"]
    assert coded.codebook("fire2", "expand3x3") is None and coded.codebook("conv10") is None
    with pytest.raises(KeyError, match="nowhere"):
        coded.codebook("nowhere")


def test_sub_bundle_keeps_the_layers_codebooks(tmp_path, network):
    coded = network.with_codebooks({k: exact_codebook(network.arrays[k])
                                    for k in ("conv1/weight", "fire2/squeeze/weight", "fire2/expand3x3/weight")})
    sub = sub_bundle(coded, "fire2")
    assert sub.codebooks.keys() == {"fire2/squeeze/weight", "fire2/expand3x3/weight"}
    sub.save(tmp_path / "fire2.bundle")
    back = Bundle.load(tmp_path / "fire2.bundle")
    assert back.version == 2
    _assert_same_codebooks(back, sub)


def test_exact_codebooks_give_the_same_network(tmp_path, network):
    codebooks = _exact_codebooks(network)
    assert "fire3_bypass/weight" in codebooks and None not in codebooks.values()
    network.with_codebooks(codebooks).save(tmp_path / "v2.bundle")
    network.save(tmp_path / "v1.bundle")
    v1, v2 = Bundle.load(tmp_path / "v1.bundle"), Bundle.load(tmp_path / "v2.bundle")
    assert (v1.version, v2.version) == (1, 2) and v2.codebooks.keys() == codebooks.keys()
    for key, a in v1.arrays.items():
        assert v2.arrays[key].dtype == a.dtype and np.array_equal(v2.arrays[key], a)
    images = np.random.default_rng(5).integers(0, 256, (6, 15, 15, 1)).astype(np.uint8)
    out1, out2 = intref.run(v1, images), intref.run(v2, images)
    assert out1.keys() == out2.keys()
    assert all(np.array_equal(out1[k], out2[k]) for k in out1)


def test_bits_count_what_is_stored(bundle):
    n = {key: bundle.arrays[key].size for key in FIRE_BITS}
    biases = [a for k, a in bundle.arrays.items() if k.endswith("/bias")]
    mults = [a for k, a in bundle.arrays.items() if k.endswith("/m")]
    others = 32 * sum(a.size for a in biases) + 16 * sum(a.size for a in mults)
    assert bundle.bias_and_multiplier_bits() == others
    assert bundle.weight_bits() == bundle.uncoded_weight_bits() + others == 8 * sum(n.values()) + others
    squeeze = "fire/squeeze/weight"
    part = bundle.with_codebooks(_random_codebooks(bundle, {squeeze: 3}, seed=4))
    assert part.index_bits() == 3 * n[squeeze] and part.codebook_bits() == 8 * 8
    assert part.uncoded_weight_bits() == 8 * (sum(n.values()) - n[squeeze])
    full = part.with_codebooks(_random_codebooks(bundle, FIRE_BITS, seed=4))
    assert full.uncoded_weight_bits() == 0 and full.bias_and_multiplier_bits() == others
    assert full.index_bits() == sum(n[k] * b for k, b in FIRE_BITS.items())
    assert full.codebook_bits() == sum(8 * 2**b for b in FIRE_BITS.values())
    for b in (part, full):
        assert b.weight_bits() == b.uncoded_weight_bits() + b.index_bits() + b.codebook_bits() + others


def test_v1_still_loads_and_saves_byte_identically(tmp_path):
    reference = Bundle.load(FIRE1_BUNDLE)
    assert reference.graph["version"] == 1 and reference.version == 1 and reference.codebooks == {}
    assert reference.weight_bits() == sum(a.size * a.dtype.itemsize * 8 for a in reference.arrays.values())
    reference.save(tmp_path / "copy.bundle")
    assert (tmp_path / "copy.bundle").read_bytes() == FIRE1_BUNDLE.read_bytes()


@pytest.mark.parametrize("edit, message", [
    (dict(graph=_set(["version"], 1)),
     "a version 1 bundle cannot hold fire/expand1x1/codebook.npy \\(codebook-coded weights need version 2\\)"),
    (dict(graph=_set(["version"], 4)), "unsupported bundle version 4 \\(this reader: 1, 2, 3\\)"),
    (dict(add={"fire/squeeze/weight": np.zeros((3, 5, 1, 1), np.int8)}),
     "layer 'fire': has both squeeze/weight and squeeze/codebook/indices"),
    (dict(drop=("fire/squeeze/indices.npy",)), "layer 'fire': squeeze/codebook without squeeze/indices"),
    (dict(drop=("fire/expand3x3/codebook.npy",)), "layer 'fire': expand3x3/indices without expand3x3/codebook"),
    (dict(arrays={"fire/squeeze/codebook": np.zeros(6, np.int8)}),
     "layer 'fire': squeeze/codebook has 6 values; it needs a power of two from 2 to 256"),
    (dict(arrays={"fire/squeeze/codebook": np.zeros(512, np.int8)}), "squeeze/codebook has 512 values"),
    (dict(arrays={"fire/expand1x1/codebook": np.zeros(1, np.int8)}), "expand1x1/codebook has 1 values"),
    (dict(arrays={"fire/squeeze/codebook": np.zeros(8, np.int16)}),
     "layer 'fire': squeeze/codebook must be a 1-D int8 array, got int16\\[8\\]"),
    (dict(arrays={"fire/squeeze/codebook": np.zeros((2, 4), np.int8)}), "got int8\\[2, 4\\]"),
    (dict(arrays={"fire/squeeze/codebook": np.array([-128, 0, 1, 2, 3, 4, 5, 6], np.int8)}),
     "layer 'fire': squeeze/codebook holds -128 \\(int8 weights are -127..127\\)"),
    (dict(arrays={"fire/squeeze/indices": np.zeros(5, np.uint8)}),
     "layer 'fire': squeeze/indices must be uint8\\[6\\] \\(15 3-bit indices, packed\\), got uint8\\[5\\]"),
    (dict(arrays={"fire/squeeze/indices": np.zeros(6, np.int8)}), "got int8\\[6\\]"),
    (dict(arrays={"fire/squeeze/indices": np.full(6, 255, np.uint8)}),
     "layer 'fire': squeeze/indices has non-zero padding bits after its last index"),
    (dict(add={"fire/codebook": np.zeros(2, np.int8)}), "arrays that no layer uses: \\['fire/codebook'\\]"),
    (dict(arrays={"fire/squeeze/bias": np.full(3, 2**31 - 1000, np.int32)}), "squeeze/accumulator may reach"),
])
def test_malformed_v2_bundles_name_the_problem(tmp_path, coded, edit, message):
    coded.save(tmp_path / "good.bundle")
    _rewrite(tmp_path / "good.bundle", tmp_path / "bad.bundle", **edit)
    with pytest.raises(BundleError, match=message) as err:
        Bundle.load(tmp_path / "bad.bundle")
    assert str(err.value).startswith(f"{tmp_path / 'bad.bundle'}: ") and "\n" not in str(err.value)


def test_index_beyond_the_codebook_fails_the_save(tmp_path, coded):
    coded.codebooks["fire/squeeze/weight"].indices.reshape(-1)[0] = 9     # changed in place, past Codebook's check
    with pytest.raises(BundleError, match=r"x.bundle: layer 'fire': squeeze/indices holds index 9 >= 8 "
                                          r"\(3-bit codebook\)$"):
        coded.save(tmp_path / "x.bundle")
    assert list(tmp_path.iterdir()) == []


def test_weight_that_is_not_its_codebook_fails_the_save(tmp_path, coded):
    coded.arrays["fire/expand3x3/weight"] = coded.arrays["fire/expand3x3/weight"] // 2
    with pytest.raises(BundleError, match="expand3x3/weight differs from its codebook's expansion"):
        coded.save(tmp_path / "x.bundle")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("codebooks, message", [
    (lambda b: {"fire/squeeze/bias": exact_codebook(b.arrays["fire/squeeze/bias"].astype(np.int8))},
     "codebooks for arrays that are no layer's weights: \\['fire/squeeze/bias'\\]"),
    (lambda b: {"nowhere/weight": exact_codebook(b.arrays["fire/squeeze/weight"])},
     "codebooks for arrays that are no layer's weights: \\['nowhere/weight'\\]"),
    (lambda b: {"fire/squeeze/weight": exact_codebook(b.arrays["fire/squeeze/weight"].reshape(-1))},
     "layer 'fire': squeeze/indices must be uint8\\[3, 5, 1, 1\\] \\(the weight's shape\\), got uint8\\[15\\]"),
    (lambda b: {"fire/squeeze/weight": b.arrays["fire/squeeze/weight"]},
     "layer 'fire': squeeze/codebook must be a Codebook, got ndarray"),
])
def test_with_codebooks_refuses_what_it_cannot_store(bundle, codebooks, message):
    with pytest.raises(BundleError, match=f"^bundle 'fire-5-3-4-6-5x7': {message}"):
        bundle.with_codebooks(codebooks(bundle))
