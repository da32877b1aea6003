"""``python -m golden.compress --model FILE.py:FUNCTION | --onnx FILE``:
Deep Compression of the user's own network on the user's own data
(``docs/your-model.md``, ``docs/compression.md``).

The model is imported exactly as ``golden.quantize --model/--onnx`` does
(``golden.quantize_user.import_model``); then the family's path runs on
its folded graph: ``--equalize``, codebooks (``--bits``, ``--layer-bits``),
``--prune``, fine-tuning with distillation from the float model, one or
two stages (``golden.compress.cluster``), calibration, the bundle.

The images come in three roles, never mixed:

* ``--data``: fine-tuning (it needs labels) and calibration;
* held out, for the accuracy it prints: ``--test-data`` if given, else
  Fashion-MNIST's test split when ``--data`` is fashion-mnist, else a
  seeded part of ``--data`` (``--held-out F``, default 0.2: the first
  ``ceil(F * N)`` of numpy ``default_rng(0).permutation(N)``), which is
  then removed from the fine-tuning and calibration images.

Everything is checked before any image is resized, fine-tuned on or
calibrated with, and every problem is one line, exit 2; the bundle is
written by a rename (``golden.atomic``), whole or not at all.
"""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from golden import datasets, quantize_user
from golden.bad_input import BadInput
from golden.counts import check_count
from golden.input_shape import InputShape
from golden.user_model import UserModel

HELD_OUT = 0.2              # --held-out's default: the share of --data kept for the accuracy
SPLIT_SEED = 0              # the held-out split's permutation (numpy default_rng)
DEFAULT_DATA = "fashion-mnist"


def add_arguments(ap: argparse.ArgumentParser) -> None:
    g = quantize_user.add_model_arguments(ap)
    g.add_argument("--data", help="your training images, for fine-tuning and calibration: fashion-mnist (its "
                                  "training split), a folder (one sub-folder per class) or IMAGES.npy with "
                                  "--labels (default fashion-mnist)")
    g.add_argument("--labels", type=Path, help="LABELS.npy, the labels of an IMAGES.npy --data")
    g.add_argument("--test-data", help="held-out images for the accuracy, in the same forms (default: "
                                       "fashion-mnist's test split for fashion-mnist, else --held-out of --data)")
    g.add_argument("--test-labels", type=Path, help="LABELS.npy of an IMAGES.npy --test-data")
    g.add_argument("--held-out", type=float, help=f"the share of --data set aside, a seeded choice, for the "
                                                  f"accuracy and never fine-tuned or calibrated on (default "
                                                  f"{HELD_OUT} when there is no test set)")


def own_data_options(args) -> list[tuple[str, object]]:
    """The options only an imported model takes, with their values (None: not given)."""
    return [("--data", args.data), ("--labels", args.labels), ("--test-data", args.test_data),
            ("--test-labels", args.test_labels), ("--held-out", args.held_out),
            ("--input-shape", args.input_shape), ("--mean", args.mean), ("--std", args.std),
            ("--name", args.name)]


@dataclass(frozen=True)
class Prepared:
    """The imported model and its images, every check done, no image
    resized yet: ``train`` fine-tunes and calibrates, ``held_out`` (with
    ``held_out_how``, what it is) measures."""
    user: UserModel
    graph: list[dict]               # folded float graph, as golden.quantize makes it
    shape: InputShape
    train: datasets.RawSet
    held_out: datasets.RawSet
    held_out_how: str

    @property
    def classes(self) -> int:
        return self.graph[-1]["shape"][2]

    def identity(self) -> dict:
        """What the model is, by content: its files' SHA-256 and the normalisation."""
        return {k: v for k, v in self.user.record().items() if k not in ("model", "onnx")}


def _split(raw: datasets.RawSet, fraction: float, spec: str) -> tuple[datasets.RawSet, datasets.RawSet, str]:
    """(training part, held-out part, what the held-out part is)."""
    if not (isinstance(fraction, float) and 0 < fraction < 1):
        raise BadInput(f"--held-out {fraction}: must be a fraction between 0 and 1")
    n = len(raw)
    k = math.ceil(fraction * n)
    if k >= n:
        raise BadInput(f"--held-out {fraction}: --data {spec} has {n} images; the held-out part would leave "
                       "none to fine-tune and calibrate on")
    order = np.random.default_rng(SPLIT_SEED).permutation(n)
    held, kept = np.sort(order[:k]), np.sort(order[k:])
    how = (f"{k} of the {n} images of --data {spec}, held out (the first ceil({fraction:g} * {n}) of numpy "
           f"default_rng({SPLIT_SEED}).permutation({n})), never fine-tuned or calibrated on")
    return raw.subset(kept, f"{raw.name} (without the held-out part)"), raw.subset(held, f"{raw.name} (held out)"), how


def _held_out(args, raw: datasets.RawSet, graph: list[dict], spec: str):
    if args.test_labels is not None and args.test_data is None:
        raise BadInput("--test-labels goes with --test-data IMAGES.npy")
    if args.test_data is not None:
        if args.held_out is not None:
            raise BadInput("--held-out and --test-data: give one (a test set needs no split)")
        test = datasets.read(args.test_data, args.test_labels, split="test")
        quantize_user.check_classes(test, graph, f"--test-data {args.test_data}")
        return raw, test, f"--test-data {args.test_data}: your test set, {len(test)} images"
    if spec == DEFAULT_DATA and args.held_out is None:
        test = datasets.read(DEFAULT_DATA, split="test")
        return raw, test, f"{test.name}: Fashion-MNIST's test split ({len(test)} images), never trained on"
    return _split(raw, HELD_OUT if args.held_out is None else args.held_out, spec)


def _check_labels(raw: datasets.RawSet, classes: int, option: str) -> None:
    if raw.labels is not None and len(raw.labels) and int(raw.labels.max()) >= classes:
        raise BadInput(f"{option}: label {int(raw.labels.max())} found, but the model has {classes} outputs "
                       f"(labels 0..{classes - 1})")


def prepare(args) -> Prepared:
    """The model imported, the data read and split, every count and label checked."""
    if args.net is not None:
        raise BadInput(f"--net {args.net} names one of the project's networks; with --model/--onnx leave it out")
    spec = args.data or DEFAULT_DATA
    if args.labels is not None and Path(spec).suffix != ".npy":
        raise BadInput(f"--labels goes with --data IMAGES.npy, not with {spec}")
    user, graph, raw, shape = quantize_user.import_model(args, spec, "--data", args.labels)
    train, held_out, how = _held_out(args, raw, graph, spec)
    classes = graph[-1]["shape"][2]
    _check_labels(train, classes, f"--data {spec}")
    _check_labels(held_out, classes, f"--test-data {args.test_data}" if args.test_data else f"--data {spec}")
    if args.finetune_epochs and args.shared is None and train.labels is None:
        raise BadInput(f"--finetune-epochs needs labelled --data: {spec} has no labels (give --labels LABELS.npy)")
    if args.finetune_images is not None:
        check_count(args.finetune_images, "--finetune-images", 1, len(train), f"{train.name} has {len(train)} images")
    quantize_user.calibration_count(args, train)
    if args.images is not None:
        check_count(args.images, "--images", 1, len(held_out), f"the held-out set has {len(held_out)} images")
    return Prepared(user, graph, shape, train, held_out, how)


def _check_outputs(args) -> None:
    from golden.compress import check_shared_out
    from golden.quantize import check_bundle_out
    if args.out is None:
        raise BadInput("--model/--onnx needs --out FILE.bundle (or give --report)")
    check_bundle_out(args.out)
    if args.save_shared is not None:
        check_shared_out(args.save_shared)


def run(args) -> int:
    """Compress (or, with ``--report``, report on) the user's model; the exit status."""
    from golden import compress
    if args.report:
        return report(args)
    compress.check_common_options(args)
    _check_outputs(args)
    p = prepare(args)
    graph = p.graph
    if args.equalize:
        from golden.equalize import equalize
        graph = equalize(graph)
    name = args.name or args.out.stem
    compress.check_first_layers(args, graph, name)
    if args.shared is not None:
        shared, biases, settings = compress.shared_from_file(args.shared, graph, {"user_model": p.identity()},
                                                             "this model (its files' SHA-256 and normalisation)")
        print(f"shared weights from {args.shared}", file=sys.stderr)
    else:
        settings = compress.compression_settings(args, graph) | {"data": _data_record(args, p)}
        shared, biases = _cluster(args, p, graph, settings)
    calib = p.train.chosen(quantize_user.calibration_count(args, p.train)).fitted(p.shape.hwc)
    print(f"calibrating on {len(calib.images)} images of {p.train.name}", file=sys.stderr, flush=True)
    bundle = _bundle(args, p, graph, shared, biases, calib, settings, name)
    bundle.save(args.out)
    print(f"wrote {args.out}: {len(bundle.layers)} layers, {bundle.index_bits()} index bits, "
          f"{bundle.codebook_bits()} codebook bits, {bundle.uncoded_weight_bits()} uncoded weight bits")
    _print_accuracy(args, p, bundle, calib.images)
    return 0


def _data_record(args, p: Prepared) -> dict:
    return {"train": p.train.name, "train_images": len(p.train), "held_out": p.held_out_how}


def _cluster(args, p: Prepared, graph, settings):
    from golden import compress
    from golden.graph import GraphModule
    from golden.weight_sharing import save_shared
    tuning = compress.finetuning(args)
    train = None
    if tuning.epochs:
        chosen = p.train if args.finetune_images is None else p.train.subset(np.arange(args.finetune_images))
        fitted = chosen.fitted(p.shape.hwc)
        train = (fitted.images, fitted.labels)
        print(f"fine-tuning on {len(fitted.images)} images of {p.train.name}", file=sys.stderr, flush=True)
    print(f"clustering {len(settings['bits'])} weight arrays ({args.bits}-bit codebooks, {args.prune:.0%} pruned)",
          file=sys.stderr, flush=True)
    shared, biases = compress.cluster(graph, settings["bits"], args.prune, tuning,
                                      teacher=GraphModule(p.graph), train=train)
    if args.save_shared is not None and biases is not None:
        save_shared(args.save_shared, shared, biases, {"user_model": p.identity(), "compression": settings})
        print(f"wrote {args.save_shared}", file=sys.stderr)
    return shared, biases


def _bundle(args, p: Prepared, graph, shared, biases, calib: datasets.ImageSet, settings, name: str):
    from golden.codebook_bundle import codebook_bundle
    from golden.command import Interrupted
    meta = {"source": {"user_model": p.user.record(), "compression": settings,
                       "calibration": {"data": p.train.name, "images": len(calib.images),
                                       "choice": "seeded permutation, seed 0"}}}
    if p.train.classes:
        meta["classes"] = list(p.train.classes)
    try:
        return codebook_bundle(graph, shared, biases, calib.images, name, meta=meta, m_bits=args.multiplier_bits)
    except KeyboardInterrupt:
        if args.save_shared is not None and args.shared is None and biases is not None:
            raise Interrupted(f"the fine-tuned values are kept in {args.save_shared} (--shared makes the "
                              "bundle from them); no bundle written") from None
        raise


def held_out_images(args, p: Prepared) -> datasets.ImageSet:
    """The held-out images (the first ``--images`` of them), fitted."""
    held = p.held_out if args.images is None else p.held_out.subset(np.arange(args.images))
    return held.fitted(p.shape.hwc)


def _print_accuracy(args, p: Prepared, bundle, calib: np.ndarray) -> None:
    """Top-1 on the held-out images: the float model, plain int8, the bundle."""
    from golden.command import Interrupted
    from golden.compression_report import top1
    from golden.graph import GraphModule
    from golden.quantize import quantize
    from golden.train import evaluate
    if p.held_out.labels is None:
        print(f"no accuracy: the held-out images ({p.held_out_how}) have no labels")
        return
    try:
        test = held_out_images(args, p)
        print(f"top-1 on {len(test.images)} held-out images ({p.held_out_how}), measured:", flush=True)
        rows = [("float (your model, as imported)", lambda: evaluate(GraphModule(p.graph), test.images, test.labels)),
                ("int8 (golden.quantize, golden.intref)", lambda: top1(
                    quantize(p.graph, calib, bundle.name, m_bits=args.multiplier_bits), test.images, test.labels)),
                (f"compressed ({args.out.name}, golden.intref)", lambda: top1(bundle, test.images, test.labels))]
        width = max(len(label) for label, _ in rows) + 2
        for label, measure in rows:
            print(f"  {label:<{width}}{measure():.4f}", flush=True)
    except KeyboardInterrupt:
        raise Interrupted(f"{args.out} was written; the accuracy was not measured") from None


def report(args) -> int:
    """``--report`` for an imported model: its size stage by stage and the
    top-1 of each on the held-out images (codebooks without fine-tuning;
    ``--bundle`` adds fine-tuned ones)."""
    from golden.bundle import Bundle
    from golden.compression_report import (PREAMBLE, check_report_options, format_table, size_report,
                                           size_stages, report_bits, trained_rows)
    from golden.graph import GraphModule
    from golden.weight_sharing import weight_params
    names = check_report_options(args, args.report_nets or "")
    p = prepare(args)
    for path in args.bundle:
        b = Bundle.load(path)
        if tuple(b.input.shape) != p.shape.hwc:
            raise BadInput(f"--bundle {path} takes {list(b.input.shape)} images, the model {list(p.shape.hwc)}")
    name = args.name or "your model"
    print(PREAMBLE.format(seed=args.seed, prune=args.report_prune))
    if names:
        print(size_report(names, report_bits(args), args.report_prune, args.seed) + "\n", flush=True)
    params = sum(q["weight"].size + q["bias"].size for _, q in weight_params(p.graph))
    print(format_table(f"{name}, {params:,} parameters (BatchNorm folded)".replace(",", " "),
                       size_stages(p.graph, report_bits(args), args.report_prune)) + "\n", flush=True)
    if p.held_out.labels is None:
        print(f"no accuracy: the held-out images ({p.held_out_how}) have no labels")
        return 0
    calib = p.train.chosen(quantize_user.calibration_count(args, p.train)).fitted(p.shape.hwc).images
    test = held_out_images(args, p)
    sizes, accs = trained_rows(args, p.graph, GraphModule(p.graph), name, calib, test.images, test.labels)
    print(format_table(f"{name}, top-1 on {len(test.images)} held-out images ({p.held_out_how}): float, then "
                       "int8 by golden.intref; codebook stages without fine-tuning", sizes, accs))
    return 0
