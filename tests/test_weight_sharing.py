"""Weight sharing (golden.weight_sharing, golden.finetune), Huffman code
lengths and the size model: properties, not last-bit values."""
import numpy as np
import pytest
import torch

from golden import graph as fgraph
from golden.bundle import Bundle
from golden.huffman import code_lengths, coded_bits
from golden.int8_weights import quantize_weights
from golden.model_size import codebook_size, int8_size, sparse_entries
from golden.models import SqueezeNet, reference_spec, tiny_spec
from golden.quantize import quantize
from golden.weight_sharing import (codebook_graph, codebooks_of, kmeans_1d, linear_init, load_shared, nearest,
                                   normalise, plain_shared, prune_mask, save_shared, share_graph, share_weights,
                                   weight_params)


def _weights(seed=0, shape=(16, 8, 3, 3)):
    rng = np.random.default_rng(seed)
    return rng.normal(size=shape) * rng.uniform(0.1, 2, (shape[0], 1, 1, 1))


def _graph(spec=tiny_spec, seed=0):
    torch.manual_seed(seed)
    return fgraph.extract(SqueezeNet(spec()).eval())


def _images(n, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 28, 28, 1), dtype=np.uint8)


def test_linear_init_spans_min_to_max_evenly():
    c = linear_init(-3.0, 5.0, 5)
    assert c[0] == -3.0 and c[-1] == 5.0 and np.allclose(np.diff(c), 2.0)


@pytest.mark.parametrize("k", [2, 4, 8, 64])
def test_kmeans_objective_never_rises_and_converges(k):
    x = normalise(_weights())[0]
    km = kmeans_1d(x, k)
    assert all(b <= a * (1 + 1e-12) for a, b in zip(km.sse, km.sse[1:]))
    assert km.sse[-1] < km.sse[0]
    assert np.all(np.diff(km.centroids) >= 0)
    assert x.min() <= km.centroids.min() and km.centroids.max() <= x.max()


def test_kmeans_is_deterministic_and_order_free():
    x = normalise(_weights(1))[0].ravel()
    a = kmeans_1d(x, 8).centroids
    b = kmeans_1d(np.random.default_rng(5).permutation(x), 8).centroids
    assert np.array_equal(a, b)


def test_kmeans_finds_separate_groups():
    rng = np.random.default_rng(2)
    groups = [-90.0, 10.0, 100.0]
    x = np.concatenate([g + rng.uniform(-1, 1, 50) for g in groups])
    c = kmeans_1d(x, 3).centroids
    assert np.all(np.abs(c - groups) < 1.0)


def test_kmeans_uses_every_entry_when_it_can():
    """An empty cluster is re-seeded: no wasted codebook entry."""
    x = np.concatenate([np.full(100, -50.0), np.full(100, 50.0), [-49.0, 49.0, 0.5, 80.0]])
    c = kmeans_1d(x, 6).centroids
    assert len(np.unique(nearest(x, c))) == 6


def test_nearest_is_the_closest_centroid():
    rng = np.random.default_rng(3)
    c = rng.uniform(-127, 127, 8)
    x = rng.uniform(-127, 127, 1000)
    brute = np.argmin(np.abs(x[:, None] - c[None, :]), axis=1)
    assert np.array_equal(nearest(x, c), brute)


@pytest.mark.parametrize("bits", [2, 3, 5, 8])
def test_codebook_is_valid_and_expands_exactly(bits):
    w = _weights(4)
    s = plain_shared([{"name": "c", "kind": "conv", "weight": w, "bias": np.zeros(16)}],
                     {"c/weight": share_weights(w, bits)})["c/weight"]
    cb = s.codebook()
    assert cb.bits == bits and cb.values.dtype == np.int8 and cb.indices.dtype == np.uint8
    assert cb.indices.shape == w.shape and int(cb.indices.max()) < 2 ** bits
    assert -127 <= int(cb.values.min()) and int(cb.values.max()) <= 127
    assert np.array_equal(cb.weights(), cb.values[cb.indices])
    assert np.array_equal(s.scale, quantize_weights(w)[1])
    v = normalise(w)[0]
    err = np.abs(v - cb.weights())
    assert np.all(err[..., None] <= np.abs(v[..., None] - cb.values.astype(float)) + 1e-9)   # nearest value


@pytest.mark.parametrize("bits", [1, 9])
def test_bits_outside_2_to_8_are_refused(bits):
    with pytest.raises(ValueError, match="2..8"):
        share_weights(_weights(), bits)


def test_pruning_pins_an_exact_zero():
    w = _weights(5)
    v = normalise(w)[0]
    s = share_weights(w, 3, prune=0.4)
    pruned = prune_mask(v, 0.4)
    assert pruned.sum() == int(0.4 * w.size)
    assert np.abs(v[pruned]).max() <= np.abs(v[~pruned]).min()
    assert s.centroids[s.pinned] == 0.0
    assert np.array_equal(s.indices == s.pinned, pruned)
    r = s.reassigned(v)
    assert np.array_equal(r.indices == r.pinned, pruned) and r.codebook().values[r.pinned] == 0


def test_codebook_bundle_holds_the_codebook_weights(tmp_path):
    graph = _graph()
    shared = plain_shared(graph, share_graph(graph, {"*": 3, "conv1/weight": 4}, 0.2))
    bundle = quantize(codebook_graph(graph, shared), _images(8), "t").with_codebooks(codebooks_of(shared))
    assert sorted(bundle.codebooks) == sorted(k for k, _ in weight_params(graph))
    assert bundle.codebooks["conv1/weight"].bits == 4 and bundle.codebooks["conv10/weight"].bits == 3
    for key, cb in bundle.codebooks.items():
        assert np.array_equal(bundle.arrays[key], cb.weights())
    bundle.save(tmp_path / "t.bundle")
    again = Bundle.load(tmp_path / "t.bundle")
    assert again.version == 2
    assert all(np.array_equal(again.arrays[k], bundle.arrays[k]) for k in bundle.arrays)


def test_finetuning_trains_centroids_and_keeps_indices_and_zero():
    from golden.finetune import Schedule, finetune
    graph = _graph()
    shared = share_graph(graph, 3, 0.3)
    images, labels = _images(96, 1), np.arange(96) % 10
    a, bias_a = finetune(graph, shared, images, labels, Schedule(1, batch=32), reassign=False, progress=False)
    b, bias_b = finetune(graph, shared, images, labels, Schedule(1, batch=32), reassign=False, progress=False)
    for key, s in shared.items():
        assert np.array_equal(a[key].indices, s.indices) and a[key].centroids[s.pinned] == 0.0
        assert np.array_equal(a[key].centroids, b[key].centroids) and np.array_equal(bias_a[key], bias_b[key])
        assert np.all(np.abs(a[key].centroids) <= 127)
    assert any(not np.array_equal(a[k].centroids, s.centroids) for k, s in shared.items())


def test_finetuning_weights_mode_moves_weights_between_clusters_but_not_pruned_ones():
    from golden.finetune import Schedule, finetune
    graph = _graph()
    torch.manual_seed(1)
    teacher = SqueezeNet(tiny_spec()).eval()
    shared = share_graph(graph, 3, 0.3)
    images, labels = _images(96, 2), np.arange(96) % 10
    runs = [finetune(graph, shared, images, labels, Schedule(2, batch=32, latent_lr=2.0, anneal=0.5),
                     teacher=teacher, progress=False)[0] for _ in range(2)]
    for key, s in shared.items():
        got = runs[0][key]
        assert np.array_equal(got.indices, runs[1][key].indices)
        assert np.array_equal(got.centroids, runs[1][key].centroids)
        assert np.array_equal(got.indices == s.pinned, s.indices == s.pinned)
        assert got.codebook().values[s.pinned] == 0 and int(got.indices.max()) < 8
    assert any(not np.array_equal(runs[0][k].indices, s.indices) for k, s in shared.items())


def test_shared_file_round_trip(tmp_path):
    graph = _graph()
    shared = share_graph(graph, 3, 0.25)
    biases = {k: p["bias"] for k, p in weight_params(graph)}
    save_shared(tmp_path / "s.npz", shared, biases, {"network": "tiny-fmnist"})
    got, got_biases, meta = load_shared(tmp_path / "s.npz")
    assert meta == {"network": "tiny-fmnist"} and got.keys() == shared.keys()
    for k, s in shared.items():
        assert np.array_equal(got[k].centroids, s.centroids) and np.array_equal(got[k].indices, s.indices)
        assert got[k].pinned == s.pinned and np.array_equal(got_biases[k], biases[k])
    (tmp_path / "bad.npz").write_bytes(b"nope")
    with pytest.raises(ValueError, match="not a shared-weights file"):
        load_shared(tmp_path / "bad.npz")


def test_huffman_lengths():
    assert code_lengths(np.array([5, 9, 12, 13, 16, 45])).tolist() == [4, 4, 3, 3, 3, 1]
    assert code_lengths(np.array([0, 7, 0])).tolist() == [0, 1, 0]
    rng = np.random.default_rng(6)
    counts = rng.integers(0, 1000, 64)
    lengths = code_lengths(counts)
    used = counts > 0
    assert sum(2.0 ** -lengths[used]) == 1.0                         # a complete prefix code (Kraft)
    symbols = rng.integers(0, 8, 5000)
    assert coded_bits(symbols, 8) <= 3 * symbols.size


def test_sparse_entries_count_fillers():
    kept = np.zeros(40, dtype=bool)
    kept[[0, 1, 20, 39]] = True
    assert sparse_entries(kept) == 4 + 1 + 1        # gaps 18 and 18: one filler each


@pytest.mark.parametrize("spec", [tiny_spec, reference_spec])
def test_size_model_matches_the_bundles(spec):
    """The size model counts what the bundle stores (reference: bypass adds too)."""
    graph = _graph(spec)
    images = _images(4)
    assert int8_size(graph).total_bits == quantize(graph, images, "t").weight_bits()
    shared = plain_shared(graph, share_graph(graph, 3))
    coded = quantize(codebook_graph(graph, shared), images, "t").with_codebooks(codebooks_of(shared))
    assert codebook_size(graph, shared, "b3").total_bits == coded.weight_bits()
