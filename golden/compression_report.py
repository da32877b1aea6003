"""``python -m golden.compress --report``: Deep Compression stage by stage,
like the SqueezeNet paper's table 2 — sizes for SqueezeNet v1.0 / v1.1 and
the family's networks, then sizes and Fashion-MNIST top-1 of a trained
network (``docs/compression.md``)."""
from __future__ import annotations

import sys

import numpy as np
import torch

from golden import data, intref
from golden import graph as fgraph
from golden.bundle import Bundle
from golden.codebook_bundle import check_bits, codebook_bundle
from golden.graph_copy import copy_graph
from golden.model_size import (StageSize, codebook_size, float32_size, huffman_size, int8_size, pruned_size)
from golden.models import NETWORKS, SqueezeNet, network_spec, squeezenet_v1_0, squeezenet_v1_1
from golden.quantize import calibration_images, load_model, quantize
from golden.train import evaluate
from golden.weight_sharing import is_logits, normalise, plain_shared, prune_mask, share_graph, weight_params

IMAGENET_NETS = {"squeezenet-v1.0": squeezenet_v1_0, "squeezenet-v1.1": squeezenet_v1_1}

PREAMBLE = """\
Deep Compression stage by stage (SqueezeNet paper, table 2), counted by golden.model_size.
No pretrained ImageNet weights exist offline: the SqueezeNet rows use PyTorch's random
initialisation (seed {seed}), so their cluster and Huffman statistics are those of random init.
weights: values or codebook indices; tables: codebooks, sparse relative indices (4 bits per
stored weight, zero fillers for longer gaps) or Huffman code lengths; biases+M: float32
biases, from int8 on int32 biases and uint16 multipliers (shifts not counted).
Codebook stages: {prune:.0%} pruned, then 1-D k-means in the int8 domain; dense indices as
the hardware stores them. Huffman: entropy-optimal code lengths from each layer's index
histogram, computed, not implemented in hardware. B = byte, KB = 1024 B, MB = 2**20 B.
"""


def human(bits: int) -> str:
    size = bits / 8
    if size >= 2**20:
        return f"{size / 2**20:.2f} MB"
    return f"{size / 1024:.1f} KB" if size >= 1024 else f"{size:.0f} B"


def size_stages(graph: list[dict], bits_list: list[int], prune: float) -> list[StageSize]:
    stages = [float32_size(graph), int8_size(graph)]
    if prune:
        stages.append(pruned_size(graph, prune))
    for bits in bits_list:
        shared = plain_shared(graph, share_graph(graph, bits, prune))
        stages += [codebook_size(graph, shared, f"codebook {bits}-bit"),
                   huffman_size(graph, shared, f"codebook {bits}-bit + Huffman")]
    return stages


def format_table(title: str, stages: list[StageSize], top1: list[float] | None = None) -> str:
    base = stages[0].total_bits
    head = f"{'stage':<30}{'weights':>11}{'tables':>11}{'biases+M':>11}{'total':>11}{'vs float32':>12}"
    lines = [title, head + (f"{'top-1':>9}" if top1 else "")]
    for i, s in enumerate(stages):
        row = (f"{s.stage:<30}{human(s.weight_bits):>11}{human(s.table_bits) if s.table_bits else '-':>11}"
               f"{human(s.other_bits):>11}{human(s.total_bits):>11}{base / s.total_bits:>11.1f}x")
        lines.append(row + (f"{top1[i]:>9.4f}" if top1 else ""))
    return "\n".join(lines)


def random_graph(name: str, seed: int) -> list[dict]:
    spec = IMAGENET_NETS[name]() if name in IMAGENET_NETS else network_spec(name)
    torch.manual_seed(seed)
    return fgraph.extract(SqueezeNet(spec).eval())


def size_report(names: list[str], bits_list: list[int], prune: float, seed: int) -> str:
    out = []
    for name in names:
        graph = random_graph(name, seed)
        params = sum(p["weight"].size + p["bias"].size for _, p in weight_params(graph))
        print(f"report: {name}", file=sys.stderr, flush=True)
        out.append(format_table(f"{name}, random init, {params:,} parameters (BatchNorm folded)".replace(",", " "),
                                size_stages(graph, bits_list, prune)))
    return "\n\n".join(out)


def pruned_graph(graph: list[dict], fraction: float) -> list[dict]:
    """A copy of the graph with each layer's smallest weights set to 0."""
    out = copy_graph(graph)
    for _, p in weight_params(out):
        p["weight"] = np.where(prune_mask(normalise(p["weight"], is_logits(p))[0], fraction), 0.0, p["weight"])
    return out


def top1(bundle: Bundle, images: np.ndarray, labels: np.ndarray) -> float:
    return float((intref.classify(bundle, images)[1] == labels).mean())


def _bundle_size(bundle: Bundle, label: str) -> StageSize:
    return StageSize(label, bundle.index_bits() + bundle.uncoded_weight_bits(), bundle.codebook_bits(),
                     bundle.bias_and_multiplier_bits())


def trained_rows(args, graph, model, name: str, calib, images, labels) -> tuple[list[StageSize], list[float]]:
    """Sizes and int8 top-1 of every stage (clustering without
    fine-tuning), then of each ``--bundle``; ``model``: the float network
    (an ``nn.Module`` on float NCHW images in [0, 1])."""
    sizes, accs = [float32_size(graph)], [evaluate(model, images, labels)]
    print("report: int8", file=sys.stderr, flush=True)
    sizes.append(int8_size(graph))
    accs.append(top1(quantize(graph, calib, name), images, labels))
    if args.report_prune:
        sizes.append(pruned_size(graph, args.report_prune))
        accs.append(top1(quantize(pruned_graph(graph, args.report_prune), calib, name), images, labels))
    for bits in report_bits(args):
        print(f"report: codebook {bits}-bit", file=sys.stderr, flush=True)
        shared = plain_shared(graph, share_graph(graph, bits, args.report_prune))
        sizes.append(codebook_size(graph, shared, f"codebook {bits}-bit"))
        accs.append(top1(codebook_bundle(graph, shared, None, calib, name), images, labels))
    for path in args.bundle:
        bundle = Bundle.load(path)
        sizes.append(_bundle_size(bundle, path.name[:30]))
        accs.append(top1(bundle, images, labels))
    return sizes, accs


def report_bits(args) -> list[int]:
    return [check_bits(b, "--report-bits") for b in str(args.report_bits).split(",")]


def check_report_options(args, nets: str) -> list[str]:
    """The report's options that do not depend on the network (``nets``:
    the size table's, comma-separated); the names of those networks."""
    names = [n for n in nets.split(",") if n]
    for name in names:
        if name not in IMAGENET_NETS and name not in NETWORKS:
            raise ValueError(f"--report-nets: unknown network {name!r}; known: "
                             f"{', '.join([*IMAGENET_NETS, *NETWORKS])}")
    report_bits(args)
    if not 0 <= args.report_prune < 1:
        raise ValueError(f"--report-prune must be a fraction in [0, 1), got {args.report_prune}")
    for path in args.bundle:
        Bundle.load(path)
    return names


def _check_report(args) -> list[str]:
    names = check_report_options(args, args.report_nets)
    if not 1 <= args.images <= 10000:
        raise ValueError(f"--images must be from 1 to 10000, got {args.images}")
    return names


def run_report(args) -> int:
    names = _check_report(args)
    trained = None
    if args.checkpoint is not None:
        model = load_model(args.checkpoint, network_spec(args.net))
        images, labels = data.load("test")
        trained = (model, calibration_images(args.calibration_images), images[:args.images], labels[:args.images])
    print(PREAMBLE.format(seed=args.seed, prune=args.report_prune))
    if names:
        print(size_report(names, report_bits(args), args.report_prune, args.seed) + "\n", flush=True)
    if trained:
        model, calib, images, labels = trained
        graph = fgraph.extract(model)
        sizes, accs = trained_rows(args, graph, model, model.spec.name, calib, images, labels)
        print(format_table(f"{args.net}, trained ({args.checkpoint}), Fashion-MNIST test top-1 on "
                           f"{len(images)} images: float, then int8 by golden.intref; codebook stages "
                           "without fine-tuning", sizes, accs))
    return 0
