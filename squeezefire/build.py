"""``python -m rtl_gen.build`` (also ``squeezefire-build``): bundle -> board bitstream + report.

    python -m rtl_gen.build --board ice40 [--arch auto|engine|pipeline] [--lanes N] [--engines N|auto]
                            [--bundle FILE] [--out DIR]
                            [--seed N] [--baud N] [--pll-mhz MHZ] [--allow-timing-fail] [--timing-driven]

Steps: load the bundle, make the accelerator of the chosen architecture
(``squeezefire.architectures.ARCHITECTURES``), fit check (seconds; refuses a design that cannot fit),
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
"""
from __future__ import annotations

import hashlib
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path


from fpga.board_core import DEFAULT_BAUD, check_baud
from fpga.board_info import BoardInfo, write_board_info
from fpga.boards import BOARDS, Board, get_board
from fpga.bram_rewrite import BRAM_TOOLS, BramTool, RewriteError
from fpga.ice40_bram_map import MAP_FILE, fast_map_text, yosys_options
from fpga.toolchain import (VERILOG_SCRIPT, ToolError, check_tools, overused, plan_commands, run_step,
                            verilog_command, verilog_script)
from fpga.top import BoardTop
from fpga.protocol import network_id
from golden.bundle import Bundle
from golden.checksum import file_sha256
from golden.command import ArgumentParser, Interrupted, command_main
from golden.counts import check_seed
from rtl_gen.accelerator import frame_interval, frames_per_interval, images_per_second
from rtl_gen.engine.engine import EngineParams, FireEngine
from rtl_gen.engine.rom_images import EngineRoms
from rtl_gen.fit import Estimate, FitError, check_fit, estimate
from squeezefire import measured
from squeezefire.architectures import (ARCHITECTURES, AUTO, ArchitectureError, ArchOptions, arch_clock,
                                      check_auto_engines, check_options, choose_arch, engines_arg, make_accelerator,
                                      resolve_engines)
from squeezefire.cli import prog_name
from squeezefire.rates import RateFigures, link_images_per_s, rate_figures
from squeezefire.safe_output import check_output_dir, staged_output_dir
from squeezefire.weights import RomLayout, netlist_digest, rom_layout, write_roms

__all__ = ["BuildError", "prepare_plan", "build", "main", "DEFAULT_BUNDLE", "MARKER"]

DEFAULT_BUNDLE = Path(__file__).resolve().parent.parent / "golden" / "reference" / "reference.bundle"
NAME = "top"
# names OUT/ as a previous output of this command, listing what it wrote
MARKER = ".rtl_gen-build"
STEPS = ("verilog", "synth", "pnr", "pack")


class BuildError(Exception):
    """Bad input or an impossible build (one-line message)."""


DEFAULT_ARCH = AUTO


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


def build(board_key: str, bundle_path=None, out=None, seed: int = 1, arch: str = DEFAULT_ARCH,
          allow_timing_fail: bool = False, baud: int | None = None, heartbeat: float = 15.0,
          timing_driven: bool = False, lanes: int | None = None, pll_mhz: float | None = None,
          engines: int | str | None = None) -> BuildReport:
    """Run the whole flow; returns the report (``BuildReport``).  Raises BuildError,
    FitError, OutputError or ToolError with one-line messages, every bad
    input before the fit check and the tools.  ``lanes``: the Fire engine's
    MAC lanes (None: its default); ``engines``: how many Fire engines on
    successive images (None: one; "auto": the most the fit model accepts)."""
    seconds = {}
    t0 = time.monotonic()
    inputs = _check_inputs(board_key, bundle_path, out, seed, arch, baud, lanes, pll_mhz, engines)
    board, arch, options = inputs.board, inputs.arch, inputs.options         # ``auto`` resolved
    clock_hz, pll = inputs.clock_hz, inputs.pll
    seconds["load"] = time.monotonic() - t0

    t = time.monotonic()
    # an architecture that can be judged from its parameters is made only
    # once it fits (a made and unused Amaranth design is warned about)
    assess = ARCHITECTURES[arch].assess
    try:
        figures = assess(inputs.bundle, board, options) if assess else make_accelerator(inputs.bundle, board, arch,
                                                                                         options)
    except ArchitectureError:
        raise
    except ValueError as e:
        raise ArchitectureError(f"cannot generate the {arch} accelerator: {e}") from None
    est = estimate(figures, board.device, image_in_bram=board.image_ram == "block")
    check_fit(est, board.device)
    acc = rewrite_ready(figures, board) or (make_accelerator(inputs.bundle, board, arch, options) if assess
                                            else figures)
    seconds["fit"] = time.monotonic() - t
    print(f"fit estimate ({est.source}): {est.summary(board.device)} -- fits {board.device.name}", flush=True)

    t = time.monotonic()
    roms = rom_plan(inputs, acc)
    host = board_info(inputs, acc, clock_hz, None if roms is None else roms.layout.digest)
    top = BoardTop(acc, baud=inputs.baud, image_ram=board.image_ram, pll=pll, network_id=host.network_id)
    plan = prepare_plan(board, top, seed, timing_driven or ARCHITECTURES[arch].timing_driven)
    commands = [verilog_command(board), *plan_commands(board, plan.files)]
    if roms is not None:
        commands[2] = placeholder_output(commands[2], roms.tool)
    seconds["elaborate"] = time.monotonic() - t

    failed = None
    try:
        with staged_output_dir(inputs.out, MARKER, f"python -m rtl_gen.build --board {board.key}",
                               keep_failed_on=(ToolError, RewriteError, KeyboardInterrupt)) as stage:
            failed = stage.failed
            proof = _run_tools(board, plan, commands, stage, heartbeat, seconds, roms)
            seconds["total"] = time.monotonic() - t0
            rewrite = None if proof is None else {"tool": roms.tool.rewrite_name, "proof": proof.summary()}
            report = _report(inputs, stage.path, acc, est, clock_hz, pll, seconds, rewrite, host.network_id)
            (stage.path / "report.json").write_text(json.dumps(report.to_json(), indent=2) + "\n")
            write_board_info(stage.path, host)
    except KeyboardInterrupt:
        if failed is not None and failed.is_dir():
            raise Interrupted(f"the logs so far are kept in {failed}/") from None
        raise
    print_table(report)
    if not report.timing_met:
        msg = (f"timing FAILED: fmax {report.fmax_mhz} MHz < clock {report.clock_mhz:g} MHz"
               if report.fmax_mhz is not None else "timing unknown: nextpnr reported no fmax")
        if not allow_timing_fail:
            raise TimingError(msg)
        print(f"warning: {msg} (--allow-timing-fail)")
    return report


# the bitstream file each family's packer writes (Amaranth's names)
BITSTREAM_SUFFIX = {"ice40": ".bin", "ecp5": ".bit", "gowin": ".fs"}


def board_info(inputs: "_Inputs", acc, clock_hz: float, digest: str | None = None) -> BoardInfo:
    """What a host needs to talk to this build (``fpga.board_info``): the
    board, baud, input shape, class names and the network's id.

    The id names the netlist: for a Fire engine whose ROMs can be rewritten
    (``--reuse``) it is taken from ``digest``, the engine's RTLIL with
    placeholder ROMs (``squeezefire.weights.netlist_digest``, computed here
    when not given) -- the same for every bundle of the same shape, so a
    bitstream with rewritten weights keeps it and equals a full build's;
    else from the bundle's SHA-256.  ``bundle_sha256`` names the weights."""
    sig = acc.signature
    network = inputs.bundle is not None and ARCHITECTURES[inputs.arch].computes_network
    sha = file_sha256(inputs.bundle_path) if network else None
    classes = inputs.bundle.classes if network else None
    params = getattr(acc, "params", None)
    if network and digest is None and isinstance(params, EngineParams) and inputs.board.family in BRAM_TOOLS:
        digest = netlist_digest(FireEngine(replace(params, placeholder_roms=True)))
    source = digest or sha
    return BoardInfo(board=inputs.board.key, board_title=inputs.board.title,
                     bitstream=NAME + BITSTREAM_SUFFIX[inputs.board.family], baud=inputs.baud,
                     clock_hz=float(clock_hz), in_shape=tuple(sig.in_shape), num_classes=int(sig.num_classes),
                     classes=None if classes is None else tuple(classes),
                     network_id=network_id(source) if source else 0, bundle_sha256=sha)


def resolve_inputs(board_key: str = "ice40", bundle_path=None, out=None, arch: str = DEFAULT_ARCH,
                   baud: int | None = None, seed: int = 1, lanes: int | None = None,
                   pll_mhz: float | None = None, engines: int | str | None = None) -> "_Inputs":
    """The build's inputs checked and resolved as ``build`` does (``auto``
    chosen), without building: what a simulation of the default bitstream
    needs (``sim.lib.default_board``)."""
    return _check_inputs(board_key, bundle_path, out, seed, arch, baud, lanes, pll_mhz, engines)


@dataclass(frozen=True)
class _Inputs:
    board: Board
    out: Path
    bundle: Bundle | None       # None: the stand-in without --bundle
    bundle_path: Path | None
    baud: int
    arch: str
    seed: int
    options: ArchOptions = ArchOptions()
    clock_hz: float = 0.0       # the system clock (Hz) and its PLL config (None: the oscillator)
    pll: object = None


def _clock(board: Board, arch: str, pll_mhz) -> tuple:
    """(clock Hz, PLL config or None): ``--pll-mhz`` where given, else the
    architecture's clock on the board (``arch_clock``)."""
    if pll_mhz is None:
        return arch_clock(board, arch)
    if isinstance(pll_mhz, bool) or not isinstance(pll_mhz, (int, float)) or not math.isfinite(pll_mhz):
        raise BuildError(f"--pll-mhz must be a number of MHz, got {pll_mhz!r}")
    try:
        return board.clock(float(pll_mhz))
    except ValueError as e:
        raise BuildError(f"--pll-mhz {pll_mhz:g} on {board.key}: {e}") from None


def _check_inputs(board_key, bundle_path, out, seed, arch, baud, lanes=None, pll_mhz=None, engines=None) -> _Inputs:
    """Every input checked, the output folder first (``squeezefire.safe_output``),
    in a second or two; ``auto`` resolved to an architecture."""
    board = get_board(board_key)
    if arch not in ARCHITECTURES and arch != AUTO:
        raise BuildError(f"unknown architecture {arch!r}; choose one of: {', '.join([*ARCHITECTURES, AUTO])}")
    options = ArchOptions(lanes, None if engines == AUTO else engines)    # a bad --lanes or --engines: one line
    check_options(arch, options)
    if engines == AUTO:
        check_auto_engines(arch)
    check_seed(seed)
    out = Path(out) if out is not None else Path("build") / board.key
    check_output_dir(out, MARKER)
    check_tools(board)
    if bundle_path is None and (arch == AUTO or ARCHITECTURES[arch].computes_network):
        bundle_path = DEFAULT_BUNDLE
    bundle = _load_bundle(Path(bundle_path)) if bundle_path is not None else None
    if engines == AUTO:
        if bundle is None:
            raise BuildError("--engines auto needs the network's bundle (not --arch standin)")
        options, note = resolve_engines(bundle, board, arch, lanes, engines)
        print(note, flush=True)
    if arch == AUTO:
        arch, why = choose_arch(bundle, board, options)
        print(f"--arch auto: {arch} ({why})", flush=True)
    clock_hz, pll = _clock(board, arch, pll_mhz)
    baud = (ARCHITECTURES[arch].baud(board) or DEFAULT_BAUD) if baud is None else baud
    check_baud(clock_hz, baud)
    return _Inputs(board, out, bundle, None if bundle_path is None else Path(bundle_path), baud, arch, seed, options,
                   clock_hz, pll)


def prepare_plan(board, top, seed: int = 1, timing_driven: bool = False):
    """Amaranth's build plan for ``top`` on ``board`` with our tool options,
    plus the iCE40 block-RAM map file and the Verilog script."""
    # the top's clock (a PLL's output), else the board's
    clock_hz = top.clock_hz if top.clock_hz is not None else board.clock()[0]
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


@dataclass(frozen=True)
class RomPlan:
    """A build whose ROMs hold placeholders: the tool that writes ``real`` in
    after place and route, and the layout a ``--reuse`` will compare."""
    tool: BramTool
    real: EngineRoms
    layout: RomLayout


def rewrite_ready(figures, board: Board) -> FireEngine | None:
    """The Fire engine of ``figures`` (its ``EngineParams``) with placeholder
    ROMs, on a board whose block RAMs can be rewritten; else None."""
    if not isinstance(figures, EngineParams) or board.family not in BRAM_TOOLS:
        return None
    return FireEngine(replace(figures, placeholder_roms=True))


def rom_plan(inputs: _Inputs, acc) -> RomPlan | None:
    """The ROM rewrite of a Fire engine built with placeholders, else None."""
    params = getattr(acc, "params", None)
    if not isinstance(params, EngineParams) or not params.placeholder_roms:
        return None
    layout = rom_layout(inputs.bundle, params, inputs.board.key, netlist_digest(FireEngine(params)))
    return RomPlan(BRAM_TOOLS[inputs.board.family], params.rom_images(), layout)


def placeholder_output(argv: list[str], tool: BramTool) -> list[str]:
    """nextpnr's argv writing the placed design to ``tool.config`` (the
    rewrite makes the packer's input from it)."""
    return [tool.config if a == tool.rewritten else a for a in argv]


def _run_tools(board, plan, commands, stage, heartbeat: float, seconds: dict, roms: RomPlan | None = None):
    """The plan's files and tools in ``stage.path`` (with ``roms``: their
    contents written in before the packer, which the rewrite runs; returns
    its ``RewriteProof``); a failing tool's error names the resources
    nextpnr found over capacity and the log it leaves in ``stage.failed``."""
    plan.extract(str(stage.path))
    log = (stage.path / "build.log").resolve()
    proof = None
    try:
        for name, argv in zip(STEPS, commands):
            if name == "pack" and roms is not None:
                t = time.monotonic()
                print("  roms     placeholders -> the bundle's ROM images, then the packer ...", flush=True)
                proof = write_roms(stage.path, roms.tool, roms.real, roms.layout, log)
                seconds["roms+pack"] = time.monotonic() - t
                print(f"  roms     done in {seconds['roms+pack']:.1f} s: {proof.summary()}", flush=True)
                continue
            seconds[name] = run_step(name, argv, stage.path, log, heartbeat)
    except ToolError as e:
        logs = "".join(f.read_text(errors="replace") for f in sorted(stage.path.glob("*.tim")))
        over = overused(logs)
        fit = f"; does not fit {board.device.name}: {', '.join(over)}" if over else ""
        raise ToolError(f"{e}{fit} (log: {stage.failed / 'build.log'})") from None
    return proof


def simulated_cycles(inputs: _Inputs) -> int | None:
    """Cycles per frame (an engine array's: per ``engines`` frames) a simulation of this bundle, architecture and style
    measured (``squeezefire.measured``, recorded by ``golden/compare.py``),
    or None when it was never simulated."""
    if inputs.bundle_path is None:
        return None
    key = ARCHITECTURES[inputs.arch].measured_key(inputs.board, inputs.options)
    record = measured.recall(inputs.bundle_path.read_bytes(), key)
    return None if record is None else record.cycles_per_frame


@dataclass(frozen=True)
class FrameFigures:
    """Cycles and frames per second, the model's and the simulated ones,
    each named as such; the work per frame; what the link could carry."""
    cycles_per_frame_model: int
    cycles_per_frame_simulated: int | None
    engines: int                    # frames finished every ``frame_interval_*`` cycles (an engine array's copies)
    frame_interval_model: int       # cycles per ``engines`` frames in steady state (one engine: cycles_per_frame)
    frame_interval_simulated: int | None
    frames_per_s_model: float
    frames_per_s_simulated: float | None
    macs_per_frame: int
    mac_lanes: int
    baud: int
    link_frames_per_s: float


def frame_figures(acc, inputs: _Inputs, clock_hz: float) -> FrameFigures:
    # the simulation records the steady-state interval per ``engines`` frames
    # (squeezefire.compare); one engine's frame cycles only for one engine
    engines, interval, simulated = frames_per_interval(acc), frame_interval(acc), simulated_cycles(inputs)
    sig = acc.signature
    return FrameFigures(int(acc.cycles_per_frame), simulated if engines == 1 else None, engines, interval, simulated,
                        round(images_per_second(acc, clock_hz), 1),
                        None if simulated is None else round(clock_hz * engines / simulated, 1),
                        int(acc.macs_per_frame), int(acc.mac_lanes), inputs.baud,
                        link_images_per_s(sig.in_shape, sig.num_classes, inputs.baud))


@dataclass(frozen=True)
class BuildReport:
    """What a build made and measured; ``to_json()`` is ``report.json``
    (keys as docs/build.md documents them)."""
    board: str
    board_title: str
    device: str
    arch: str
    arch_description: str
    seed: int
    lut_used: int
    lut_total: int
    dsp_used: int
    dsp_total: int
    bram_used: int
    bram_total: int
    bram_block_bits: int
    spram_used: int
    spram_total: int
    estimate: Estimate
    fmax_mhz: float | None
    clock_mhz: float
    clock_source: str               # "PLL ..." (its dividers) or "crystal"
    timing_met: bool
    frames: FrameFigures
    rates: RateFigures
    weight_bits: int
    weight_index_bits: int          # of the weights the hardware holds as codebook indices (the fit model's)
    codebook_bits: int
    bitstream: str
    bitstream_sha256: str
    verilog: str
    seconds: dict
    rom_rewrite: dict | None = None     # the ROM rewrite's tool and proof, on a rewrite-ready build
    network_id: int | None = None       # the id the board's info reply carries (fpga.board_info)

    def to_json(self) -> dict:
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("frames", "rates"):
                out.update(asdict(value))
            else:
                out[f.name] = value.to_json() if f.name == "estimate" else value
        return out


def _report(inputs: _Inputs, work: Path, acc, est, clock_hz: float, pll, seconds: dict,
            rom_rewrite: dict | None, network_id: str | None = None) -> BuildReport:
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
    frames = frame_figures(acc, inputs, clock_hz)
    return BuildReport(
        board=board.key, board_title=board.title, device=board.device.name,
        arch=inputs.arch, arch_description=arch.description, seed=inputs.seed,
        lut_used=lut_used, lut_total=lut_total, dsp_used=dsp_used, dsp_total=dsp_total,
        bram_used=bram_used, bram_total=bram_total, bram_block_bits=board.device.bram_block_bits,
        spram_used=spram_used, spram_total=spram_total, estimate=est,
        fmax_mhz=round(fmax, 2) if fmax is not None else None, clock_mhz=clock_mhz,
        clock_source=f"PLL {pll.describe()}" if pll is not None else "crystal", timing_met=timing_met,
        frames=frames, rates=rate_figures(frames.macs_per_frame, frames.frame_interval_model, clock_hz,
                                          board.device.dsp, board.device.products_per_dsp,
                                          frames.link_frames_per_s, frames.engines),
        weight_bits=inputs.bundle.weight_bits() if arch.computes_network else 0,
        weight_index_bits=est.weight_index_bits, codebook_bits=est.codebook_bits,
        bitstream=str(out / bitstream.name), bitstream_sha256=hashlib.sha256(bitstream.read_bytes()).hexdigest(),
        verilog=str(out / f"{NAME}.v"), seconds={k: round(v, 2) for k, v in seconds.items()},
        rom_rewrite=rom_rewrite, network_id=network_id)


class TimingError(Exception):
    """nextpnr missed the clock (exit 1 unless --allow-timing-fail)."""


def _frame_rows(f: FrameFigures, r: RateFigures) -> list[tuple[str, str]]:
    simulated = f.frame_interval_simulated
    sim_cycles = "not simulated" if simulated is None else f"{simulated} simulated"
    sim_rate = "" if simulated is None else f", {f.frames_per_s_simulated} simulated"
    cycles = [("cycles/frame", f"{f.cycles_per_frame_model} (model), {sim_cycles}")] if f.engines == 1 else [
        ("cycles/frame", f"{f.cycles_per_frame_model} (model; one engine's frame)"),
        (f"cycles/{f.engines} frames", f"{f.frame_interval_model} (model), {sim_cycles} (steady state, "
                                       f"{f.engines} engines)")]
    return [
        *cycles,
        ("frames/s", f"{f.frames_per_s_model} (model){sim_rate} compute; "
                     f"{f.link_frames_per_s} over the {f.baud} baud link; the {r.bound} binds"),
        ("MACs", f"{f.macs_per_frame} per frame on {f.mac_lanes} MAC lanes; {r.summary()}"),
    ]


def _codebook_text(r: BuildReport) -> str:
    if not r.weight_index_bits and not r.codebook_bits:
        return ""
    return f"; in hardware as {r.weight_index_bits} index bits + {r.codebook_bits} codebook-table bits"


def print_table(r: BuildReport) -> None:
    e = r.estimate
    rows = [
        ("board", f"{r.board} -- {r.board_title} ({r.device})"),
        ("arch", f"{r.arch} -- {r.arch_description}"),
        ("LUT", f"{r.lut_used} / {r.lut_total}   (estimate {e.lut})"),
        ("DSP", f"{r.dsp_used} / {r.dsp_total}   (estimate {e.dsp})"),
        ("BRAM blocks", f"{r.bram_used} / {r.bram_total}   (estimate {e.bram_blocks})"),
        ("SPRAM", f"{r.spram_used} / {r.spram_total}"),
        ("clock", f"{r.clock_mhz:g} MHz, fmax {r.fmax_mhz} MHz -- "
                  f"{'met' if r.timing_met else 'NOT MET'}; {r.clock_source}"),
        ("peak", f"{r.rates.peak_macs_per_cycle} int8 products per cycle on the chip's hard multipliers, "
                 f"{r.rates.peak_macs_per_s / 1e9:.3g} G/s at the clock"),
        *_frame_rows(r.frames, r.rates),
        ("weights", f"{r.weight_bits} bits" + _codebook_text(r)),
        ("bitstream", r.bitstream),
        *([("ROMs", f"{r.rom_rewrite['tool']}: {r.rom_rewrite['proof']} (rewrite-ready: --reuse)")]
          if r.rom_rewrite else []),
        ("seconds", ", ".join(f"{k} {v}" for k, v in r.seconds.items())),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


def _parser() -> ArgumentParser:
    ap = ArgumentParser(prog=prog_name("python -m rtl_gen.build"), description=__doc__.splitlines()[0])
    ap.add_argument("--board", default=None, help=f"one of: {', '.join(BOARDS)} (default ice40; with --reuse, "
                                                  "the reused build's)")
    ap.add_argument("--arch", default=None, choices=[*ARCHITECTURES, AUTO],
                    help=f"accelerator architecture (default {DEFAULT_ARCH}: the most images/s among those that "
                         "fit, by the models, fewer DSPs on a tie): "
                         + "; ".join(f"{k}: {a.description}" for k, a in ARCHITECTURES.items()))
    ap.add_argument("--lanes", type=int, default=None, metavar="N",
                    help="the Fire engine's MAC lanes: an even number from 2 to 64 (default 16); the fit check "
                         "refuses what the board cannot hold (iCE40 UP5K: 16, its 8 SB_MAC16)")
    ap.add_argument("--engines", type=engines_arg, default=None, metavar="N|auto",
                    help="N identical Fire engines on successive images (rtl_gen.engine.EngineArray; default 1): "
                         "N times the images/s, each image's latency unchanged; the fit check refuses what the "
                         "board cannot hold; auto: the most the fit model accepts")
    ap.add_argument("--bundle", type=Path, default=None, help=f"network bundle (default {DEFAULT_BUNDLE.name})")
    ap.add_argument("--out", type=Path, default=None, help="output folder (default build/<board>/)")
    ap.add_argument("--seed", type=int, default=1, help="nextpnr placement seed (default 1)")
    ap.add_argument("--baud", type=int, default=None,
                    help="host-link baud rate (default: the architecture's on the board -- the engine's is the fastest "
                         "its USB bridge makes that its clock divides, squeezefire.architectures.ENGINE_BAUD -- "
                         "else 1000000)")
    ap.add_argument("--pll-mhz", type=float, default=None, metavar="MHZ",
                    help="system clock from the board's PLL at this frequency (default: the architecture's on the "
                         "board, squeezefire.architectures; the nearest the PLL makes within 1 %%)")
    ap.add_argument("--allow-timing-fail", action="store_true", help="exit 0 even if the clock is missed")
    ap.add_argument("--reuse", type=Path, default=None, metavar="BUILD",
                    help="new weights without synthesis or place and route: rewrite the block RAMs of the Fire-engine "
                         "build in BUILD (iCE40, ECP5; only read) with --bundle's ROM images, which must make the same "
                         "hardware; the bitstream goes to --out (default BUILD-<bundle name>)")
    ap.add_argument("--timing-driven", action="store_true",
                    help="timing-driven placement where the board skips it for speed (iCE40: higher fmax, ~10 s more)")
    return ap


def _reuse(args) -> int:
    """``--reuse``: the flags a rewrite does not take are refused, not ignored."""
    from squeezefire.reuse import reuse
    given = [flag for flag, value in (("--arch", args.arch), ("--baud", args.baud), ("--lanes", args.lanes),
                                      ("--engines", args.engines), ("--pll-mhz", args.pll_mhz),
                                      ("--timing-driven", args.timing_driven or None)) if value is not None]
    if given:
        raise BuildError(f"--reuse keeps the build's hardware: {given[0]} cannot be given with it")
    if args.bundle is None:
        raise BuildError("--reuse needs --bundle: the bundle whose weights go into the build")
    reuse(args.board, args.bundle, args.reuse, args.out)
    return 0


@command_main
def main(argv=None) -> int:
    """The command (also the ``squeezefire-build`` console script); returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        if args.reuse is not None:
            return _reuse(args)
        build(args.board or "ice40", args.bundle, args.out, args.seed, args.arch or DEFAULT_ARCH, args.allow_timing_fail,
              args.baud, timing_driven=args.timing_driven, lanes=args.lanes, pll_mhz=args.pll_mhz,
              engines=args.engines)
    except TimingError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (BuildError, FitError, ToolError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
