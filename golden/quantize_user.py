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
from golden.counts import check_count
from golden.importers.normalize import Normalization
from golden.input_shape import InputShape
from golden.importers.ops import ImportError_
from golden.user_model import UserModel

DEFAULT_IMAGES = 2000       # calibration images when --calibration-images is not given


def add_arguments(ap: argparse.ArgumentParser) -> None:
    g = add_model_arguments(ap)
    g.add_argument("--calib", default="fashion-mnist",
                   help="calibration images: fashion-mnist (its training split), a folder (one sub-folder per "
                        "class) or IMAGES.npy (default fashion-mnist)")


def add_model_arguments(ap: argparse.ArgumentParser):
    """The options that name the user's model and its input (``golden.quantize``
    and ``golden.compress`` both); returns their argument group."""
    g = ap.add_argument_group("your own model (docs/your-model.md)")
    g.add_argument("--model", help="FILE.py:FUNCTION returning your nn.Module (with --checkpoint: its state_dict)")
    g.add_argument("--onnx", type=Path, help="an ONNX export of your network")
    g.add_argument("--input-shape", help="H,W,C of the network's input (default: the ONNX file's, or the "
                                         "calibration images' own size)")
    g.add_argument("--mean", help="Normalize mean per channel, in 0..1, e.g. 0.485,0.456,0.406 (default: none)")
    g.add_argument("--std", help="Normalize std per channel (default 1)")
    g.add_argument("--name", help="the bundle's network name (default: the --out file's stem)")
    return g


def user_model(args) -> UserModel:
    """The user's model, its files and options checked (nothing run yet)."""
    user = UserModel(args.model, args.onnx, args.checkpoint, Normalization.parse(args.mean, args.std))
    user.check()
    if args.name is not None and not args.name.strip():
        raise ImportError_(f"--name {args.name!r}: give the network a name")
    return user


def _input_shape(args, user: UserModel, raw: datasets.RawSet | None, data: str) -> InputShape:
    """``--input-shape``, else the ONNX file's, else the images' own size
    with the model's channels (the loader turns grey into RGB and back)."""
    if args.input_shape:
        return InputShape.parse(args.input_shape)
    stated = user.input_shape()
    if stated is not None:
        return InputShape.of(stated, f"--onnx {args.onnx}")
    h, w, c = raw.own_shape()
    first = user.input_channels()
    return InputShape.of((h, w, first[0] if first else c), data)


def _graph(args, user: UserModel, shape: InputShape) -> list[dict]:
    """The folded float graph, every check against the model done: its
    channels, the normalisation's values per channel."""
    first = user.input_channels()
    if first is not None:
        shape.check_channels(first[0], first[1])
    if user.normalization is not None:
        user.normalization.check(shape.c)
    return user.graph(shape.hwc)


def check_classes(raw: datasets.RawSet, graph: list[dict], data: str) -> None:
    outputs = graph[-1]["shape"][2]
    if raw.classes is not None and len(raw.classes) != outputs:
        raise datasets.DataError(f"{data}: {len(raw.classes)} class folder(s) "
                                 f"({', '.join(raw.classes[:3])}{', ...' if len(raw.classes) > 3 else ''}) "
                                 f"but the model has {outputs} outputs; give one sub-folder per class")


def calibration_count(args, raw: datasets.RawSet) -> int:
    """``--calibration-images``: default all, up to ``DEFAULT_IMAGES``; never more than there are."""
    if args.calibration_images is None:
        return min(len(raw), DEFAULT_IMAGES)
    return check_count(args.calibration_images, "--calibration-images", 1, len(raw),
                       f"{raw.name} has {len(raw)} images")


def import_model(args, spec: str, option: str = "--calib", labels: Path | None = None
                 ) -> tuple[UserModel, list[dict], datasets.RawSet, InputShape]:
    """The user's model imported and its images read, not yet resized:
    (model, folded float graph, the images of ``spec`` -- the option
    ``option`` -- as read, input shape).  The model is imported on a known
    shape before the data is read; every check is done here."""
    user = user_model(args)
    known = args.input_shape or args.onnx is not None
    shape = _input_shape(args, user, None, f"{option} {spec}") if known else None
    graph = _graph(args, user, shape) if known else None
    raw = datasets.read(spec, labels, split="train")
    if not known:
        shape = _input_shape(args, user, raw, f"{option} {spec}")
        graph = _graph(args, user, shape)
    check_classes(raw, graph, f"{option} {spec}")
    return user, graph, raw, shape


def prepare(args) -> tuple[UserModel, list[dict], datasets.ImageSet, InputShape]:
    """Everything checked, then the calibration images fitted (the only
    long step here): only the chosen images are resized."""
    user, graph, raw, shape = import_model(args, args.calib)
    calib = raw.chosen(calibration_count(args, raw)).fitted(shape.hwc)
    return user, graph, datasets.ImageSet(calib.name, calib.images, None, raw.classes), shape


def run(args, quantize, check_bundle_out) -> int:
    """Make the bundle; returns the exit status."""
    if args.out is None:
        print("error: --model/--onnx needs --out FILE.bundle", file=sys.stderr)
        return 2
    try:
        check_bundle_out(args.out)
        user, graph, calib, shape = prepare(args)
        meta = {"source": {"user_model": user.record(),
                           "calibration": {"data": calib.name, "images": len(calib.images),
                                           "choice": "seeded permutation, seed 0"}}}
        if calib.classes:
            meta["classes"] = list(calib.classes)
        bundle = quantize(graph, calib.images, args.name or args.out.stem, meta=meta, m_bits=args.multiplier_bits)
    except ValueError as e:       # ImportError_, DataError, BadInput and the quantiser's own refusals
        print(f"error: {e}", file=sys.stderr)
        return 2
    bundle.save(args.out)
    print(f"wrote {args.out}: {len(bundle.layers)} layers, input {list(shape.hwc)}, "
          f"{bundle.output.shape.c} classes, {bundle.uncoded_weight_bits() // 8} weight bytes")
    return 0
