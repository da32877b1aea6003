"""Deep Compression's weight sharing in the int8 domain: pruning and 1-D
k-means codebooks per weight array (Han et al., 2016, §3; ``docs/compression.md``).

Weights are quantised symmetrically per output channel (``docs/int8.md``
§2: ``scale_c = max|w_c| / 127``), so a layer is clustered on its
*normalised* weights ``w / scale_c`` in [-127, 127]: one codebook serves
every channel, and the codebook's int8 values times ``scale_c`` are the
weights.  The clustering is Lloyd's 1-D k-means with linear initialisation
(centroids evenly spaced between the smallest and the largest value, the
initialisation Deep Compression found best), on sorted values, so each
cluster is a contiguous run and an assignment is a comparison with the
midpoints between neighbouring centroids.  Every operation is a correctly
rounded IEEE-754 float64 operation (``math.fsum`` for the cluster sums), so
the codebook is the same on every machine: no BLAS, no randomness.

Torch-free; the fine-tuning of the shared values is ``golden.finetune``.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace

import numpy as np

from golden.atomic import replacing
from golden.codebook import MAX_BITS, Codebook
from golden.graph_copy import copy_graph
from golden.int8_weights import channel_scales, per_channel

__all__ = ["MIN_SHARE_BITS", "KMeans", "SharedWeights", "kmeans_1d", "linear_init", "nearest", "prune_mask",
           "share_weights", "weight_params", "share_graph", "codebooks_of", "codebook_graph",
           "plain_shared", "shared_float_graph", "save_shared", "per_key", "load_shared", "normalise", "is_logits"]

MIN_SHARE_BITS = 2                  # 2**2 values: below that a layer is barely a network
MAX_ITERATIONS = 300                # 1-D Lloyd converges in tens of iterations on real layers


def linear_init(lo: float, hi: float, k: int) -> np.ndarray:
    """``k`` centroids evenly spaced from ``lo`` to ``hi`` (both included)."""
    if k == 1:
        return np.array([(lo + hi) / 2])
    return lo + (hi - lo) * (np.arange(k, dtype=np.float64) / (k - 1))


def nearest(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid for every value of ``x``; a value half
    way between two centroids goes to the smaller one, equal centroids to
    the lowest index."""
    order = np.argsort(centroids, kind="stable")
    c = centroids[order]
    mids = (c[:-1] + c[1:]) / 2
    return order[np.searchsorted(mids, x, side="left")]


@dataclass(frozen=True)
class KMeans:
    """``centroids`` float64 [k], sorted; ``sse``: the objective
    Σ (x − nearest centroid)² before each iteration and at the end
    (informational: no integer depends on it)."""
    centroids: np.ndarray
    sse: tuple[float, ...]
    iterations: int


def _splits(sorted_x: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Cluster boundaries in ``sorted_x`` for sorted centroids ``c``: cluster
    j is ``sorted_x[b[j]:b[j+1]]`` (ties at a midpoint go to the lower one)."""
    inner = np.searchsorted(sorted_x, (c[:-1] + c[1:]) / 2, side="right")
    return np.concatenate(([0], inner, [len(sorted_x)]))


def _residuals(sorted_x: np.ndarray, c: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    return sorted_x - np.repeat(c, np.diff(bounds))


def _reseed_empty(sorted_x: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Move each empty cluster's centroid onto the value farthest from its
    own centroid (the first such value), which can only lower the objective;
    a wasted codebook entry otherwise (e.g. the gap that pruning leaves
    around 0)."""
    for _ in range(len(c)):
        bounds = _splits(sorted_x, c)
        empty = np.flatnonzero(np.diff(bounds) == 0)
        if not empty.size:
            break
        r = np.abs(_residuals(sorted_x, c, bounds))
        if not r.max() > 0:
            break
        c = np.sort(np.concatenate((np.delete(c, empty[0]), [sorted_x[int(np.argmax(r))]])))
    return c


def kmeans_1d(values: np.ndarray, k: int, max_iterations: int = MAX_ITERATIONS) -> KMeans:
    """Lloyd's k-means of ``values`` into ``k`` clusters, linear
    initialisation, until no assignment changes.  A cluster left empty is
    re-seeded (``_reseed_empty``).  Cluster sums are differences of one
    sequential cumulative sum of the sorted values: a fixed order of float64
    additions, the same on every machine."""
    x = np.sort(np.asarray(values, dtype=np.float64).ravel())
    if x.size == 0:
        raise ValueError("k-means of no values")
    prefix = np.concatenate(([0.0], np.cumsum(x)))
    c = _reseed_empty(x, linear_init(float(x[0]), float(x[-1]), k))
    bounds = _splits(x, c)
    history = []
    for iteration in range(1, max_iterations + 1):
        history.append(float(np.sum(_residuals(x, c, bounds) ** 2)))
        counts = np.diff(bounds)
        sums = prefix[bounds[1:]] - prefix[bounds[:-1]]
        c = _reseed_empty(x, np.sort(np.where(counts > 0, sums / np.maximum(counts, 1), c)))
        new_bounds = _splits(x, c)
        if np.array_equal(new_bounds, bounds):
            break
        bounds = new_bounds
    history.append(float(np.sum(_residuals(x, c, bounds) ** 2)))
    return KMeans(c, tuple(history), iteration)


def prune_mask(normalised: np.ndarray, fraction: float) -> np.ndarray:
    """The ``floor(fraction · size)`` weights of smallest magnitude (ties:
    the earlier in C order) as a boolean mask: magnitude pruning."""
    if not 0 <= fraction < 1:
        raise ValueError(f"prune fraction must be in [0, 1), got {fraction}")
    flat = np.abs(normalised).ravel()
    count = int(math.floor(fraction * flat.size))
    mask = np.zeros(flat.size, dtype=bool)
    mask[np.argsort(flat, kind="stable")[:count]] = True
    return mask.reshape(normalised.shape)


@dataclass(frozen=True)
class SharedWeights:
    """One weight array under weight sharing, before its values become
    integers: ``centroids`` float64 [2**bits] in int8 units, ``indices``
    uint8 in the weight's shape, the per-output-channel ``scale``, and the
    entry ``pinned`` to exactly 0 for pruned weights (None without pruning).
    The float weight is ``centroids[indices] · scale_c``."""
    centroids: np.ndarray
    indices: np.ndarray
    scale: np.ndarray
    pinned: int | None = None

    @property
    def bits(self) -> int:
        return len(self.centroids).bit_length() - 1

    def float_weights(self) -> np.ndarray:
        return self.centroids[self.indices] * per_channel(self.scale, self.indices.ndim)

    def codebook(self) -> Codebook:
        """The int8 codebook: centroids rounded (half to even) into -127..127,
        the indices unchanged."""
        values = np.clip(np.rint(self.centroids), -127, 127).astype(np.int8)
        return Codebook(values, self.indices)

    def reassigned(self, normalised: np.ndarray) -> "SharedWeights":
        """Every unpruned weight re-pointed at the nearest *rounded* value
        (the pinned zero excepted): what plain clustering, without
        fine-tuning, ends with."""
        values = self.codebook().values.astype(np.float64)
        free = np.array([j for j in range(len(values)) if j != self.pinned])
        idx = free[nearest(normalised, values[free])].astype(np.uint8)
        if self.pinned is not None:
            idx = np.where(self.indices == self.pinned, np.uint8(self.pinned), idx)
        return replace(self, indices=idx)


def normalise(w: np.ndarray, per_tensor: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(w / scale_c, scale_c) with the quantiser's per-channel scale
    (``per_tensor``: its one scale of a logits layer, ``docs/int8.md`` §5)."""
    scale = channel_scales(w, per_tensor)
    return w / per_channel(scale, w.ndim), scale


def is_logits(params: dict) -> bool:
    """A conv without activation whose accumulators are the logits (the
    gap sums them; ``golden.quantize.quantize_logits``): its channels are
    compared with each other unscaled, so they share one weight scale."""
    return params.get("kind") == "conv" and params.get("act", "relu") == "none"


def share_weights(w: np.ndarray, bits: int, prune: float = 0.0, per_tensor: bool = False) -> SharedWeights:
    """Prune (optionally), then cluster a float weight array [Cout, ...]
    into a 2**bits-entry codebook; indices are the clusters' (nearest of the
    float centroids), ready for fine-tuning or for ``reassigned``.
    ``per_tensor``: one scale for every channel (a logits layer)."""
    if not MIN_SHARE_BITS <= bits <= MAX_BITS:
        raise ValueError(f"codebook bits must be {MIN_SHARE_BITS}..{MAX_BITS}, got {bits}")
    v, scale = normalise(np.asarray(w, dtype=np.float64), per_tensor)
    k = 2 ** bits
    pruned = prune_mask(v, prune) if prune > 0 else np.zeros(v.shape, dtype=bool)
    if not pruned.any():
        c = kmeans_1d(v, k).centroids
        return SharedWeights(c, nearest(v, c).astype(np.uint8), scale)
    c = kmeans_1d(v[~pruned], k - 1).centroids
    pinned = int(np.searchsorted(c, 0.0))            # the zero at its place in the sorted table
    table = np.insert(c, pinned, 0.0)
    free = np.delete(np.arange(k), pinned)
    idx = np.where(pruned, pinned, free[nearest(v, c)]).astype(np.uint8)
    return SharedWeights(table, idx, scale, pinned)


def weight_params(graph: list[dict]) -> list[tuple[str, dict]]:
    """Every weighted convolution of a folded float graph (``golden.graph``)
    as (bundle weight key, its parameter dict): conv layers, fire parts,
    complex-bypass convs."""
    out = []
    for layer in graph:
        name, kind = layer["name"], layer["kind"]
        if kind == "conv" or (kind == "add" and "weight" in layer):
            out.append((f"{name}/weight", layer))
        elif kind == "fire":
            out += [(f"{name}/{part}/weight", layer[part]) for part in ("squeeze", "expand1x1", "expand3x3")
                    if layer[part] is not None]
    return out


def per_key(setting, key: str):
    """``setting`` for weight array ``key``: one value, or a dict by key (``"*"``: the rest)."""
    return setting.get(key, setting.get("*")) if isinstance(setting, dict) else setting


def share_graph(graph: list[dict], bits: int | dict, prune: float | dict = 0.0) -> dict[str, SharedWeights]:
    """``share_weights`` for every weight of the graph; ``bits`` and
    ``prune`` are one value or a dict by weight key (``"*"``: the rest)."""
    return {key: share_weights(p["weight"], per_key(bits, key), per_key(prune, key) or 0.0, is_logits(p))
            for key, p in weight_params(graph)}


def codebooks_of(shared: dict[str, SharedWeights]) -> dict[str, Codebook]:
    return {key: s.codebook() for key, s in shared.items()}


def codebook_graph(graph: list[dict], shared: dict[str, SharedWeights],
                   biases: dict[str, np.ndarray] | None = None) -> list[dict]:
    """A copy of the graph whose weights are the codebooks' int8 values:
    each weighted layer gets ``int8_weight`` = (values[indices], scale_c),
    which ``golden.quantize`` takes as the layer's int8 weights, and the
    float ``weight`` = values[indices] · scale_c, with which the activation
    scales are calibrated; ``biases`` (by weight key) replace the biases."""
    out = copy_graph(graph)
    for key, p in weight_params(out):
        s = shared[key]
        wq = s.codebook().weights()
        p["int8_weight"] = (wq, s.scale)
        p["weight"] = wq.astype(np.float64) * per_channel(s.scale, wq.ndim)
        if biases is not None:
            p["bias"] = np.asarray(biases[key], dtype=np.float64)
    return out


def shared_float_graph(graph: list[dict], shared: dict[str, SharedWeights],
                       biases: dict[str, np.ndarray]) -> list[dict]:
    """A copy of the graph whose float weights are the shared ones,
    ``centroids[indices] · scale_c`` (centroids not yet rounded), with
    ``biases``: where a second fine-tuning stage starts from."""
    out = copy_graph(graph)
    for key, p in weight_params(out):
        p["weight"] = shared[key].float_weights()
        p["bias"] = np.asarray(biases[key], dtype=np.float64)
    return out


def plain_shared(graph: list[dict], shared: dict[str, SharedWeights]) -> dict[str, SharedWeights]:
    """Clustering without fine-tuning: every weight re-pointed at the
    nearest rounded value (``SharedWeights.reassigned``)."""
    params = dict(weight_params(graph))
    return {key: s.reassigned(normalise(params[key]["weight"], is_logits(params[key]))[0])
            for key, s in shared.items()}


def save_shared(path, shared: dict[str, SharedWeights], biases: dict[str, np.ndarray], meta: dict) -> None:
    """The float state of fine-tuned shared weights (centroids, indices,
    scales, biases) and what it was made from, as a ``.npz``, so that its
    integers can be re-made on another machine, bit for bit."""
    arrays = {"meta": np.array(json.dumps(meta, sort_keys=True))}
    for key, s in shared.items():
        arrays |= {f"{key}/centroids": s.centroids, f"{key}/indices": s.indices, f"{key}/scale": s.scale,
                   f"{key}/pinned": np.array(-1 if s.pinned is None else s.pinned), f"{key}/bias": biases[key]}
    with replacing(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


def load_shared(path) -> tuple[dict[str, SharedWeights], dict[str, np.ndarray], dict]:
    """(shared, biases, meta) from ``save_shared``'s file; ValueError in
    one line when it is not one."""
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        meta = json.loads(str(data.pop("meta")))
        keys = sorted({k.rsplit("/", 1)[0] for k in data})
        shared = {k: SharedWeights(data[f"{k}/centroids"], data[f"{k}/indices"], data[f"{k}/scale"],
                                   None if int(data[f"{k}/pinned"]) < 0 else int(data[f"{k}/pinned"]))
                  for k in keys}
        return shared, {k: data[f"{k}/bias"] for k in keys}, meta
    except (OSError, ValueError, KeyError, EOFError) as e:
        raise ValueError(f"{path} is not a shared-weights file of golden.compress ({type(e).__name__})") from None
