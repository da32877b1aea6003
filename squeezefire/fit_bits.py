"""Choose per-layer codebook bits so that a network fits a board
(``docs/compression.md``, "Bits for a board").

    python -m squeezefire.fit_bits --board BOARD (--net NAME --checkpoint FILE |
                                   --model FILE.py:FUNC [--checkpoint CK.pt] | --onnx FILE) [--bits B]
                                   [every other golden.compress option] [--out FILE.bundle]

Takes ``golden.compress``'s options (the same model, data, pruning,
equalisation and fine-tuning) plus ``--board``.  It lives in the
orchestration layer because the fit model is ``rtl_gen``'s and the boards
are ``fpga``'s, neither of which ``golden`` may import
(``tests/test_layering.py``); so it is not a ``golden.compress`` flag.

The search, on codebooks made by k-means alone (no fine-tuning) and a few
calibration images (``SEARCH_CALIBRATION``: enough for the shapes and
widths the fit model reads):

1. every layer at the fewest bits (``MIN_SHARE_BITS``): an architecture
   that does not fit then never will (the fit model's memories and tables
   only shrink with fewer bits), so it is left out of the search; if none
   fits, the command refuses in one line naming each one's resources;
2. from ``--bits`` (default 8) everywhere (``--layer-bits`` for single
   arrays), while no architecture fits by its fit model (``assess_arch``:
   what ``--arch auto`` chooses among), the weight array with the most
   weight bits (weights x bits) loses one bit;
3. once it fits, each lowered array, smallest first, gets its bits back one
   at a time while it still fits (an array that needs no saving keeps them).

Pruning stays what ``--prune`` says: the engine and the pipeline store
every index densely, so a pruned weight saves no memory by the fit model
and pruning cannot pay for the fit.  Then the chosen bits are made once
for real -- fine-tuned (``--finetune-epochs``), calibrated as
``golden.compress`` does -- and the table printed: per array its bits and
weight bits, the fit model's LUT and block RAM figures against the board's,
and the measured top-1 on held-out images.  ``--out`` writes that bundle.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fpga.boards import Board, get_board
from golden.bad_input import BadInput
from golden.codebook import MAX_BITS
from golden.codebook_bundle import codebook_bundle
from golden.command import command_main
from golden.weight_sharing import (MIN_SHARE_BITS, SharedWeights, is_logits, normalise, share_weights,
                                   weight_params)
from rtl_gen.fit import FitError
from squeezefire.architectures import (ARCHITECTURES, DEFAULT_OPTIONS, ArchAssessment, ArchOptions, assess_arch,
                                       choose_arch, network_architectures)

__all__ = ["SEARCH_CALIBRATION", "FitSearch", "BitsChoice", "greedy_bits", "choose_bits", "FitRefused", "main"]

SEARCH_CALIBRATION = 16     # calibration images of the search's bundles (the final one: golden.compress's count)


class FitRefused(BadInput):
    """Even the fewest bits do not fit the board (one line, exit 2)."""


@dataclass
class FitSearch:
    """Makes the bundle of a bits choice (k-means alone, each array
    clustered once per width) and asks the fit model of the architectures
    still in the running whether it fits ``board``."""
    graph: list[dict]
    calib: np.ndarray
    board: Board
    name: str = "fit"
    prune: float = 0.0
    m_bits: int = 16
    archs: tuple[str, ...] = ()
    options: ArchOptions = DEFAULT_OPTIONS      # --lanes: only the architectures that take lanes
    checks: int = 0

    def __post_init__(self):
        self._params = dict(weight_params(self.graph))
        self._cache: dict[tuple[str, int], SharedWeights] = {}
        self.archs = self.archs or tuple(n for n in network_architectures()
                                         if self.options.lanes is None or ARCHITECTURES[n].takes_lanes)

    @property
    def sizes(self) -> dict[str, int]:
        return {k: int(p["weight"].size) for k, p in self._params.items()}

    def _shared(self, key: str, bits: int) -> SharedWeights:
        if (key, bits) not in self._cache:
            p = self._params[key]
            s = share_weights(p["weight"], bits, self.prune, is_logits(p))
            self._cache[key, bits] = s.reassigned(normalise(p["weight"], is_logits(p))[0])
        return self._cache[key, bits]

    def bundle(self, bits: dict[str, int]):
        shared = {k: self._shared(k, b) for k, b in bits.items()}
        return codebook_bundle(self.graph, shared, None, self.calib, self.name, m_bits=self.m_bits)

    def assess(self, bits: dict[str, int]) -> list[ArchAssessment]:
        self.checks += 1
        bundle = self.bundle(bits)
        out = []
        for name in self.archs:
            a = assess_arch(bundle, self.board, name, self.options)
            out.append(a)
            if a.fits:                      # one that fits is enough: auto chooses among those that fit
                break
        return out

    def fits(self, bits: dict[str, int]) -> bool:
        return any(a.fits for a in self.assess(bits))

    def narrow(self) -> None:
        """Leave out the architectures that do not fit at the fewest bits;
        FitRefused when none does."""
        fewest = {k: MIN_SHARE_BITS for k in self._params}
        bundle = self.bundle(fewest)
        found = [assess_arch(bundle, self.board, name, self.options) for name in self.archs]
        if not any(a.fits for a in found):
            why = "; ".join(f"{a.arch}: {a.refusal}" for a in found)
            raise FitRefused(f"no bits fit {self.board.key} ({self.board.title}): at {MIN_SHARE_BITS} bits "
                             f"everywhere, {prune_text(self.prune)}, {why} (fit model)")
        self.archs = tuple(a.arch for a in found if a.fits)


def prune_text(prune: float) -> str:
    return f"{prune:.0%} pruned" if prune else "no pruning"


@dataclass(frozen=True)
class BitsChoice:
    """The bits chosen per weight array (network order), the start, and
    the fit checks the search took."""
    bits: dict[str, int]
    start: dict[str, int]
    checks: int


def greedy_bits(sizes: dict[str, int], start: dict[str, int], fits: Callable[[dict[str, int]], bool],
                fewest: int = MIN_SHARE_BITS) -> dict[str, int]:
    """Steps 2 and 3 of the search on any ``fits``: lower the array with
    the most weight bits (ties: the earlier) one bit until ``fits``, then
    give the lowered arrays, smallest first, their bits back one at a time
    while it still fits.  ``fits`` must hold at ``fewest`` everywhere."""
    bits = dict(start)
    while not fits(bits):
        lowerable = [k for k in bits if bits[k] > fewest]
        if not lowerable:
            raise FitRefused(f"nothing fits, not even {fewest} bits everywhere (fit model)")
        worst = max(lowerable, key=lambda k: sizes[k] * bits[k])
        bits[worst] -= 1
    for key in sorted((k for k in bits if bits[k] < start[k]), key=lambda k: (sizes[k], k)):
        while bits[key] < start[key]:
            trial = bits | {key: bits[key] + 1}
            if not fits(trial):
                break
            bits = trial
    return bits


def choose_bits(search: FitSearch, start: dict[str, int]) -> BitsChoice:
    """The whole search (``narrow``, then ``greedy_bits`` on the fit model)."""
    search.narrow()
    bits = greedy_bits(search.sizes, start, search.fits)
    return BitsChoice(bits, start, search.checks)


# ---------------------------------------------------------------- the command

def parser():
    from golden.compress import parser as compress_parser
    ap = compress_parser()
    ap.prog = "python -m squeezefire.fit_bits"
    ap.description = __doc__.splitlines()[0]
    ap.add_argument("--board", help="the board to fit: " + ", ".join(_board_keys()))
    ap.add_argument("--lanes", type=int, help="the Fire engine's MAC lanes (default: its own); the search then "
                                              "considers only the architectures that have lanes")
    return ap


def _board_keys() -> list[str]:
    from fpga.boards import BOARDS
    return list(BOARDS)


@dataclass(frozen=True)
class Source:
    """The float graph to compress and the images of each role."""
    graph: list[dict]
    name: str
    calib: np.ndarray               # golden.compress's calibration images
    teacher: object                 # the float network (nn.Module), for distillation and the float top-1
    train: tuple | None             # fine-tuning (images, labels); None: fashion-mnist/train
    test: tuple | None              # held-out (images, labels); None: no labels
    test_how: str
    classes: list | None


def _check_args(args) -> Board:
    from golden import compress
    if args.board is None:
        raise BadInput("--board is missing: the board to fit (" + ", ".join(_board_keys()) + ")")
    board = get_board(args.board)
    args.arch_options = ArchOptions(args.lanes)
    for flag, value in (("--report", args.report), ("--shared", args.shared), ("--save-shared", args.save_shared)):
        if value:
            raise BadInput(f"{flag} does not go with --board: the bits are chosen by clustering")
    if args.bits is None:
        args.bits = str(MAX_BITS)
    compress.check_common_options(args)
    if args.out is not None:
        from golden.quantize import check_bundle_out
        check_bundle_out(args.out)
    return board


def _family_source(args) -> Source:
    from golden import compress, data
    from golden import graph as fgraph
    from golden.models import network_spec
    from golden.quantize import calibration_images, load_model
    compress.family_defaults(args)
    if args.checkpoint is None:
        raise BadInput(f"--net {args.net} needs --checkpoint (its float state_dict, python -m golden.train)")
    if not 1 <= args.images <= 10000:
        raise BadInput(f"--images must be from 1 to 10000, got {args.images}")
    spec = network_spec(args.net)
    model = load_model(args.checkpoint, spec)
    graph = fgraph.extract(model)
    images, labels = data.load("test")
    return Source(graph, spec.name, calibration_images(args.calibration_images), model, None,
                  (images[:args.images], labels[:args.images]),
                  f"the first {args.images} of Fashion-MNIST's test split", list(spec.classes))


def _user_source(args) -> Source:
    from golden import compress_user, quantize_user
    from golden.graph import GraphModule
    p = compress_user.prepare(args)
    calib = p.train.chosen(quantize_user.calibration_count(args, p.train)).fitted(p.shape.hwc).images
    train = None
    if args.finetune_epochs:
        chosen = p.train if args.finetune_images is None else p.train.subset(np.arange(args.finetune_images))
        fitted = chosen.fitted(p.shape.hwc)
        train = (fitted.images, fitted.labels)
    test = None
    if p.held_out.labels is not None:
        held = compress_user.held_out_images(args, p)
        test = (held.images, held.labels)
    name = args.name or (args.out.stem if args.out else "your-model")
    return Source(p.graph, name, calib, GraphModule(p.graph), train, test, p.held_out_how,
                  list(p.train.classes) if p.train.classes else None)


def _start(args, graph) -> dict[str, int]:
    from golden.compress import parse_layer_bits
    keys = [k for k, _ in weight_params(graph)]
    return {k: int(args.bits) for k in keys} | parse_layer_bits(args.layer_bits, keys)


def _final(args, src: Source, graph, bits: dict[str, int]):
    from golden import compress
    shared, biases = compress.cluster(graph, bits, args.prune, compress.finetuning(args), teacher=src.teacher,
                                      train=src.train)
    meta = {"source": {"compression": {"bits": bits, "prune": args.prune, "equalize": args.equalize,
                                       "fit_board": args.board}}}
    if src.classes:
        meta["classes"] = src.classes
    return codebook_bundle(graph, shared, biases, src.calib, src.name, meta=meta, m_bits=args.multiplier_bits)


def format_choice(choice: BitsChoice, sizes: dict[str, int], a: ArchAssessment, board: Board) -> str:
    width = max(len(k) for k in sizes) + 2
    lines = [f"{'weight array':<{width}}{'weights':>9}{'bits':>6}{'weight bits':>13}{'(from)':>8}"]
    for key, b in choice.bits.items():
        lines.append(f"{key:<{width}}{sizes[key]:>9}{b:>6}{sizes[key] * b:>13}{choice.start[key]:>8}")
    total = sum(sizes[k] * b for k, b in choice.bits.items())
    lines.append(f"{'all':<{width}}{sum(sizes.values()):>9}{'':>6}{total:>13}")
    d, e = board.device, a.est
    lines.append(f"on {board.key} ({board.title}), --arch auto's choice by the fit model: {a.arch}")
    for label, need, have in (("LUT", e.lut, d.lut), ("DSP", e.dsp, d.dsp),
                              ("block RAM blocks", e.bram_blocks, d.bram_blocks),
                              ("block RAM bits", e.bram_bits, d.bram_bits), ("SPRAM bits", e.spram_bits, d.spram_bits)):
        lines.append(f"  {label + ' (model)':<26}{need:>10} of {have}")
    return "\n".join(lines)


def _print_accuracy(src: Source, graph, bundle) -> None:
    from golden.compression_report import top1
    from golden.train import evaluate
    if src.test is None:
        print(f"no accuracy: the held-out images ({src.test_how}) have no labels")
        return
    images, labels = src.test
    print(f"top-1 on {len(images)} held-out images ({src.test_how}), measured:", flush=True)
    print(f"  {'float':<34}{evaluate(src.teacher, images, labels):.4f}", flush=True)
    print(f"  {'chosen bits (golden.intref)':<34}{top1(bundle, images, labels):.4f}", flush=True)


def _zeros(bundle, lanes: int | None) -> None:
    from rtl_gen.engine.program import DEFAULT_LANES
    from squeezefire.zero_taps import format_zeros, zero_taps
    print("zero weights per engine pass (squeezefire.zero_taps):")
    print(format_zeros(zero_taps(bundle, lanes or DEFAULT_LANES)))


def run(args) -> int:
    from golden.equalize import equalize
    board = _check_args(args)
    user = args.model is not None or args.onnx is not None
    src = _user_source(args) if user else _family_source(args)
    graph = equalize(src.graph) if args.equalize else src.graph
    start = _start(args, graph)
    search = FitSearch(graph, src.calib[:SEARCH_CALIBRATION], board, src.name, args.prune, args.multiplier_bits,
                       options=args.arch_options)
    print(f"choosing bits for {board.key}: {len(start)} weight arrays, {prune_text(args.prune)}, "
          f"architectures {', '.join(search.archs)}", file=sys.stderr, flush=True)
    choice = choose_bits(search, start)
    print(f"chosen after {choice.checks} fit checks (fit model); making it "
          f"({args.finetune_epochs} fine-tuning epochs, {len(src.calib)} calibration images)",
          file=sys.stderr, flush=True)
    bundle = _final(args, src, graph, choice.bits)
    try:
        arch, _ = choose_arch(bundle, board, args.arch_options)
    except FitError as e:
        raise FitRefused(f"the chosen bits, fine-tuned and calibrated, do not fit {board.key}: {e} (fit model)") from None
    print(format_choice(choice, search.sizes, assess_arch(bundle, board, arch, args.arch_options), board))
    if args.out is not None:
        bundle.save(args.out)
        print(f"wrote {args.out}: {bundle.index_bits()} index bits, {bundle.codebook_bits()} codebook bits")
    if args.prune:
        _zeros(bundle, args.lanes)
    _print_accuracy(src, graph, bundle)
    return 0


@command_main
def main(argv=None) -> int:
    import torch
    from golden.counts import MAX_THREADS, check_count
    args = parser().parse_args(argv)
    torch.set_num_threads(check_count(args.threads, "--threads", 1, MAX_THREADS))
    t0 = time.time()
    try:
        code = run(args)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"done in {time.time() - t0:.0f} s", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
