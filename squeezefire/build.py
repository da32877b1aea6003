"""``python -m rtl_gen.build`` (also ``squeezefire-build``): bundle -> board bitstream + report.

    python -m rtl_gen.build --board ice40 [--arch auto|engine|pipeline] [--bundle FILE] [--out DIR] [--seed N]
                            [--baud N] [--allow-timing-fail] [--timing-driven]

Steps: load the bundle, make the accelerator of the chosen architecture
(``ARCHITECTURES``), fit check (seconds; refuses a design that cannot fit),
elaborate the board top (``fpga.top.BoardTop``: accelerator + UART host
link + LEDs) with the amaranth-boards platform, then Yosys (the design's
Verilog ``top.v``, then synthesis), nextpnr (``--seed``, ``--report``) and
the bitstream packer, each run from the build folder.  Writes ``OUT/``
(default ``build/<board>/``: bitstream, ``top.v``, ``report.json``, ``board.json`` --
what a host needs, ``fpga.board_info`` --, logs)
and prints a table.  Timing is judged from nextpnr's report: a missed clock
is reported and exits 1 unless ``--allow-timing-fail``.  Bad input exits 2
with a one-line message and writes nothing; a failing tool leaves its logs
in ``OUT.failed/``.

``OUT`` follows ``squeezefire.safe_output``: built beside it and renamed
into place; it replaces only a previous output of this command (marked by
``OUT/.rtl_gen-build``), and any other non-empty folder, ``.``, a parent of
the current or the project folder, a file, or an unwritable place is
refused before any work.

``--arch standin`` (for tests and for exercising the flow) builds the
``fpga.testing.ClassSumStandIn`` TEST STAND-IN instead of the network.
``--accelerator network|standin`` is the deprecated old name of ``--arch``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from amaranth.lib import wiring

from fpga.board_core import DEFAULT_BAUD, check_baud
from fpga.board_info import BoardInfo, write_board_info
from fpga.boards import BOARDS, Board, get_board
from fpga.ice40_bram_map import MAP_FILE, fast_map_text, yosys_options
from fpga.testing import ClassSumStandIn
from fpga.toolchain import (VERILOG_SCRIPT, ToolError, check_tools, overused, plan_commands, run_step,
                            verilog_command, verilog_script)
from fpga.top import BoardTop
from fpga.protocol import network_id
from golden.bundle import Bundle
from golden.checksum import file_sha256
from rtl_gen.engine.engine import EngineParams, FireEngine
from rtl_gen.fit import Estimate, FitError, check_fit, estimate
from rtl_gen.network import Network
from squeezefire import measured
from squeezefire.cli import prog_name
from squeezefire.safe_output import check_output_dir, staged_output_dir

__all__ = ["Architecture", "ARCHITECTURES", "BuildError", "make_accelerator", "prepare_plan", "build", "main",
           "DEFAULT_BUNDLE", "MARKER"]

DEFAULT_BUNDLE = Path(__file__).resolve().parent.parent / "golden" / "reference" / "reference.bundle"
NAME = "top"
# names OUT/ as a previous output of this command, listing what it wrote
MARKER = ".rtl_gen-build"
STEPS = ("verilog", "synth", "pnr", "pack")


class BuildError(Exception):
    """Bad input or an impossible build (one-line message)."""


@dataclass(frozen=True)
class Architecture:
    """An accelerator architecture the build can make.

    ``make(bundle, board)`` returns a ``wiring.Component`` whose signature
    is an ``rtl_gen.accelerator.AcceleratorSignature`` (what the board core
    and the host link rely on) and which has ``cycles_per_frame`` (its
    performance model's figure), ``macs_per_frame`` and ``mac_lanes``, and
    optionally ``resource_cost``/``resource_estimate`` for the fit check
    (``rtl_gen.fit``); a ``ValueError`` names what it cannot generate.
    ``computes_network``: it computes the bundle's network (so it needs the
    bundle, and its weights count); False for a test stand-in, which gets
    the bundle only for its shapes and None without ``--bundle``.
    ``measured_key(board)``: the name its simulated cycles are kept under
    (``squeezefire.measured``).  ``clock_mhz(board)``: the system clock it
    runs at on ``board`` (None: the board's own).  ``timing_driven``: always
    place timing-driven (its clock is close to its fmax).
    """
    make: Callable[[Bundle | None, Board], wiring.Component]
    description: str
    computes_network: bool = True
    measured_key: Callable[[Board], str] = lambda board: "none"
    clock_mhz: Callable[[Board], float | None] = lambda board: None
    timing_driven: bool = False
    # its figures without making the hardware (``cycles_per_frame``, ``in_shape``
    # and ``resource_estimate_for``), for ``auto``; None: ``make`` is used
    assess: Callable[[Bundle, Board], object] | None = None
    baud: Callable[[Board], int | None] = lambda board: None    # its default host-link baud (None: DEFAULT_BAUD)


def _standin(bundle: Bundle | None, board: Board) -> ClassSumStandIn:
    if bundle is None:
        return ClassSumStandIn((28, 28, 1), 10)
    return ClassSumStandIn(tuple(bundle.input.shape), bundle.output.shape.c)


# the engine's PLL target per board, where it is not the board's own.  UP5K:
# the whole board meets 36 MHz (fmax 38.8, seed 1); at 42 MHz it reaches
# 37.1 -- the host link's and the UART receiver's state machines, at 90 % of
# the cells, are the critical paths; the engine alone reaches 43.5
# (docs/engine.md, "Measured")
ENGINE_CLOCK_MHZ: dict[str, float] = {"ice40": 36.0}
# 6 Mbaud: the iCEBreaker's FT2232H makes it exactly (12 MHz / 2), and so does
# the engine's clock (36 MHz / 6); the receiver takes a host clock -3.0 % ..
# +5.5 % off at 6 cycles per bit (python -m sim.uart_margin), so the link
# (717 images/s) outruns the engine (369, modelled)
ENGINE_BAUD: dict[str, int] = {"ice40": 6_000_000}


def engine_options(board: Board) -> dict:
    """The Fire engine's parts on ``board``: the UP5K's eight SB_MAC16 in
    dual 8x8 mode and its SPRAMs where the device has them, else inferred
    multipliers and block RAM."""
    dsp = "sb_mac16" if board.family == "ice40" and board.device.dsp >= 8 else "generic"
    return {"dsp": dsp, "banks": "spram" if board.device.spram_bits else "block"}


# Another architecture is one more entry: a factory and a line saying what it is.
ARCHITECTURES = {
    "pipeline": Architecture(lambda bundle, board: Network(bundle, style=board.style),
                             "per-layer streaming pipeline (rtl_gen.network.Network)",
                             measured_key=lambda board: measured.arch_key("pipeline", board.style)),
    "engine": Architecture(lambda bundle, board: FireEngine(bundle, **engine_options(board)),
                           "Fire engine: one convolution datapath reused pass by pass, 16 MAC lanes "
                           "(rtl_gen.engine.FireEngine)",
                           measured_key=lambda board: measured.arch_key("engine", engine_options(board)["dsp"]),
                           clock_mhz=lambda board: ENGINE_CLOCK_MHZ.get(board.key), timing_driven=True,
                           baud=lambda board: ENGINE_BAUD.get(board.key),
                           assess=lambda bundle, board: EngineParams(bundle, **engine_options(board))),
    "standin": Architecture(_standin, "TEST STAND-IN (fpga.testing.ClassSumStandIn: per-class pixel sums), "
                                      "not the network", computes_network=False),
}
AUTO = "auto"               # pick by the fit and performance models (``choose_arch``)
DEFAULT_ARCH = AUTO


def arch_clock(board: Board, arch: str):
    """(system clock in Hz, PLL config or None) of ``arch`` on ``board``."""
    return board.clock(ARCHITECTURES[arch].clock_mhz(board))


# the deprecated --accelerator flag's names
ACCELERATOR_ALIASES = {"network": "pipeline", "standin": "standin"}


def make_accelerator(bundle, board: Board, arch: str = "pipeline"):
    """The one place an accelerator is made: ``arch`` of ``ARCHITECTURES``
    from ``bundle`` for ``board``."""
    try:
        return ARCHITECTURES[arch].make(bundle, board)
    except ValueError as e:
        raise BuildError(f"cannot generate the {arch} accelerator: {e}") from None


def _load_bundle(path: Path) -> Bundle:
    if not path.is_file():
        raise BuildError(f"bundle file not found: {path}")
    try:
        return Bundle.load(path)
    except Exception as e:  # the loader names the layer and field
        raise BuildError(f"bad bundle {path}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None


def _util(report: dict, key):
    """(used, available) of a bel type, or of weighted bel types (see ``Board.report_keys``)."""
    if key is None:
        return 0, 0
    util = report.get("utilization", {})
    parts = ((key, 1),) if isinstance(key, str) else key
    found = [(util[k], w) for k, w in parts if k in util]
    if not found:
        return 0, 0
    used = sum(int(u["used"]) * w for u, w in found)
    return math.ceil(used), int(found[0][0]["available"])


def judge_timing(pnr: dict, clock_mhz: float):
    """(worst achieved fmax in MHz or None, met?) from a nextpnr --report:
    met when every clock reaches its own constraint (``clock_mhz`` where the
    report gives none), e.g. a PLL's reference clock and its output."""
    clocks = pnr.get("fmax", {}).values()
    if not clocks:
        return None, False
    fmax = min(clk["achieved"] for clk in clocks)
    return fmax, all(clk["achieved"] >= clk.get("constraint", clock_mhz) for clk in clocks)


def _link_frame_bytes(in_shape, num_classes):
    h, w, c = in_shape
    return 2 + 2 + h * w * c + 2, 2 + 1 + 1 + 4 * num_classes + 1 + 2


def build(board_key: str, bundle_path=None, out=None, seed: int = 1, arch: str = DEFAULT_ARCH,
          allow_timing_fail: bool = False, baud: int | None = None, heartbeat: float = 15.0,
          timing_driven: bool = False) -> dict:
    """Run the whole flow; returns the report dict.  Raises BuildError,
    FitError, OutputError or ToolError with one-line messages, every bad
    input before the fit check and the tools."""
    seconds = {}
    t0 = time.monotonic()
    inputs = _check_inputs(board_key, bundle_path, out, seed, arch, baud)
    board, arch = inputs.board, inputs.arch         # ``auto`` resolved
    clock_hz, pll = arch_clock(board, arch)
    seconds["load"] = time.monotonic() - t0

    t = time.monotonic()
    # an architecture that can be judged from its parameters is made only
    # once it fits (a made and unused Amaranth design is warned about)
    assess = ARCHITECTURES[arch].assess
    try:
        figures = assess(inputs.bundle, board) if assess else make_accelerator(inputs.bundle, board, arch)
    except ValueError as e:
        raise BuildError(f"cannot generate the {arch} accelerator: {e}") from None
    est = estimate(figures, board.device, image_in_bram=board.image_ram == "block")
    check_fit(est, board.device)
    acc = make_accelerator(inputs.bundle, board, arch) if assess else figures
    seconds["fit"] = time.monotonic() - t
    print(f"fit estimate ({est.source}): {est.summary(board.device)} -- fits {board.device.name}", flush=True)

    t = time.monotonic()
    host = board_info(inputs, acc, clock_hz)
    top = BoardTop(acc, baud=inputs.baud, image_ram=board.image_ram, pll=pll, network_id=host.network_id)
    plan = prepare_plan(board, top, seed, timing_driven or ARCHITECTURES[arch].timing_driven)
    commands = [verilog_command(board), *plan_commands(board, plan.files)]
    seconds["elaborate"] = time.monotonic() - t

    with staged_output_dir(inputs.out, MARKER, f"python -m rtl_gen.build --board {board.key}",
                           keep_failed_on=(ToolError, KeyboardInterrupt)) as stage:
        _run_tools(board, plan, commands, stage, heartbeat, seconds)
        seconds["total"] = time.monotonic() - t0
        report = _report(inputs, stage.path, acc, est, clock_hz, pll, seconds)
        report["network_id"] = host.network_id
        (stage.path / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        write_board_info(stage.path, host)
    print_table(report)
    if not report["timing_met"]:
        msg = (f"timing FAILED: fmax {report['fmax_mhz']} MHz < clock {report['clock_mhz']:g} MHz"
               if report["fmax_mhz"] is not None else "timing unknown: nextpnr reported no fmax")
        if not allow_timing_fail:
            raise TimingError(msg)
        print(f"warning: {msg} (--allow-timing-fail)")
    return report


# the bitstream file each family's packer writes (Amaranth's names)
BITSTREAM_SUFFIX = {"ice40": ".bin", "ecp5": ".bit", "gowin": ".fs"}


def board_info(inputs: "_Inputs", acc, clock_hz: float) -> BoardInfo:
    """What a host needs to talk to this build (``fpga.board_info``): the
    board, baud, input shape, class names and the network's id."""
    sig = acc.signature
    network = inputs.bundle is not None and ARCHITECTURES[inputs.arch].computes_network
    sha = file_sha256(inputs.bundle_path) if network else None
    classes = inputs.bundle.classes if network else None
    return BoardInfo(board=inputs.board.key, board_title=inputs.board.title,
                     bitstream=NAME + BITSTREAM_SUFFIX[inputs.board.family], baud=inputs.baud,
                     clock_hz=float(clock_hz), in_shape=tuple(sig.in_shape), num_classes=int(sig.num_classes),
                     classes=None if classes is None else tuple(classes),
                     network_id=network_id(sha) if sha else 0, bundle_sha256=sha)


def resolve_inputs(board_key: str = "ice40", bundle_path=None, out=None, arch: str = DEFAULT_ARCH,
                   baud: int | None = None, seed: int = 1) -> "_Inputs":
    """The build's inputs checked and resolved as ``build`` does (``auto``
    chosen), without building: what a simulation of the default bitstream
    needs (``sim/tests/test_pty_run.py``)."""
    return _check_inputs(board_key, bundle_path, out, seed, arch, baud)


@dataclass(frozen=True)
class _Inputs:
    board: Board
    out: Path
    bundle: Bundle | None       # None: the stand-in without --bundle
    bundle_path: Path | None
    baud: int
    arch: str
    seed: int


def _check_inputs(board_key, bundle_path, out, seed, arch, baud) -> _Inputs:
    """Every input checked, the output folder first (``squeezefire.safe_output``),
    in a second or two; ``auto`` resolved to an architecture."""
    board = get_board(board_key)
    if arch not in ARCHITECTURES and arch != AUTO:
        raise BuildError(f"unknown architecture {arch!r}; choose one of: {', '.join([*ARCHITECTURES, AUTO])}")
    if not isinstance(seed, int) or seed < 0:
        raise BuildError(f"seed must be a non-negative integer, got {seed!r}")
    out = Path(out) if out is not None else Path("build") / board.key
    check_output_dir(out, MARKER)
    check_tools(board)
    if bundle_path is None and (arch == AUTO or ARCHITECTURES[arch].computes_network):
        bundle_path = DEFAULT_BUNDLE
    bundle = _load_bundle(Path(bundle_path)) if bundle_path is not None else None
    if arch == AUTO:
        arch, why = choose_arch(bundle, board)
        print(f"--arch auto: {arch} ({why})", flush=True)
    baud = (ARCHITECTURES[arch].baud(board) or DEFAULT_BAUD) if baud is None else baud
    check_baud(arch_clock(board, arch)[0], baud)
    return _Inputs(board, out, bundle, None if bundle_path is None else Path(bundle_path), baud, arch, seed)


@dataclass(frozen=True)
class ArchAssessment:
    """What the fit and cycle models say of ``arch`` on a board: the
    estimate (None when the accelerator cannot be generated), the cycles
    and images/s at the architecture's clock, and why it does not fit (None
    when it does)."""
    arch: str
    est: Estimate | None
    cycles_per_frame: int | None
    images_per_s: float | None
    clock_hz: float | None
    refusal: str | None

    @property
    def fits(self) -> bool:
        return self.refusal is None


def assess_arch(bundle: Bundle, board: Board, name: str) -> ArchAssessment:
    arch = ARCHITECTURES[name]
    try:
        # the pipeline's fit model elaborates it: made, it is also used
        acc = (arch.assess or arch.make)(bundle, board)
        est = estimate(acc, board.device, image_in_bram=board.image_ram == "block")
    except ValueError as e:
        return ArchAssessment(name, None, None, None, None, str(e).splitlines()[0])
    clock_hz = arch_clock(board, name)[0]
    cycles = int(acc.cycles_per_frame)
    try:
        check_fit(est, board.device)
        refusal = None
    except FitError as e:
        refusal = str(e).splitlines()[0]
    return ArchAssessment(name, est, cycles, clock_hz / cycles, clock_hz, refusal)


def choose_arch(bundle: Bundle, board: Board) -> tuple[str, str]:
    """``auto``: of the architectures that compute the network and fit
    ``board`` by the fit model, the one with the most images/s per DSP by
    the cycle model at its clock (the engine where the pipeline does not fit
    or is slower per DSP); (name, why).  FitError when none fits."""
    scores, refusals = {}, []
    for name, arch in ARCHITECTURES.items():
        if not arch.computes_network:
            continue
        a = assess_arch(bundle, board, name)
        if not a.fits:
            refusals.append(f"{name}: {a.refusal}")
            continue
        scores[name] = (a.images_per_s / max(a.est.dsp, 1), a.images_per_s, a.est.dsp)
    if not scores:
        raise FitError("no architecture fits: " + "; ".join(refusals))
    best = max(scores, key=lambda n: scores[n][0])
    why = ", ".join(f"{n} {v[1]:.1f} images/s on {v[2]} DSP (model)" for n, v in scores.items())
    return best, why + ("; " + "; ".join(refusals) if refusals else "")


def prepare_plan(board, top, seed: int = 1, timing_driven: bool = False):
    """Amaranth's build plan for ``top`` on ``board`` with our tool options,
    plus the iCE40 block-RAM map file and the Verilog script."""
    clock_hz, _ = board.clock()
    nextpnr_opts = f"--seed {seed} --report nextpnr-report.json --timing-allow-fail"
    if board.fast_place and not timing_driven:
        # the board clock has ample slack (see docs/build.md); timing-driven
        # placement would cost ~40 % of the place & route time for nothing
        nextpnr_opts += " --no-tmdriv"
    if board.nextpnr_freq:
        nextpnr_opts += f" --freq {clock_hz / 1e6:g}"
    opts = {"nextpnr_opts": nextpnr_opts}
    if board.synth_opts:
        opts["synth_opts"] = board.synth_opts
    # iCE40: the same block-RAM mapping, without Yosys's slow INIT function
    # (fpga/ice40_bram_map.py: synthesis 14 s instead of 32 s)
    bram_map = fast_map_text() if board.family == "ice40" else None
    if bram_map is not None:
        opts.update(yosys_options(board.synth_opts, NAME))
    plan = board.platform_class()().prepare(top, name=NAME, **opts)
    if bram_map is not None:
        plan.add_file(MAP_FILE, bram_map)
    plan.add_file(VERILOG_SCRIPT, verilog_script(NAME))
    # Amaranth's top.debug.v is a one-line stub unless debug Verilog is asked
    # for, which its bundled Yosys takes 9 s to write; top.v replaces it
    plan.files.pop(f"{NAME}.debug.v", None)
    return plan


def _run_tools(board, plan, commands, stage, heartbeat: float, seconds: dict) -> None:
    """The plan's files and tools in ``stage.path``; a failing tool's error
    names the resources nextpnr found over capacity and the log it leaves
    in ``stage.failed``."""
    plan.extract(str(stage.path))
    log = (stage.path / "build.log").resolve()
    try:
        for name, argv in zip(STEPS, commands):
            seconds[name] = run_step(name, argv, stage.path, log, heartbeat)
    except ToolError as e:
        logs = "".join(f.read_text(errors="replace") for f in sorted(stage.path.glob("*.tim")))
        over = overused(logs)
        fit = f"; does not fit {board.device.name}: {', '.join(over)}" if over else ""
        raise ToolError(f"{e}{fit} (log: {stage.failed / 'build.log'})") from None


def simulated_cycles(inputs: _Inputs) -> int | None:
    """Cycles per frame a simulation of this bundle, architecture and style
    measured (``squeezefire.measured``, recorded by ``golden/compare.py``),
    or None when it was never simulated."""
    if inputs.bundle_path is None:
        return None
    key = ARCHITECTURES[inputs.arch].measured_key(inputs.board)
    record = measured.recall(inputs.bundle_path.read_bytes(), key)
    return None if record is None else record.cycles_per_frame


def frame_figures(acc, inputs: _Inputs, clock_hz: float) -> dict:
    """Cycles and frames per second, the model's and the simulated ones,
    each named as such; the work per frame; what the link could carry."""
    model, simulated = int(acc.cycles_per_frame), simulated_cycles(inputs)
    sig = acc.signature
    req_bytes, rep_bytes = _link_frame_bytes(sig.in_shape, sig.num_classes)
    return {
        "cycles_per_frame_model": model, "cycles_per_frame_simulated": simulated,
        "frames_per_s_model": round(clock_hz / model, 1),
        "frames_per_s_simulated": None if simulated is None else round(clock_hz / simulated, 1),
        "macs_per_frame": int(acc.macs_per_frame), "mac_lanes": int(acc.mac_lanes),
        "baud": inputs.baud, "link_frames_per_s": round(inputs.baud / 10 / (req_bytes + rep_bytes), 1),
    }


def _report(inputs: _Inputs, work: Path, acc, est, clock_hz: float, pll, seconds: dict) -> dict:
    board, out = inputs.board, inputs.out
    pnr = json.loads((work / "nextpnr-report.json").read_text())
    keys = board.report_keys
    lut_used, lut_total = _util(pnr, keys.get("lut"))
    dsp_used, dsp_total = _util(pnr, keys.get("dsp"))
    bram_used, bram_total = _util(pnr, keys.get("bram"))
    spram_used, spram_total = _util(pnr, keys.get("spram"))
    clock_mhz = clock_hz / 1e6
    fmax, timing_met = judge_timing(pnr, clock_mhz)
    bitstream = next(p for p in sorted(work.iterdir()) if p.suffix in (".bin", ".bit", ".fs"))
    arch = ARCHITECTURES[inputs.arch]
    return {
        "board": board.key, "board_title": board.title, "device": board.device.name,
        "arch": inputs.arch, "arch_description": arch.description,
        "seed": inputs.seed,
        "lut_used": lut_used, "lut_total": lut_total,
        "dsp_used": dsp_used, "dsp_total": dsp_total,
        "bram_used": bram_used, "bram_total": bram_total, "bram_block_bits": board.device.bram_block_bits,
        "spram_used": spram_used, "spram_total": spram_total,
        "estimate": est.as_dict(),
        "fmax_mhz": round(fmax, 2) if fmax is not None else None, "clock_mhz": clock_mhz,
        "clock_source": pll.describe() if pll is not None else "oscillator",
        "timing_met": timing_met,
        **frame_figures(acc, inputs, clock_hz),
        "weight_bits": inputs.bundle.weight_bits() if arch.computes_network else 0,
        # of the weights the hardware holds as codebook indices (the fit model's)
        "weight_index_bits": est.weight_index_bits, "codebook_bits": est.codebook_bits,
        "bitstream": str(out / bitstream.name),
        "bitstream_sha256": hashlib.sha256(bitstream.read_bytes()).hexdigest(),
        "verilog": str(out / f"{NAME}.v"),
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
    }


class TimingError(Exception):
    """nextpnr missed the clock (exit 1 unless --allow-timing-fail)."""


def _frame_rows(r: dict) -> list[tuple[str, str]]:
    simulated = r["cycles_per_frame_simulated"]
    sim_cycles = "not simulated" if simulated is None else f"{simulated} simulated"
    sim_rate = "" if simulated is None else f", {r['frames_per_s_simulated']} simulated"
    return [
        ("cycles/frame", f"{r['cycles_per_frame_model']} modelled, {sim_cycles}"),
        ("frames/s", f"{r['frames_per_s_model']} modelled{sim_rate} (compute); "
                     f"{r['link_frames_per_s']} over the {r['baud']} baud link"),
        ("MACs", f"{r['macs_per_frame']} per frame on {r['mac_lanes']} MAC lanes"),
    ]


def _codebook_text(r: dict) -> str:
    if not r["weight_index_bits"] and not r["codebook_bits"]:
        return ""
    return f"; in hardware as {r['weight_index_bits']} index bits + {r['codebook_bits']} codebook-table bits"


def print_table(r: dict) -> None:
    e = r["estimate"]
    rows = [
        ("board", f"{r['board']} -- {r['board_title']} ({r['device']})"),
        ("arch", f"{r['arch']} -- {r['arch_description']}"),
        ("LUT", f"{r['lut_used']} / {r['lut_total']}   (estimate {e['lut']})"),
        ("DSP", f"{r['dsp_used']} / {r['dsp_total']}   (estimate {e['dsp']})"),
        ("BRAM blocks", f"{r['bram_used']} / {r['bram_total']}   (estimate {e['bram_blocks']})"),
        ("SPRAM", f"{r['spram_used']} / {r['spram_total']}"),
        ("clock", f"{r['clock_mhz']:g} MHz, fmax {r['fmax_mhz']} MHz -- "
                  f"{'met' if r['timing_met'] else 'NOT MET'}; {r['clock_source']}"),
        *_frame_rows(r),
        ("weights", f"{r['weight_bits']} bits" + _codebook_text(r)),
        ("bitstream", r["bitstream"]),
        ("seconds", ", ".join(f"{k} {v}" for k, v in r["seconds"].items())),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=prog_name("python -m rtl_gen.build"), description=__doc__.splitlines()[0])
    ap.add_argument("--board", default="ice40", help=f"one of: {', '.join(BOARDS)} (default ice40)")
    ap.add_argument("--arch", default=None, choices=[*ARCHITECTURES, AUTO],
                    help=f"accelerator architecture (default {DEFAULT_ARCH}: the most images/s per DSP among those that "
                         "fit, by the models): "
                         + "; ".join(f"{k}: {a.description}" for k, a in ARCHITECTURES.items()))
    ap.add_argument("--accelerator", default=None, choices=list(ACCELERATOR_ALIASES),
                    help="deprecated name of --arch ('network' is --arch pipeline)")
    ap.add_argument("--bundle", type=Path, default=None, help=f"network bundle (default {DEFAULT_BUNDLE.name})")
    ap.add_argument("--out", type=Path, default=None, help="output folder (default build/<board>/)")
    ap.add_argument("--seed", type=int, default=1, help="nextpnr placement seed (default 1)")
    ap.add_argument("--baud", type=int, default=None,
                    help="host-link baud rate (default 1000000; the engine on the iCEBreaker 6000000)")
    ap.add_argument("--allow-timing-fail", action="store_true", help="exit 0 even if the clock is missed")
    ap.add_argument("--timing-driven", action="store_true",
                    help="timing-driven placement where the board skips it for speed (iCE40: higher fmax, ~10 s more)")
    return ap


def _arch_of(args) -> str:
    """``--arch``, or the deprecated ``--accelerator`` it replaces (with a notice)."""
    if args.accelerator is None:
        return args.arch or DEFAULT_ARCH
    alias = ACCELERATOR_ALIASES[args.accelerator]
    if args.arch is not None and args.arch != alias:
        raise BuildError(f"--accelerator {args.accelerator} (deprecated) contradicts --arch {args.arch}")
    print(f"notice: --accelerator is deprecated; use --arch {alias}", file=sys.stderr)
    return alias


def main(argv=None) -> int:
    """The command (also the ``squeezefire-build`` console script); returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        build(args.board, args.bundle, args.out, args.seed, _arch_of(args), args.allow_timing_fail, args.baud,
              timing_driven=args.timing_driven)
    except TimingError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (BuildError, FitError, ToolError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
