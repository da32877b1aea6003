"""Bundle format: round trip, deterministic bytes, and clear errors for
malformed or truncated files."""
import io
import json
import zipfile

import numpy as np
import pytest

from golden.bundle import Bundle, BundleError
from golden.quantize import random_fire_bundle


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


def _rewrite(src, dst, graph=None, arrays=None, drop=()):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            if name in drop:
                continue
            data = zin.read(name)
            if name == "graph.json" and graph is not None:
                g = json.loads(data)
                graph(g)
                data = json.dumps(g).encode()
            if arrays and name[:-4] in arrays:
                buf = io.BytesIO()
                np.save(buf, arrays[name[:-4]])
                data = buf.getvalue()
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
