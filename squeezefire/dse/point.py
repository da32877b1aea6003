"""One sweep point, end to end: train the network (short, seeded),
evaluate float, quantise to int8, code its weights with codebooks of each
width (k-means, without fine-tuning: the sweep compares shapes, not
recipes), evaluate each, and add the hardware columns of the int8 bundle
and of the narrowest codebook's bundle.
"""
from __future__ import annotations

import time
from pathlib import Path
from dataclasses import asdict, dataclass, field

import numpy as np

from squeezefire.dse.grid import DsePoint, TrainSchedule, point_record
from squeezefire.dse.hardware import hardware_columns

CALIBRATION_IMAGES = 500
M_BITS = 12          # the requantisation multipliers of the UP5K reference (its engine multiplies in logic)


@dataclass
class PointResult:
    point: dict
    name: str
    params: int
    macs: int
    float_top1: float
    int8_top1: float
    weight_bits_int8: int
    codebook_top1: dict[int, float] = field(default_factory=dict)
    codebook_weight_bits: dict[int, int] = field(default_factory=dict)    # index + table bits
    hardware: dict[str, list[dict]] = field(default_factory=dict)          # "int8" / "b3" -> columns
    seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["codebook_top1"] = {str(k): v for k, v in self.codebook_top1.items()}
        d["codebook_weight_bits"] = {str(k): v for k, v in self.codebook_weight_bits.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "PointResult":
        d = dict(d)
        d["codebook_top1"] = {int(k): v for k, v in d["codebook_top1"].items()}
        d["codebook_weight_bits"] = {int(k): v for k, v in d["codebook_weight_bits"].items()}
        return cls(**d)


def _top1(bundle, images, labels) -> float:
    from golden import intref
    _, pred = intref.classify(bundle, images)
    return float(np.mean(pred == labels))


def _macs(bundle) -> int:
    """Multiply-accumulates per image: every weight times the output
    pixels it is used at."""
    total = 0
    for layer in bundle.layers:
        pixels = layer.shape.h * layer.shape.w
        total += sum(a.size for key, a in bundle.arrays.items()
                     if key.startswith(layer.name + "/") and key.endswith("weight")) * pixels
    return int(total)


def evaluate_point(point: DsePoint, schedule: TrainSchedule, bundle_dir=None, seed: int = 0) -> PointResult:
    """The point's result; with ``bundle_dir``, its int8 and narrowest
    codebook bundles are saved there (``<key>.int8.bundle``, ``<key>.b3.bundle``)."""
    import torch
    from golden import data
    from golden.codebook_bundle import codebook_bundle
    from golden.compress import cluster
    from golden.graph import extract
    from golden.models import count_parameters
    from golden.quantize import calibration_images, quantize
    from golden.train import evaluate, train
    torch.set_num_threads(1)
    t0 = time.time()
    spec = point.spec()
    model = train(schedule.epochs, seed, batch=schedule.batch, spec=spec, limit=schedule.limit, progress=False)
    t1 = time.time()
    xte, yte = data.load("test")
    xte, yte = xte[:schedule.test_images], yte[:schedule.test_images]
    graph = extract(model)
    calib = calibration_images(CALIBRATION_IMAGES)
    int8 = quantize(graph, calib, spec.name, m_bits=M_BITS)
    result = PointResult(point_record(point), spec.name, count_parameters(model), _macs(int8),
                         float(evaluate(model, xte, yte)), _top1(int8, xte, yte), int8.uncoded_weight_bits())
    coded = None
    for bits in sorted(point.bits, reverse=True):
        shared, _ = cluster(graph, bits, 0.0)
        coded = codebook_bundle(graph, shared, None, calib, spec.name, m_bits=M_BITS)
        result.codebook_top1[bits] = _top1(coded, xte, yte)
        result.codebook_weight_bits[bits] = coded.index_bits() + coded.codebook_bits()
    t2 = time.time()
    for weights, bundle in (("int8", int8), (f"b{min(point.bits, default=0)}", coded)):
        if bundle is None:
            continue
        result.hardware[weights] = [c.as_dict() for c in hardware_columns(bundle)]
        if bundle_dir is not None:
            bundle.save(Path(bundle_dir) / f"{point.key}.{weights}.bundle")
    result.seconds = {"train": round(t1 - t0, 1), "quantise": round(t2 - t1, 1), "hardware": round(time.time() - t2, 1)}
    return result
