"""Chip (simulated) vs integer golden vs float model, on real images.

    python golden/compare.py [--bundle FILE] [--checkpoint FILE] [--data fashion-mnist | IMAGES.npy --labels LABELS.npy]
                             [--images N] [--arch pipeline|engine|auto] [--board BOARD] [--lanes N]
                             [--json FILE] [--dump DIR]

Evaluates the float model the bundle was made from and the int8 integer
reference (``golden.intref``) on every image of the data (default: the
Fashion-MNIST test set), runs the first N images through the accelerator
generated from the bundle as the build makes it for ``--board`` (``--arch``,
of ``squeezefire.architectures``: the per-layer pipeline ``rtl_gen.pipeline``
or the Fire engine ``rtl_gen.engine``) in a cocotb + Verilator simulation,
and prints a table.  The float model is rebuilt from the
network spec the bundle records and loaded from ``--checkpoint`` only when
its SHA-256 is the one the bundle records; without ``--checkpoint`` the
reference checkpoint is used if it matches, else the float columns are
skipped with a notice.  Exits 1 when any RTL output differs from golden in
any value, 2 on bad input or a missing simulator.
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from fpga.boards import BOARDS, Board, get_board
from golden import atomic, datasets, intref
from golden.bundle import Bundle, BundleError
from golden.command import ArgumentParser, command_main
from golden.counts import check_count
from golden.writable import check_file_out
from golden.quantize import REFERENCE_BUNDLE, REFERENCE_CHECKPOINT, file_sha256, load_model
from squeezefire.architectures import (ARCHITECTURES, AUTO, DEFAULT_OPTIONS, ArchOptions, check_options, choose_arch,
                                       make_accelerator, network_architectures)
from squeezefire.cli import prog_name
from squeezefire.measured import SimulatedCycles, now, remember
from squeezefire.safe_output import OutputError, check_output_dir, staged_output_dir
from squeezefire.sim_time import check_run_time, duration

DUMP_MARKER = ".squeezefire-compare-dump"
DEFAULT_RTL_IMAGES = 20
DEFAULT_BOARD = "ice40"     # the iCEBreaker: the project's first board


class CompareError(ValueError):
    """Bad input: one line, exit 2."""


@dataclass(frozen=True)
class ImageSet:
    name: str
    images: np.ndarray
    labels: np.ndarray


def read_images(spec: str, labels: Path | None, bundle: Bundle) -> datasets.RawSet:
    """``fashion-mnist`` (its test split), a folder in the ImageFolder
    layout or a ``.npy`` of uint8 images with ``labels``, as read (not yet
    fitted), checked against the bundle's classes."""
    if spec not in ("fashion-mnist",) and Path(spec).suffix == ".npy" and labels is None:
        raise CompareError(f"--data {spec} needs --labels LABELS.npy")
    raw = datasets.read(spec, labels)
    classes, lab = bundle.output.shape.c, raw.labels
    if len(lab) and int(lab.max()) >= classes:
        raise CompareError(f"{raw.name}: label {int(lab.max())} but bundle {bundle.name!r} has {classes} classes")
    if raw.classes and bundle.classes and list(raw.classes) != list(bundle.classes):
        raise CompareError(f"{raw.name}: class folders {list(raw.classes)} differ from the bundle's "
                           f"classes {list(bundle.classes)}")
    return raw


def float_model(bundle: Bundle, bundle_path: Path, checkpoint: Path | None, user: tuple = (None, None)):
    """(model or None, notice or None): the float network of ``bundle``
    when the checkpoint is the one it records; ``user`` = (--model, --onnx)
    for a bundle made from the user's own network."""
    from golden.models import spec_from_json
    source = bundle.graph.get("source") or {}
    given = [f"{option} {value}" for option, value in zip(("--model", "--onnx"), user) if value is not None]
    if given and "user_model" not in source:
        raise CompareError(f"{given[0]}: bundle {bundle_path} was not made from a model file "
                           "(python -m golden.quantize --model/--onnx); its float model comes from --checkpoint")
    if "user_model" in source:
        from squeezefire.user_float import user_float_model
        return user_float_model(source["user_model"], bundle.input.shape, *user, checkpoint)
    recorded = source.get("checkpoint_sha256")
    if recorded is None or "network" not in source:
        if checkpoint is not None:
            raise CompareError(f"bundle {bundle_path} records no float checkpoint, so --checkpoint {checkpoint} "
                               "cannot be checked against it (re-make it with python -m golden.quantize)")
        return None, f"float columns skipped: bundle {bundle_path} records no float checkpoint"
    if checkpoint is None:
        if REFERENCE_CHECKPOINT.is_file() and file_sha256(REFERENCE_CHECKPOINT) == recorded:
            checkpoint = REFERENCE_CHECKPOINT
        else:
            return None, (f"float columns skipped: bundle {bundle_path} was made from checkpoint sha256 "
                          f"{recorded[:16]}...; pass it with --checkpoint")
    elif not checkpoint.is_file():
        raise CompareError(f"checkpoint {checkpoint} not found")
    else:
        actual = file_sha256(checkpoint)
        if actual != recorded:
            raise CompareError(f"checkpoint {checkpoint} (sha256 {actual[:16]}...) is not the one bundle "
                               f"{bundle_path} was made from (sha256 {recorded[:16]}...)")
    return load_model(checkpoint, spec_from_json(source["network"])), None


def float_predictions(model, images: np.ndarray, batch: int = 1000) -> np.ndarray:
    import torch
    from golden.train import to_float
    with torch.no_grad():
        return np.concatenate([model(to_float(images[i:i + batch])).argmax(1).numpy()
                               for i in range(0, len(images), batch)])


@dataclass(frozen=True)
class GoldenResult:
    """The float model and the integer reference on every image (the float
    figures None without a matching checkpoint)."""
    network: str
    fire_layers: int
    weight_index_bits: int
    codebook_bits: int
    dataset: str
    images_golden: int
    float_top1: float | None
    int8_top1: float
    float_int8_agreement: float | None
    seconds: dict


@dataclass(frozen=True, eq=False)
class RtlResult:
    """The simulated accelerator on the first images: its class sums and
    argmax (``sums``, ``classes``: not in the JSON), the images whose sums
    differ from golden, the cycles (simulated, the model's) and the MACs."""
    sums: np.ndarray
    classes: np.ndarray
    rtl_mismatches: int
    cycles_per_image: int | None        # steady state: the largest after the first image
    cycles_per_image_model: int
    first_image_cycles: int | None
    arch: str
    design: str
    measured_key: str
    mac_lanes: int
    macs_per_image: int
    mac_utilisation: float | None
    seconds: dict


@dataclass(frozen=True)
class CompareResult:
    """What ``golden/compare.py`` found; ``to_json()`` is its ``--json``
    file (the keys as documented in the README).  ``rtl`` None: no image
    was simulated."""
    golden: GoldenResult
    rtl: RtlResult | None = None
    rtl_top1: float | None = None
    rtl_golden_class_agreement: float | None = None

    @property
    def images_rtl(self) -> int:
        return 0 if self.rtl is None else len(self.rtl.classes)

    def to_json(self) -> dict:
        out = {k: v for k, v in asdict(self.golden).items()}
        if self.rtl is not None:
            rtl = {f.name: getattr(self.rtl, f.name) for f in fields(self.rtl) if f.name not in ("sums", "classes")}
            out.update(images_rtl=self.images_rtl, rtl_top1=self.rtl_top1,
                       rtl_golden_class_agreement=self.rtl_golden_class_agreement,
                       **{k: v for k, v in rtl.items() if k != "seconds"})
            out["seconds"] = {**out["seconds"], **self.rtl.seconds}
        return out


def evaluate(bundle: Bundle, model, images: ImageSet) -> GoldenResult:
    t0 = time.time()
    pf = float_predictions(model, images.images) if model is not None else None
    t1 = time.time()
    _, pq = intref.classify(bundle, images.images)
    t2 = time.time()
    labels = images.labels
    return GoldenResult(
        network=bundle.name, fire_layers=sum(layer.kind == "fire" for layer in bundle.layers),
        weight_index_bits=bundle.index_bits(), codebook_bits=bundle.codebook_bits(), dataset=images.name,
        images_golden=int(len(labels)),
        float_top1=float(np.mean(pf == labels)) if pf is not None else None,
        int8_top1=float(np.mean(pq == labels)),
        float_int8_agreement=float(np.mean(pf == pq)) if pf is not None else None,
        seconds={"float": round(t1 - t0, 2), "int8": round(t2 - t1, 2)})


@dataclass(frozen=True)
class SimulatedDesign:
    """What the RTL simulation runs: the accelerator of ``arch`` as the build
    makes it for the board, the primitives' models it needs, and the key its
    cycles are remembered under (``squeezefire.measured``, read by the
    build's report)."""
    accelerator: object
    models: tuple[str, ...]
    key: str
    label: str


def simulated_design(bundle: Bundle, arch: str, board: Board, options: ArchOptions = DEFAULT_OPTIONS) -> SimulatedDesign:
    """``arch`` (of ``squeezefire.architectures.ARCHITECTURES``) for ``board``
    with ``options`` (``--lanes``), as the build makes it."""
    a = ARCHITECTURES[arch]
    return SimulatedDesign(make_accelerator(bundle, board, arch, options), a.sim_models(board),
                           a.measured_key(board, options), a.describe(board, options))


def simulate_rtl(bundle: Bundle, images: np.ndarray, golden_sums: np.ndarray, arch: str = "pipeline",
                 board: Board | None = None, design: SimulatedDesign | None = None,
                 options: ArchOptions = DEFAULT_OPTIONS) -> RtlResult:
    """The images through the generated accelerator (``design``, else the
    one of ``arch`` for ``board``, default the iCEBreaker, with ``options``)
    in simulation, with a progress bar (one step per image) and its ETA on
    stderr."""
    from tqdm import tqdm

    from sim.lib.network_sim import run_network
    t0 = time.time()
    design = design or simulated_design(bundle, arch, board or get_board(DEFAULT_BOARD), options)
    net = design.accelerator
    with tqdm(total=len(images), desc="RTL simulation", unit="image", file=sys.stderr) as bar:
        res = run_network(f"compare-{bundle.name}-{design.key}", net, images, models=design.models,
                          progress=lambda done: bar.update(done - bar.n))
    if "sums" not in res["arrays"]:
        raise RuntimeError(f"the simulation produced no output: {res.get('message')}")
    sums, classes = res["arrays"]["sums"], res["arrays"]["argmax"]
    cycles = res["cycles_per_frame"]
    steady = cycles[1:] or cycles
    return RtlResult(
        sums=sums, classes=classes,
        rtl_mismatches=int(sum(not np.array_equal(sums[i], golden_sums[i]) for i in range(len(images)))),
        cycles_per_image=int(max(steady)) if steady else None, cycles_per_image_model=int(net.cycles_per_frame),
        first_image_cycles=int(cycles[0]) if cycles else None,
        arch=arch, design=design.label, measured_key=design.key, mac_lanes=int(net.mac_lanes),
        macs_per_image=int(net.macs_per_frame),
        mac_utilisation=(net.macs_per_frame / (net.mac_lanes * max(steady))) if steady else None,
        seconds={"rtl_build": round(res["build_seconds"], 1), "rtl_sim": round(res["sim_seconds"], 1),
                 "rtl_total": round(time.time() - t0, 1)})


DUMP_README = """# RTL vs golden dump

Written by `python golden/compare.py --dump`.  N = {n} images.

| file | contents |
|---|---|
| `network.bundle` | the quantized network (format: docs/bundle.md of the project) |
| `images.npy` | uint8 (N, H, W, C): the input images, NHWC, raw pixels |
| `rtl_sums.npy` | int32 (N, classes): the simulated accelerator's class sums (int8 contract: sum over H*W of conv10's uint8 output, or of a logits classifier's int32 accumulators: signed) |
| `rtl_classes.npy` | int64 (N,): the accelerator's argmax class |
| `golden_sums.npy` | int32 (N, classes): the same from the integer reference `golden/intref.py` |
| `golden_classes.npy` | int64 (N,): golden argmax, ties to the lowest index |

An independent checker re-runs the bundle on `images.npy` with its own
implementation of docs/int8.md and compares with both, value by value.
"""


def dump(directory: Path, bundle_path: Path, images, rtl_sums, rtl_classes, golden_sums, golden_classes):
    """Write the dump folder atomically (``squeezefire.safe_output``)."""
    with staged_output_dir(directory, DUMP_MARKER, "written by python golden/compare.py --dump\n") as staging:
        tmp = staging.path
        (tmp / "network.bundle").write_bytes(Path(bundle_path).read_bytes())
        np.save(tmp / "images.npy", images)
        np.save(tmp / "rtl_sums.npy", rtl_sums.astype(np.int32))
        np.save(tmp / "rtl_classes.npy", rtl_classes.astype(np.int64))
        np.save(tmp / "golden_sums.npy", golden_sums.astype(np.int32))
        np.save(tmp / "golden_classes.npy", golden_classes.astype(np.int64))
        (tmp / "README.md").write_text(DUMP_README.format(n=len(images)))


def _fmt(value, spec: str) -> str:
    return "n/a (no matching float checkpoint)" if value is None else format(value, spec)


def table(result: CompareResult) -> str:
    g, rtl, n = result.golden, result.rtl, result.images_rtl
    gap = None if g.float_top1 is None else g.float_top1 - g.int8_top1
    rows = [("network", f"{g.network} ({g.fire_layers} Fire modules"
                        + (f"; codebook weights: {g.weight_index_bits} index bits, {g.codebook_bits} table bits)"
                           if g.weight_index_bits else "; int8 weights)")),
            ("dataset", f"{g.dataset} ({g.images_golden} images)"),
            ("float top-1", _fmt(g.float_top1, ".4f")), ("int8 top-1", f"{g.int8_top1:.4f}"),
            ("float - int8", _fmt(gap, "+.4f")),
            ("float/int8 agreement", _fmt(g.float_int8_agreement, ".4f"))]
    if rtl is not None:
        rows += [("RTL top-1", f"{result.rtl_top1:.4f} (first {n} images)"),
                 ("RTL vs golden mismatches", f"{rtl.rtl_mismatches} of {n} images"),
                 ("cycles per image", f"{rtl.cycles_per_image} simulated (steady state; first image "
                                      f"{rtl.first_image_cycles} incl. pipeline fill)"),
                 ("cycles per image (model)", f"{rtl.cycles_per_image_model}"),
                 ("MAC utilisation", f"{rtl.mac_utilisation:.3f} ({rtl.macs_per_image} MACs on {rtl.mac_lanes} "
                                     f"MAC lanes; {rtl.design})")]
    w = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{w}}  {v}" for k, v in rows)


def _check_json_out(path: Path) -> None:
    """--json may replace an earlier result of ours, nothing else."""
    if path.is_dir() or not path.parent.is_dir():
        raise CompareError(f"--json {path}: not a file in an existing folder")
    check_file_out(path, "--json")
    if path.exists():
        try:
            ours = "network" in json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError, TypeError):
            ours = False
        if not ours:
            raise CompareError(f"--json {path} exists and is not a compare result; refusing to overwrite it")


def _write_json(path: Path, result: dict) -> None:
    atomic.write_text(path, json.dumps(result, indent=2) + "\n")


def parse_args(argv):
    ap = ArgumentParser(prog=prog_name("python golden/compare.py"), description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, default=REFERENCE_BUNDLE, help="quantized network (default: the reference)")
    ap.add_argument("--checkpoint", type=Path, default=None,
                    help="float state_dict the bundle was made from (default: the reference one, if it matches)")
    ap.add_argument("--model", help="FILE.py:FUNCTION the bundle was made from (default: the path it records)")
    ap.add_argument("--onnx", type=Path, help="the ONNX file the bundle was made from (default: the path it records)")
    ap.add_argument("--data", default="fashion-mnist",
                    help="'fashion-mnist' (its test split, default), a folder with one sub-folder of images "
                         "per class, or a .npy of uint8 NHWC images; resized to the network's input")
    ap.add_argument("--labels", type=Path, default=None, help="a .npy of integer labels, with --data IMAGES.npy")
    ap.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    ap.add_argument("--images", type=int, default=None,
                    help=f"images to run through the simulated RTL (0: none; default {DEFAULT_RTL_IMAGES}, or all "
                         "of a smaller data set)")
    ap.add_argument("--long", action="store_true",
                    help="run an RTL simulation the cycle model says takes more than 30 minutes")
    ap.add_argument("--dump", type=Path, help="write bundle, images, RTL and golden outputs into this new folder")
    ap.add_argument("--arch", choices=[*network_architectures(), AUTO], default=AUTO,
                    help="accelerator architecture simulated, as the build makes it for --board "
                         "(default auto: the build's choice for that board)")
    ap.add_argument("--board", choices=list(BOARDS), default=DEFAULT_BOARD,
                    help=f"the board whose build is simulated (default {DEFAULT_BOARD}); it sets the pipeline's "
                         "style and the engine's parts")
    ap.add_argument("--lanes", type=int, default=None, metavar="N",
                    help="the Fire engine's MAC lanes, as rtl_gen.build --lanes: an even number from 2 to 64 "
                         "(default 16)")
    return ap.parse_args(argv)


def arch_options(args) -> ArchOptions:
    """``--lanes`` checked (one line naming it) against ``--arch``."""
    options = ArchOptions(args.lanes)
    check_options(args.arch, options)
    return options


@dataclass(frozen=True)
class RtlRun:
    """What the RTL part of the run simulates: ``images`` of the data
    (0: none) on ``design``, estimated to take ``seconds`` by the cycle model."""
    images: int
    design: SimulatedDesign | None = None
    seconds: float = 0.0


def plan_rtl(args, bundle: Bundle, available: int, name: str) -> RtlRun:
    """``--images`` checked against the data and the time it would take,
    the architecture chosen: before any evaluation or simulation."""
    if args.images is None:
        n = min(DEFAULT_RTL_IMAGES, available)
    else:
        n = check_count(args.images, "--images", 0, available, f"{name} has {available} images")
    if not n:
        return RtlRun(0)
    arch, board, options = args.arch, get_board(args.board), arch_options(args)
    if arch == AUTO:
        arch, why = choose_arch(bundle, board, options)
        print(f"--arch auto: {arch} ({why})", file=sys.stderr)
    design = simulated_design(bundle, arch, board, options)
    return RtlRun(n, design, check_run_time(int(design.accelerator.cycles_per_frame), n, args.long))


def _prepare(args):
    """Everything checked before the long steps: (bundle, model, notice, images, rtl run)."""
    if args.images is not None and args.images < 0:
        raise CompareError(f"--images {args.images}: must be at least 0")
    arch_options(args)
    if args.json is not None:
        _check_json_out(args.json)
    if args.dump is not None:
        check_output_dir(args.dump, DUMP_MARKER)
    bundle = Bundle.load(args.bundle)
    raw = read_images(args.data, args.labels, bundle)
    rtl = plan_rtl(args, bundle, len(raw), raw.name)
    model, notice = float_model(bundle, args.bundle, args.checkpoint, (args.model, args.onnx))
    fitted = raw.fitted(tuple(bundle.input.shape))
    return bundle, model, notice, ImageSet(fitted.name, fitted.images, fitted.labels), rtl


def run_rtl(args, bundle: Bundle, images: ImageSet, golden: GoldenResult, plan: RtlRun) -> CompareResult:
    n = plan.images
    if not n:
        return CompareResult(golden)
    golden_sums, golden_classes = intref.classify(bundle, images.images[:n])
    print(f"RTL simulation of {n} images: about {duration(plan.seconds)} by the cycle model", file=sys.stderr)
    rtl = simulate_rtl(bundle, images.images[:n], golden_sums, design=plan.design)
    result = CompareResult(golden, rtl, rtl_top1=float(np.mean(rtl.classes == images.labels[:n])),
                           rtl_golden_class_agreement=float(np.mean(rtl.classes == golden_classes)))
    if rtl.cycles_per_image is not None:
        remember(Path(args.bundle).read_bytes(), rtl.measured_key,
                 SimulatedCycles(rtl.cycles_per_image, rtl.first_image_cycles, n, now()))
    if args.dump:
        dump(args.dump, args.bundle, images.images[:n], rtl.sums, rtl.classes, golden_sums, golden_classes)
    return result


@command_main
def main(argv=None) -> int:
    """The command (also the ``squeezefire-compare`` console script); returns the exit code."""
    args = parse_args(argv)
    import torch
    torch.set_num_threads(2)
    from sim.lib.cocotb_run import SimulatorMissing
    try:
        bundle, model, notice, images, plan = _prepare(args)
        if notice:
            print(f"notice: {notice}", file=sys.stderr)
        result = run_rtl(args, bundle, images, evaluate(bundle, model, images), plan)
    except (BundleError, CompareError, OutputError, SimulatorMissing, FileNotFoundError, ValueError) as e:
        # (golden.importers' ImportError_ and golden.datasets' DataError are ValueErrors)
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(table(result))
    if args.json:
        _write_json(args.json, result.to_json())
        print(f"wrote {args.json}")
    if args.dump and result.images_rtl:
        print(f"wrote {args.dump}/ (see its README.md)")
    if result.rtl is not None and result.rtl.rtl_mismatches:
        print(f"error: {result.rtl.rtl_mismatches} of {result.images_rtl} images differ between RTL and golden",
              file=sys.stderr)
        return 1
    return 0
