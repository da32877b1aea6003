"""``python -m golden.quantize --model FILE.py:FUNCTION | --onnx FILE``:
the user's own network and data to a bundle (``docs/your-model.md``).

Everything is checked before the import and the calibration (files,
shapes, options, the output path), and every problem is one line, exit 2.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from golden import datasets
from golden.calibration import seeded_choice
from golden.importers.normalize import Normalization
from golden.importers.ops import ImportError_
from golden.user_model import UserModel


def add_arguments(ap: argparse.ArgumentParser) -> None:
    g = ap.add_argument_group("your own model (docs/your-model.md)")
    g.add_argument("--model", help="FILE.py:FUNCTION returning your nn.Module (with --checkpoint: its state_dict)")
    g.add_argument("--onnx", type=Path, help="an ONNX export of your network")
    g.add_argument("--calib", default="fashion-mnist",
                   help="calibration images: fashion-mnist (its training split), a folder (one sub-folder per "
                        "class) or IMAGES.npy (default fashion-mnist)")
    g.add_argument("--input-shape", help="H,W,C of the network's input (default: the ONNX file's, or the "
                                         "calibration images' own size)")
    g.add_argument("--mean", help="Normalize mean per channel, in 0..1, e.g. 0.485,0.456,0.406 (default: none)")
    g.add_argument("--std", help="Normalize std per channel (default 1)")
    g.add_argument("--name", help="the bundle's network name (default: the --out file's stem)")


def _floats(text: str | None, what: str) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise ImportError_(f"{what} must be comma-separated numbers, got {text!r}") from None


def _shape(text: str) -> tuple[int, int, int]:
    try:
        h, w, c = (int(v) for v in text.split(","))
    except ValueError:
        raise ImportError_(f"--input-shape must be H,W,C (e.g. 32,32,3), got {text!r}") from None
    if min(h, w) < 1 or c not in (1, 3):
        raise ImportError_(f"--input-shape {text}: H and W >= 1 and C 1 or 3")
    return (h, w, c)


def user_model(args) -> UserModel:
    mean, std = _floats(args.mean, "--mean"), _floats(args.std, "--std")
    norm = None
    if mean is not None or std is not None:
        norm = Normalization(mean or (0.0,), std or (1.0,))
    user = UserModel(args.model, args.onnx, args.checkpoint, norm)
    user.check()
    return user


def calibration_set(args, user: UserModel) -> datasets.ImageSet:
    """The calibration images at the network's input shape: ``--input-shape``,
    else the ONNX file's, else the images' own size."""
    shape = _shape(args.input_shape) if args.input_shape else user.input_shape()
    data = datasets.load(args.calib, shape, split="train")
    return datasets.ImageSet(data.name, seeded_choice(data.images, args.calibration_images), None, data.classes)


def run(args, quantize, check_bundle_out) -> int:
    """Make the bundle; returns the exit status."""
    if args.out is None:
        print("error: --model/--onnx needs --out FILE.bundle", file=sys.stderr)
        return 2
    try:
        check_bundle_out(args.out)
        user = user_model(args)
        calib = calibration_set(args, user)
        shape = tuple(calib.images.shape[1:])
        graph = user.graph(shape)
    except (ImportError_, datasets.DataError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    meta = {"source": {"user_model": user.record(), "calibration": {"data": calib.name, "images": len(calib.images),
                                                                    "choice": "seeded permutation, seed 0"}}}
    classes = calib.classes or None
    if classes is not None:
        meta["classes"] = list(classes)
    try:
        bundle = quantize(graph, calib.images, args.name or args.out.stem, meta=meta, m_bits=args.multiplier_bits)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    bundle.save(args.out)
    print(f"wrote {args.out}: {len(bundle.layers)} layers, input {list(shape)}, "
          f"{bundle.output.shape.c} classes, {bundle.uncoded_weight_bits() // 8} weight bytes")
    return 0
