"""Test cases for the Fire accelerator: bundles, input frames and the
golden outputs (always from ``golden.intref`` through the bundle)."""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from golden import intref
from golden.bundle import Bundle


@dataclass
class FireCase:
    bundle: Bundle          # 'input' + the fire layer
    layer: str
    images: np.ndarray      # uint8 (frames, H, W, Cin)

    @functools.cached_property
    def expected(self) -> np.ndarray:
        return intref.run(self.bundle, self.images)[self.layer]


def random_fire(cin, s1x1, e1x1, e3x3, h, w, frames: int = 2, seed: int = 0) -> FireCase:
    """A randomly initialised, quantized Fire and ``frames`` smooth random inputs."""
    from golden.quantize import random_fire_bundle
    bundle, images = random_fire_bundle(cin, s1x1, e1x1, e3x3, h, w, seed=seed, calib_images=max(frames, 2))
    return FireCase(bundle, "fire", images[:frames])


@functools.lru_cache(maxsize=1)
def _squeezenet_v1_1():
    """Golden SqueezeNet v1.1 (seeded random weights) quantized on two seeded
    random 224x224x3 images: (bundle, pool1 activations of 3 more images)."""
    import torch

    from golden import graph
    from golden.models import SqueezeNet, squeezenet_v1_1
    from golden.quantize import quantize
    torch.manual_seed(0)
    model = SqueezeNet(squeezenet_v1_1()).eval()
    rng = np.random.default_rng(0)
    calib = rng.integers(0, 256, (2, 224, 224, 3), dtype=np.uint8)
    bundle = quantize(graph.extract(model), calib, "squeezenet_v1_1-seed0")
    images = rng.integers(0, 256, (3, 224, 224, 3), dtype=np.uint8)
    pool1 = intref.run(bundle, np.concatenate([calib, images]))["pool1"]
    return bundle, pool1


def fire2(frames: int = 1) -> FireCase:
    """fire2 of SqueezeNet v1.1 (55x55x64 -> 16 -> 64 + 64) on real pool1 activations."""
    from golden.quantize import sub_bundle
    bundle, pool1 = _squeezenet_v1_1()
    return FireCase(sub_bundle(bundle, "fire2"), "fire2", pool1[:frames])
