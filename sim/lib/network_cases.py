"""Networks and images for the whole-network tests; expected outputs always
come from ``golden.intref`` through the bundle."""
from __future__ import annotations

import functools

import numpy as np

from golden.bundle import Bundle
from golden.codebook import Codebook, exact_codebook


def random_network(spec, seed: int = 0, calib_images: int = 4, m_bits: int = 16) -> tuple[Bundle, np.ndarray]:
    """A seeded, randomly initialised float network of the family, quantized
    on smooth random images; returns (bundle, those images)."""
    import torch

    from golden import graph
    from golden.models import SqueezeNet
    from golden.quantize import quantize
    torch.manual_seed(seed)
    model = SqueezeNet(spec).eval()
    rng = np.random.default_rng(seed)
    n, s, c = calib_images, spec.image_size, spec.in_channels
    coarse = rng.integers(0, 256, (n, s // 3 + 1, s // 3 + 1, c))
    images = np.repeat(np.repeat(coarse, 3, 1), 3, 2)[:, :s, :s, :]
    images = np.clip(images + rng.integers(-30, 31, images.shape), 0, 255).astype(np.uint8)
    return quantize(graph.extract(model), images, spec.name, m_bits=m_bits), images


def with_random_codebooks(bundle: Bundle, bits: int, seed: int = 0) -> Bundle:
    """``bundle`` with every weight array re-coded on a seeded random
    codebook of ``2**bits`` int8 values (each weight moves to its nearest
    value, so the network stays a sensible one): a coded bundle for the
    hardware tests, whatever the clustering of ``golden`` would choose."""
    from golden.codebook import Codebook
    rng = np.random.default_rng(seed)
    books = {}
    for key in sorted(k for k in bundle.arrays if k.endswith("weight")):
        values = np.sort(rng.choice(np.arange(-127, 128), 2 ** bits, replace=False)).astype(np.int8)
        distance = np.abs(bundle.arrays[key].astype(np.int64)[..., None] - values.astype(np.int64))
        books[key] = Codebook(values, distance.argmin(-1).astype(np.uint8))
    return bundle.with_codebooks(books)


def small_bypass_spec(bypass: str):
    """A 4-Fire member of the family on 17x17x2 images, with the paper's
    bypass placement: simple around fire3/fire5, complex also fire2/fire4."""
    from golden.models import family
    return family(base_e=8, incr_e=8, freq=2, sr=0.5, pct3x3=0.5, num_fire=4, conv1=(6, 3, 2, 1),
                  pool_after=(3,), bypass=bypass, in_channels=2, image_size=17, num_classes=6,
                  name=f"small-{bypass}-bypass")


def tiny_bypass_spec():
    """Two Fire modules on 13x13x2 images with a complex bypass around fire2
    and a simple one around fire3: every kind of weight ROM (conv1, the
    Fire parts, the bypass conv, conv10) in a network that builds quickly."""
    from golden.models import family
    return family(base_e=8, incr_e=8, freq=2, sr=0.5, pct3x3=0.5, num_fire=2, conv1=(6, 3, 2, 1),
                  pool_after=(), bypass="complex", in_channels=2, image_size=13, num_classes=4,
                  name="tiny-complex-bypass")


def coarse_codebooks(bundle: Bundle, bits: dict[str, int], seed: int) -> Bundle:
    """``bundle`` with each listed weight (array key -> b) coded by a b-bit
    codebook: the weight forced to at most 2**b levels (its quantiles, so
    the network still computes something), and the table shuffled (seeded),
    so an index says nothing about its value."""
    rng = np.random.default_rng(seed)
    codebooks = {}
    for key, b in bits.items():
        w = bundle.arrays[key].astype(np.int64)
        levels = np.unique(np.round(np.quantile(w, (np.arange(2 ** b) + 0.5) / 2 ** b)).astype(np.int64))
        nearest = levels[np.abs(w[..., None] - levels).argmin(axis=-1)]
        exact = exact_codebook(nearest.astype(np.int8), bits=b)
        order = rng.permutation(2 ** b)                 # new entry j is old entry order[j]
        codebooks[key] = Codebook(exact.values[order], np.argsort(order)[exact.indices].astype(np.uint8))
    return bundle.with_codebooks(codebooks)


@functools.lru_cache(maxsize=1)
def reference() -> Bundle:
    from golden.quantize import REFERENCE_BUNDLE
    return Bundle.load(REFERENCE_BUNDLE)


@functools.lru_cache(maxsize=1)
def fire1() -> Bundle:
    """The first reference network (one Fire module, int8 weights): small,
    for the pipeline's whole-network tests on the UP5K."""
    from golden.quantize import FIRE1_BUNDLE
    return Bundle.load(FIRE1_BUNDLE)


def fashion_images(n: int, offset: int = 0) -> np.ndarray:
    from golden import data
    images, _ = data.load("test")
    return images[offset:offset + n]


def _random_conv(rng, cout: int, cin: int, k: int, **extra) -> dict:
    scale = 1.0 / np.sqrt(cin * k * k)
    return {"weight": rng.normal(0, scale, (cout, cin, k, k)), "bias": rng.normal(0, 0.1, cout),
            "kernel": k, "stride": 1, "padding": k // 2, **extra}


def feature_network(image=(12, 12, 3), pool=(2, 2, False), logits: bool = True, pad=(124, 116, 104),
                    width: int = 16, classes: int = 10, seed: int = 0,
                    pool_image: bool = False) -> tuple[Bundle, np.ndarray]:
    """A small seeded random network with what user models bring (issue 14):
    a conv1 that pads with per-channel raw pixel values ``pad`` (a folded
    Normalize), ``pool`` (kernel, stride, ceil) max pools, one Fire, and a
    classifier that ends in ``logits`` (no ReLU: the int32 accumulators are
    summed by the gap).  ``pool_image``: one more pool, of the image itself,
    before conv1 (which then pads with 0).  Returns (bundle, its calibration
    images)."""
    from golden.quantize import quantize
    from golden.shapes import output_size
    rng = np.random.default_rng(seed)
    h, w, c = image
    k, s, ceil = pool
    fill = None if pad is None else np.asarray(pad, dtype=np.float64) / 255
    graph = [{"name": "input", "kind": "input", "inputs": [], "shape": [h, w, c],
              **({} if pad is None else {"pad": list(pad)})}]
    if pool_image:
        h, w = output_size(h, k, s, 0, ceil), output_size(w, k, s, 0, ceil)
        graph.append({"name": "pool0", "kind": "maxpool", "inputs": ["input"], "shape": [h, w, c],
                      "kernel": k, "stride": s, "ceil": ceil})
    graph.append({"name": "conv1", "kind": "conv", "inputs": [graph[-1]["name"]], "shape": [h, w, width],
                  **_random_conv(rng, width, c, 3, **({} if fill is None or pool_image else {"fill": fill}))})
    h, w = output_size(h, k, s, 0, ceil), output_size(w, k, s, 0, ceil)
    graph.append({"name": "pool1", "kind": "maxpool", "inputs": ["conv1"], "shape": [h, w, width],
                  "kernel": k, "stride": s, "ceil": ceil})
    sq, e = width // 2, width
    graph.append({"name": "fire2", "kind": "fire", "inputs": ["pool1"], "shape": [h, w, 2 * e],
                  "cin": width, "s1x1": sq, "e1x1": e, "e3x3": e, "squeeze": _random_conv(rng, sq, width, 1),
                  "expand1x1": _random_conv(rng, e, sq, 1), "expand3x3": _random_conv(rng, e, sq, 3)})
    h, w = output_size(h, k, s, 0, ceil), output_size(w, k, s, 0, ceil)
    graph.append({"name": "pool2", "kind": "maxpool", "inputs": ["fire2"], "shape": [h, w, 2 * e],
                  "kernel": k, "stride": s, "ceil": ceil})
    graph.append({"name": "classifier", "kind": "conv", "inputs": ["pool2"], "shape": [h, w, classes],
                  **_random_conv(rng, classes, 2 * e, 1, act="none" if logits else "relu")})
    graph.append({"name": "gap", "kind": "gap", "inputs": ["classifier"], "shape": [1, 1, classes]})
    images = rng.integers(0, 256, (4, *image), dtype=np.uint8)
    return quantize(graph, images, "features"), images


def same_shape_variant(bundle: Bundle, seed: int) -> Bundle:
    """Another bundle of ``bundle``'s shape and ROM layout (``squeezefire.weights``)
    whose weights, codebooks and constants differ, seeded: every codebook
    gets new int8 values (same size) and its indices shuffled over the
    weight, every layer's biases and
    multipliers ``m`` are permuted among its channels (so their widths stay),
    and each bypass add's multipliers flip their lowest bit (a uniform
    value stays uniform and of its bit length)."""
    rng = np.random.default_rng(seed)
    books = {key: Codebook(rng.integers(-127, 128, book.values.shape).astype(np.int8),
                           rng.permutation(book.indices.ravel()).reshape(book.indices.shape))
             for key, book in sorted(bundle.codebooks.items())}
    arrays = dict(bundle.arrays)
    for key in sorted(arrays):
        leaf = key.rsplit("/", 1)[1]
        if leaf in ("bias", "m"):
            arrays[key] = rng.permutation(arrays[key])
        elif leaf in ("m_a", "m_b") and int(arrays[key].min()) >= 2:
            arrays[key] = arrays[key] ^ np.uint16(1)
    variant = Bundle(dict(bundle.graph), arrays, dict(bundle.codebooks))
    return variant.with_codebooks(books)
