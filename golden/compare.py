"""Chip (simulated) vs integer golden vs float model, on real images.

    python golden/compare.py [--bundle FILE] [--json FILE]

Evaluates the float model and the int8 integer reference (``golden.intref``)
on the whole Fashion-MNIST test set and prints a table.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

if __package__ in (None, ""):      # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import torch

from golden import data, intref
from golden.bundle import Bundle, BundleError
from golden.quantize import REFERENCE_BUNDLE, REFERENCE_CHECKPOINT, load_reference_model
from golden.train import to_float


def float_predictions(model, images: np.ndarray, batch: int = 1000) -> np.ndarray:
    with torch.no_grad():
        return np.concatenate([model(to_float(images[i:i + batch])).argmax(1).numpy()
                               for i in range(0, len(images), batch)])


def evaluate(bundle: Bundle, model, images: np.ndarray, labels: np.ndarray) -> dict:
    t0 = time.time()
    pf = float_predictions(model, images)
    t1 = time.time()
    _, pq = intref.classify(bundle, images)
    t2 = time.time()
    return {
        "network": bundle.name,
        "dataset": "fashion-mnist/test",
        "images_golden": int(len(images)),
        "float_top1": float(np.mean(pf == labels)),
        "int8_top1": float(np.mean(pq == labels)),
        "float_int8_agreement": float(np.mean(pf == pq)),
        "seconds": {"float": round(t1 - t0, 2), "int8": round(t2 - t1, 2)},
    }


def table(r: dict) -> str:
    rows = [("network", r["network"]), ("dataset", f"{r['dataset']} ({r['images_golden']} images)"),
            ("float top-1", f"{r['float_top1']:.4f}"), ("int8 top-1", f"{r['int8_top1']:.4f}"),
            ("float - int8", f"{r['float_top1'] - r['int8_top1']:+.4f}"),
            ("float/int8 agreement", f"{r['float_int8_agreement']:.4f}")]
    w = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{w}}  {v}" for k, v in rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python golden/compare.py", description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, default=REFERENCE_BUNDLE, help="quantized network (default: the reference)")
    ap.add_argument("--checkpoint", type=Path, default=REFERENCE_CHECKPOINT, help="float model of the same network")
    ap.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    try:
        bundle = Bundle.load(args.bundle)
        model = load_reference_model(args.checkpoint)
        images, labels = data.load("test")
    except (BundleError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if list(images.shape[1:]) != bundle.layers[0]["shape"]:
        print(f"error: bundle {args.bundle} expects input {bundle.layers[0]['shape']}, "
              f"Fashion-MNIST images are {list(images.shape[1:])}", file=sys.stderr)
        return 2
    r = evaluate(bundle, model, images, labels)
    print(table(r))
    if args.json:
        tmp = args.json.with_name(args.json.name + ".tmp")
        tmp.write_text(json.dumps(r, indent=2) + "\n")
        tmp.replace(args.json)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
