"""``python -m rtl_gen.build``: bundle -> board bitstream + report.

    python -m rtl_gen.build --board ice40 [--bundle FILE] [--out DIR] [--seed N]
                            [--baud N] [--allow-timing-fail] [--timing-driven]

Steps: load the bundle, make the accelerator, fit check (seconds; refuses a
design that cannot fit), elaborate the board top (``fpga.top.BoardTop``:
accelerator + UART host link + LEDs) with the amaranth-boards platform,
then Yosys (the design's Verilog ``top.v``, then synthesis), nextpnr
(``--seed``, ``--report``) and the bitstream packer, each run from the
build folder.  Writes ``OUT/`` (default ``build/<board>/``: bitstream,
``top.v``, ``report.json``, logs) and prints a table.  Timing is judged
from nextpnr's report: a missed clock is reported and exits 1 unless
``--allow-timing-fail``.  Bad input exits 2 with a one-line message and
writes nothing; a failing tool leaves its logs in ``OUT.failed/``.

``OUT`` follows ``squeezefire.safe_output``: built beside it and renamed
into place; it replaces only a previous output of this command (marked by
``OUT/.rtl_gen-build``), and any other non-empty folder, ``.``, a parent of
the current or the project folder, a file, or an unwritable place is
refused before any work.

``--accelerator standin`` (for tests and for exercising the flow) builds
the ``fpga.testing.ClassSumStandIn`` TEST STAND-IN instead of the network.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from fpga.boards import BOARDS, get_board
from fpga.ice40_bram_map import MAP_FILE, fast_map_text, yosys_options
from fpga.toolchain import (VERILOG_SCRIPT, ToolError, check_tools, overused, plan_commands, run_step,
                            verilog_command, verilog_script)
from rtl_gen.fit import FitError, check_fit, estimate
from squeezefire.safe_output import check_output_dir, staged_output_dir

__all__ = ["BuildError", "make_accelerator", "prepare_plan", "build", "main", "DEFAULT_BUNDLE", "MARKER"]

DEFAULT_BUNDLE = Path(__file__).resolve().parent.parent / "golden" / "reference" / "reference.bundle"
NAME = "top"
# names OUT/ as a previous output of this command, listing what it wrote
MARKER = ".rtl_gen-build"
STEPS = ("verilog", "synth", "pnr", "pack")


class BuildError(Exception):
    """Bad input or an impossible build (one-line message)."""


def make_accelerator(bundle, style: str = "fast"):
    """The one place the whole-network accelerator is made from a bundle.

    Contract (what ``fpga.top.BoardTop`` and the link rely on): a
    ``wiring.Component`` with ``i: In(rtl_gen.stream.Signature(1))``,
    ``o: Out(stream.Signature(StructLayout({"data": signed(32), "argmax":
    unsigned(<=8), "first": 1, "last": 1})))``, and attributes ``in_shape``,
    ``num_classes``, ``cycles_per_frame``; optionally ``resource_estimate``
    (see ``rtl_gen.fit``) and ``weight_bits``.
    """
    try:
        from rtl_gen.network import Network
    except ImportError:
        raise BuildError("whole-network generator not available yet (rtl_gen.network.Network); "
                         "use --accelerator standin to exercise the flow") from None
    try:
        return Network(bundle, style=style)
    except ValueError as e:
        raise BuildError(f"cannot generate the network: {e}") from None


def make_standin(bundle=None, style: str = "fast"):
    from fpga.testing import ClassSumStandIn
    if bundle is not None:
        return ClassSumStandIn(tuple(bundle.input.shape), bundle.output.shape.c)
    return ClassSumStandIn((28, 28, 1), 10)


ACCELERATORS = {"network": make_accelerator, "standin": make_standin}


def _load_bundle(path: Path):
    if not path.is_file():
        raise BuildError(f"bundle file not found: {path}")
    from golden.bundle import Bundle
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


def build(board_key: str, bundle_path=None, out=None, seed: int = 1, accelerator: str = "network",
          allow_timing_fail: bool = False, baud: int | None = None, heartbeat: float = 15.0,
          timing_driven: bool = False) -> dict:
    """Run the whole flow; returns the report dict.  Raises BuildError,
    FitError, OutputError or ToolError with one-line messages, every bad
    input before the fit check and the tools."""
    from fpga.top import BoardTop
    seconds = {}
    t0 = time.monotonic()
    inputs = _check_inputs(board_key, bundle_path, out, seed, accelerator, baud)
    board = inputs.board
    clock_hz, pll = board.clock()
    seconds["load"] = time.monotonic() - t0

    t = time.monotonic()
    acc = ACCELERATORS[accelerator](inputs.bundle, board.style)
    est = estimate(acc, board.device, image_in_bram=board.image_ram == "block")
    check_fit(est, board.device)
    seconds["fit"] = time.monotonic() - t
    print(f"fit estimate ({est.source}): {est.summary(board.device)} -- fits {board.device.name}", flush=True)

    t = time.monotonic()
    top = BoardTop(acc, baud=inputs.baud, image_ram=board.image_ram, pll=pll)
    plan = prepare_plan(board, top, seed, timing_driven)
    commands = [verilog_command(board), *plan_commands(board, plan.files)]
    seconds["elaborate"] = time.monotonic() - t

    with staged_output_dir(inputs.out, MARKER, f"python -m rtl_gen.build --board {board.key}",
                           keep_failed_on=(ToolError, KeyboardInterrupt)) as stage:
        _run_tools(board, plan, commands, stage, heartbeat, seconds)
        seconds["total"] = time.monotonic() - t0
        report = _report(inputs, stage.path, acc, est, clock_hz, pll, seconds)
        (stage.path / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    if not report["timing_met"]:
        msg = (f"timing FAILED: fmax {report['fmax_mhz']} MHz < clock {report['clock_mhz']:g} MHz"
               if report["fmax_mhz"] is not None else "timing unknown: nextpnr reported no fmax")
        if not allow_timing_fail:
            raise TimingError(msg)
        print(f"warning: {msg} (--allow-timing-fail)")
    return report


@dataclass(frozen=True)
class _Inputs:
    board: object               # fpga.boards.Board
    out: Path
    bundle: object              # golden.bundle.Bundle or None (the stand-in without --bundle)
    baud: int
    accelerator: str
    seed: int


def _check_inputs(board_key, bundle_path, out, seed, accelerator, baud) -> _Inputs:
    """Every input checked, the output folder first (``squeezefire.safe_output``),
    in a second or two."""
    from fpga.board_core import DEFAULT_BAUD, check_baud
    board = get_board(board_key)
    if accelerator not in ACCELERATORS:
        raise BuildError(f"unknown accelerator {accelerator!r}; choose one of: {', '.join(ACCELERATORS)}")
    if not isinstance(seed, int) or seed < 0:
        raise BuildError(f"seed must be a non-negative integer, got {seed!r}")
    out = Path(out) if out is not None else Path("build") / board.key
    check_output_dir(out, MARKER)
    check_tools(board)
    baud = DEFAULT_BAUD if baud is None else baud
    check_baud(board.clock()[0], baud)
    bundle = None
    if bundle_path is not None or accelerator == "network":
        bundle = _load_bundle(Path(bundle_path) if bundle_path is not None else DEFAULT_BUNDLE)
    return _Inputs(board, out, bundle, baud, accelerator, seed)


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


def _weight_bits(acc, inputs: _Inputs) -> int:
    weight_bits = getattr(acc, "weight_bits", None)
    if callable(weight_bits):
        weight_bits = weight_bits()
    if weight_bits is None:
        weight_bits = inputs.bundle.weight_bits() if inputs.accelerator == "network" else 0
    return weight_bits


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
    cycles = int(acc.cycles_per_frame)
    req_bytes, rep_bytes = _link_frame_bytes(acc.in_shape, acc.num_classes)
    return {
        "board": board.key, "board_title": board.title, "device": board.device.name,
        "accelerator": inputs.accelerator if inputs.accelerator == "network"
        else "standin (TEST STAND-IN, not the network)",
        "seed": inputs.seed,
        "lut_used": lut_used, "lut_total": lut_total,
        "dsp_used": dsp_used, "dsp_total": dsp_total,
        "bram_used": bram_used, "bram_total": bram_total, "bram_block_bits": board.device.bram_block_bits,
        "spram_used": spram_used, "spram_total": spram_total,
        "estimate": est.as_dict(),
        "fmax_mhz": round(fmax, 2) if fmax is not None else None, "clock_mhz": clock_mhz,
        "clock_source": pll.describe() if pll is not None else "oscillator",
        "timing_met": timing_met,
        "cycles_per_frame": cycles, "frames_per_s": round(clock_hz / cycles, 1),
        "baud": inputs.baud, "link_frames_per_s": round(inputs.baud / 10 / (req_bytes + rep_bytes), 1),
        "weight_bits": _weight_bits(acc, inputs),
        "bitstream": str(out / bitstream.name),
        "bitstream_sha256": hashlib.sha256(bitstream.read_bytes()).hexdigest(),
        "verilog": str(out / f"{NAME}.v"),
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
    }


class TimingError(Exception):
    """nextpnr missed the clock (exit 1 unless --allow-timing-fail)."""


def print_table(r: dict) -> None:
    e = r["estimate"]
    rows = [
        ("board", f"{r['board']} -- {r['board_title']} ({r['device']})"),
        ("accelerator", r["accelerator"]),
        ("LUT", f"{r['lut_used']} / {r['lut_total']}   (estimate {e['lut']})"),
        ("DSP", f"{r['dsp_used']} / {r['dsp_total']}   (estimate {e['dsp']})"),
        ("BRAM blocks", f"{r['bram_used']} / {r['bram_total']}   (estimate {e['bram_blocks']})"),
        ("SPRAM", f"{r['spram_used']} / {r['spram_total']}"),
        ("clock", f"{r['clock_mhz']:g} MHz, fmax {r['fmax_mhz']} MHz -- "
                  f"{'met' if r['timing_met'] else 'NOT MET'}; {r['clock_source']}"),
        ("frame", f"{r['cycles_per_frame']} cycles = {r['frames_per_s']} frames/s compute; "
                  f"{r['link_frames_per_s']} frames/s over the {r['baud']} baud link"),
        ("weights", f"{r['weight_bits']} bits"),
        ("bitstream", r["bitstream"]),
        ("seconds", ", ".join(f"{k} {v}" for k, v in r["seconds"].items())),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rtl_gen.build", description=__doc__.splitlines()[0])
    ap.add_argument("--board", default="ice40", help=f"one of: {', '.join(BOARDS)} (default ice40)")
    ap.add_argument("--bundle", type=Path, default=None, help=f"network bundle (default {DEFAULT_BUNDLE.name})")
    ap.add_argument("--out", type=Path, default=None, help="output folder (default build/<board>/)")
    ap.add_argument("--seed", type=int, default=1, help="nextpnr placement seed (default 1)")
    ap.add_argument("--baud", type=int, default=None, help="host-link baud rate (default 1000000)")
    ap.add_argument("--allow-timing-fail", action="store_true", help="exit 0 even if the clock is missed")
    ap.add_argument("--timing-driven", action="store_true",
                    help="timing-driven placement where the board skips it for speed (iCE40: higher fmax, ~10 s more)")
    ap.add_argument("--accelerator", default="network", choices=sorted(ACCELERATORS),
                    help="'standin' builds the TEST STAND-IN (fpga.testing) instead of the network")
    args = ap.parse_args(argv)
    try:
        build(args.board, args.bundle, args.out, args.seed, args.accelerator, args.allow_timing_fail, args.baud,
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
