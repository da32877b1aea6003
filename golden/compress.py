"""Deep Compression for the golden model: float checkpoint → codebook bundle,
and the paper-style size report (``docs/compression.md``).

    python -m golden.compress --net NAME --checkpoint FILE --bits B [--prune F]
                              [--finetune-epochs N] --out FILE.bundle
    python -m golden.compress --report [--net NAME --checkpoint FILE] [--images N]
    python -m golden.compress --model FILE.py:FUNC [--checkpoint CK.pt] | --onnx FILE.onnx
                              --data DATA [--test-data DATA | --held-out F] --bits B ... --out FILE.bundle

The last form compresses your own model on your own data
(``golden.compress_user``, ``docs/your-model.md``): fine-tuned and
calibrated on ``--data``, its accuracy measured on held-out images only.

Every weight array gets a codebook of 2**B int8 values (``--layer-bits
KEY=B`` for one array), clustered by 1-D k-means in the int8 domain
(``golden.weight_sharing``), optionally after magnitude pruning, then the
shared values are fine-tuned (``golden.finetune``) and rounded; the
activations are quantised as by ``golden.quantize``, with those int8
weights.  ``--save-shared`` keeps the fine-tuned float values, from which
``--shared`` re-makes the same bundle bytes on any machine.  Bad input
exits 2 with one line and writes nothing.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from golden import compress_user, data
from golden import graph as fgraph
from golden.codebook import MAX_BITS
from golden.command import ArgumentParser, Interrupted, command_main
from golden.counts import MAX_THREADS, check_count, check_seed
from golden.codebook_bundle import check_bits, codebook_bundle
from golden.equalize import equalize
from golden.models import NETWORKS, network_spec
from golden.quantize import (CALIBRATION_IMAGES, REFERENCE_NET, calibration_images, check_bundle_out, file_sha256,
                             load_model, source_record)
from golden.weight_sharing import (MIN_SHARE_BITS, SharedWeights, load_shared,
                                   plain_shared, save_shared, share_graph, shared_float_graph,
                                   per_key, weight_params)

REPORT_NETS = "squeezenet-v1.0,squeezenet-v1.1,reference-fmnist"
REPORT_IMAGES = 10000
CALIBRATION_CHOICE = {"data": "fashion-mnist/train",
                      "choice": "first of numpy default_rng(0).permutation, in file order"}


@dataclass(frozen=True)
class Finetuning:
    """How the shared values are fine-tuned (``golden.finetune``)."""
    epochs: int = 0
    images: int | None = None       # the first N training images; None: all
    reassign: bool = True           # the weights train too and move between clusters; False: Deep
                                    # Compression's fixed indices (only the shared values train)
    distill: bool = True            # also match the float network's outputs
    seed: int = 0
    first_layers: int = 0           # > 0: two stages, first these weight arrays (network order) alone,
                                    # the others at 8 bits, then all; ``epochs`` each


def cluster(graph: list[dict], bits: int | dict, prune: float, tuning: Finetuning = Finetuning(),
            teacher=None, train: tuple | None = None) -> tuple[dict[str, SharedWeights], dict | None]:
    """(shared weights, fine-tuned biases or None): clustered, then
    fine-tuned (``teacher``: the float network, for distillation; ``train``:
    (uint8 NHWC images, labels), default Fashion-MNIST's training split),
    or, without fine-tuning, re-pointed at the nearest rounded values."""
    if not tuning.epochs:
        return plain_shared(graph, share_graph(graph, bits, prune)), None
    if train is None:
        train = data.load("train")
    if tuning.first_layers:
        keys = [k for k, _ in weight_params(graph)]
        first = {k: per_key(bits, k) for k in keys[:tuning.first_layers]} | {"*": MAX_BITS}
        graph = shared_float_graph(graph, *_finetune(graph, first, prune, tuning, teacher, train))
    return _finetune(graph, bits, prune, tuning, teacher, train)


def _finetune(graph, bits, prune, tuning: Finetuning, teacher, train):
    from golden.finetune import Schedule, finetune          # torch training only when asked for
    images, labels = train
    return finetune(graph, share_graph(graph, bits, prune), images[:tuning.images], labels[:tuning.images],
                    Schedule(tuning.epochs), seed=tuning.seed, reassign=tuning.reassign,
                    teacher=teacher if tuning.distill else None)


def parse_layer_bits(items: list[str], keys: list[str]) -> dict[str, int]:
    """``KEY=B`` options → {weight key: bits}; ValueError naming the bad one."""
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        if key not in keys:
            raise ValueError(f"--layer-bits {item}: no weight {key!r}; the network has {', '.join(keys)}")
        out[key] = check_bits(value, f"--layer-bits {item}")
    return out




def _check_options(args) -> None:
    """Everything about the options that can be refused before any work."""
    if args.checkpoint is None or args.out is None:
        raise ValueError("compressing needs --checkpoint and --out (or give --report)")
    check_common_options(args)
    if args.finetune_images is not None:
        check_count(args.finetune_images, "--finetune-images", 1, data.TRAIN_IMAGES,
                    f"fashion-mnist/train has {data.TRAIN_IMAGES} images")
    check_count(args.calibration_images, "--calibration-images", 1, data.TRAIN_IMAGES,
                f"fashion-mnist/train has {data.TRAIN_IMAGES} images")
    if args.net not in NETWORKS:
        raise ValueError(f"unknown network {args.net!r}; known: {', '.join(NETWORKS)}")
    check_bundle_out(args.out)
    if args.save_shared is not None:
        check_shared_out(args.save_shared)


def check_common_options(args) -> None:
    """The options every compression takes, the family's and an imported
    model's (the counts of images are checked against the data they count)."""
    if args.bits is None and args.shared is None:
        raise ValueError(f"--bits is missing (a codebook of 2**B values, B from {MIN_SHARE_BITS} to {MAX_BITS})")
    if args.bits is not None:
        args.bits = check_bits(args.bits, "--bits")
    if not 0 <= args.prune < 1:
        raise ValueError(f"--prune must be a fraction in [0, 1), got {args.prune}")
    if args.finetune_epochs < 0:
        raise ValueError(f"--finetune-epochs must be >= 0, got {args.finetune_epochs}")
    if args.first_layers < 0:
        raise ValueError(f"--first-layers must be >= 0, got {args.first_layers}")
    if args.first_layers and not args.finetune_epochs:
        raise ValueError("--first-layers needs --finetune-epochs")
    check_count(args.threads, "--threads", 1, MAX_THREADS)
    check_seed(args.seed)
    if not 8 <= args.multiplier_bits <= 16:
        raise ValueError(f"--multiplier-bits must be 8..16, got {args.multiplier_bits}")


def check_first_layers(args, graph, network: str) -> None:
    arrays = len(weight_params(graph))
    if args.first_layers >= arrays:
        raise ValueError(f"--first-layers {args.first_layers}: network {network} has {arrays} weight arrays; "
                         "the first stage must leave some for the second")


def check_shared_out(path: Path) -> None:
    """``--save-shared``: a file we may write (a shared-weights file of ours, or none yet)."""
    if path.is_dir() or not path.parent.is_dir():
        raise ValueError(f"--save-shared {path}: not a file name in an existing folder")
    if path.exists():
        try:
            load_shared(path)
        except ValueError:
            raise ValueError(f"--save-shared {path} exists and is not a shared-weights file; "
                             "refusing to overwrite it") from None


def compression_settings(args, graph) -> dict:
    """What the compression was asked to do, for the bundle's source record."""
    keys = [k for k, _ in weight_params(graph)]
    bits = {k: args.bits for k in keys} | parse_layer_bits(args.layer_bits, keys)
    return {"bits": bits, "prune": args.prune, "equalize": args.equalize, "finetune": asdict(finetuning(args))}


def finetuning(args) -> Finetuning:
    return Finetuning(args.finetune_epochs, args.finetune_images, args.finetune_mode == "weights", args.distill,
                      args.seed, args.first_layers)


def _shared_from_file(args, graph, sha: str):
    return shared_from_file(args.shared, graph, {"checkpoint_sha256": sha},
                            f"checkpoint {args.checkpoint} (network {args.net})")


def shared_from_file(path: Path, graph, made_from: dict, what: str):
    """(shared, biases, compression settings) of a ``--save-shared`` file,
    refused in one line unless it was made from ``made_from`` (the items
    its meta must hold) and has the graph's weight arrays."""
    shared, biases, meta = load_shared(path)
    keys = sorted(k for k, _ in weight_params(graph))
    if any(meta.get(k) != v for k, v in made_from.items()) or sorted(shared) != keys:
        raise ValueError(f"--shared {path} was not made from {what}")
    return shared, biases, meta["compression"]


def run_compress(args) -> int:
    _check_options(args)
    spec = network_spec(args.net)
    model = load_model(args.checkpoint, spec)
    graph = fgraph.extract(model)
    if args.equalize:
        graph = equalize(graph)
    check_first_layers(args, graph, spec.name)
    sha = file_sha256(args.checkpoint)
    calib = calibration_images(args.calibration_images)
    if args.shared is not None:
        shared, biases, settings = _shared_from_file(args, graph, sha)
        print(f"shared weights from {args.shared}", file=sys.stderr)
    else:
        settings = compression_settings(args, graph)
        print(f"clustering {len(settings['bits'])} weight arrays "
              f"({args.bits}-bit codebooks, {args.prune:.0%} pruned)", file=sys.stderr, flush=True)
        shared, biases = cluster(graph, settings["bits"], args.prune, finetuning(args), teacher=model)
        if args.save_shared is not None and biases is not None:
            save_shared(args.save_shared, shared, biases, {"checkpoint_sha256": sha, "network": spec.name,
                                                           "compression": settings})
            print(f"wrote {args.save_shared}", file=sys.stderr)
    print(f"calibrating on {len(calib)} training images", file=sys.stderr, flush=True)
    source = source_record(spec, args.checkpoint, CALIBRATION_CHOICE | {"images": len(calib)})
    try:
        bundle = codebook_bundle(graph, shared, biases, calib, spec.name,
                                 meta={"classes": list(spec.classes), "source": source | {"compression": settings}},
                                 m_bits=args.multiplier_bits)
    except KeyboardInterrupt:
        if args.save_shared is not None and args.shared is None and biases is not None:
            raise Interrupted(f"the fine-tuned values are kept in {args.save_shared} (--shared makes the "
                              "bundle from them); no bundle written") from None
        raise
    bundle.save(args.out)
    print(f"wrote {args.out}: {bundle.index_bits()} index bits, {bundle.codebook_bits()} codebook bits")
    return 0


def parser() -> ArgumentParser:
    ap = ArgumentParser(prog="python -m golden.compress", description=__doc__.splitlines()[0])
    ap.add_argument("--net", help=f"network by name: {', '.join(NETWORKS)} (default {REFERENCE_NET})")
    ap.add_argument("--checkpoint", type=Path, help="float state_dict (python -m golden.train; with --model: "
                                                    "your model's)")
    ap.add_argument("--bits", help=f"codebook index bits for every weight array, {MIN_SHARE_BITS}..{MAX_BITS}")
    ap.add_argument("--layer-bits", action="append", default=[], metavar="KEY=B",
                    help="bits for one weight array, e.g. conv1/weight=4 (repeatable)")
    ap.add_argument("--prune", type=float, default=0.0, help="fraction of each layer's weights pruned (default 0)")
    ap.add_argument("--finetune-epochs", type=int, default=0,
                    help="epochs of fine-tuning of the shared values (default 0: clustering alone)")
    ap.add_argument("--finetune-images", type=int, default=None,
                    help="fine-tune on the first N training images only (default all: fashion-mnist/train's "
                         "60 000, or --data's)")
    ap.add_argument("--finetune-mode", choices=("weights", "centroids"), default="weights",
                    help="weights (default): the weights train too, through the rounding to their nearest "
                         "shared value, and may change cluster; centroids: Deep Compression's fine-tuning, "
                         "indices fixed, only the shared values (and biases, scales) train")
    ap.add_argument("--distill", action=argparse.BooleanOptionalAction, default=True,
                    help="fine-tune towards the float network's outputs too (default on)")
    ap.add_argument("--first-layers", type=int, default=0, metavar="N",
                    help="fine-tune in two stages: the first N weight arrays (network order) alone, the others "
                         "at 8 bits, then all (--finetune-epochs each; default 0: one stage)")
    ap.add_argument("--equalize", action=argparse.BooleanOptionalAction, default=False,
                    help="balance the input columns of each squeeze's expands and of the conv after a conv "
                         "before clustering (cross-layer equalisation; the float function is unchanged)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    ap.add_argument("--calibration-images", type=int, default=None,
                    help=f"training images that set the activation scales, a seeded choice (default "
                         f"{CALIBRATION_IMAGES}, or all of a smaller --data set)")
    ap.add_argument("--multiplier-bits", type=int, default=16,
                    help="width of the requantisation multipliers, 8..16 (default 16; the reference: 12)")
    ap.add_argument("--out", type=Path, help="bundle to write")
    ap.add_argument("--save-shared", type=Path, help="also write the fine-tuned float values (.npz)")
    ap.add_argument("--shared", type=Path, help="make the bundle from a --save-shared file (no clustering)")
    ap.add_argument("--report", action="store_true", help="print the size (and accuracy) report instead")
    ap.add_argument("--report-nets", default=None,
                    help=f"networks of the size table (random init), comma-separated (default {REPORT_NETS}; "
                         "with --model/--onnx none: your network's table)")
    ap.add_argument("--report-bits", default="8,6,4,3", help="codebook sizes of the report")
    ap.add_argument("--report-prune", type=float, default=0.33,
                    help="pruned fraction of the report's pruned and codebook stages (paper: 0.33)")
    ap.add_argument("--images", type=int, default=None,
                    help="test images for the top-1 (default: the report's 10 000 Fashion-MNIST test images; "
                         "with --model/--onnx all the held-out ones)")
    ap.add_argument("--bundle", type=Path, action="append", default=[],
                    help="a compressed bundle to add to the report's accuracy table (repeatable)")
    compress_user.add_arguments(ap)
    return ap


def family_defaults(args) -> None:
    """The project's own networks: what the options left unset mean, and
    the options that are only for an imported model refused."""
    for flag, value in compress_user.own_data_options(args):
        if value is not None:
            raise ValueError(f"{flag} goes with --model or --onnx (your own model); the project's networks "
                             "train on fashion-mnist")
    args.net = args.net or REFERENCE_NET
    args.calibration_images = CALIBRATION_IMAGES if args.calibration_images is None else args.calibration_images
    args.report_nets = REPORT_NETS if args.report_nets is None else args.report_nets
    args.images = REPORT_IMAGES if args.images is None else args.images


@command_main
def main(argv=None) -> int:
    args = parser().parse_args(argv)
    torch.set_num_threads(check_count(args.threads, "--threads", 1, MAX_THREADS))
    t0 = time.time()
    try:
        if args.model is not None or args.onnx is not None:
            code = compress_user.run(args)
        else:
            family_defaults(args)
            if args.report:
                from golden.compression_report import run_report
                code = run_report(args)
            else:
                code = run_compress(args)
    except (FileNotFoundError, ValueError) as e:      # data.DatasetMissing and BundleError included
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"done in {time.time() - t0:.0f} s", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
