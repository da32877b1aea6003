"""``python -m rtl_gen.build``: bundle -> board bitstream + report.

    python -m rtl_gen.build --board ice40 [--bundle FILE] [--out DIR] [--seed N]
                            [--baud N] [--allow-timing-fail] [--timing-driven]

Steps: load the bundle, make the accelerator, fit check (seconds; refuses a
design that cannot fit), elaborate the board top (``fpga.top.BoardTop``:
accelerator + UART host link + LEDs) with the amaranth-boards platform,
then Yosys, nextpnr (``--seed``, ``--report``) and the bitstream packer,
each run from the build folder.  Writes ``OUT/report.json`` (default
``build/<board>/``) and prints a table.  Timing is judged from nextpnr's
report: a missed clock is reported and exits 1 unless
``--allow-timing-fail``.  Bad input exits 2 with a one-line message and
writes nothing; a failing tool leaves its logs in ``OUT.failed/``.

``--accelerator standin`` (for tests and for exercising the flow) builds
the ``fpga.testing.ClassSumStandIn`` TEST STAND-IN instead of the network.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import shutil
import sys
import time
from pathlib import Path

from rtl_gen.boards import BOARDS, get_board
from rtl_gen.fit import FitError, check_fit, estimate
from rtl_gen.ice40_bram_map import MAP_FILE, fast_map_text, yosys_options
from rtl_gen.toolchain import ToolError, check_tools, overused, plan_commands, run_step

__all__ = ["BuildError", "make_accelerator", "build", "main", "DEFAULT_BUNDLE"]

DEFAULT_BUNDLE = Path(__file__).resolve().parent.parent / "golden" / "reference" / "reference.bundle"
NAME = "top"


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
        layers = bundle.layers
        return ClassSumStandIn(tuple(layers[0]["shape"]), int(layers[-1]["shape"][-1]))
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
    FitError or ToolError with one-line messages."""
    from fpga.top import DEFAULT_BAUD, BoardTop, uart_divisor
    seconds = {}
    t0 = time.monotonic()
    board = get_board(board_key)
    if accelerator not in ACCELERATORS:
        raise BuildError(f"unknown accelerator {accelerator!r}; choose one of: {', '.join(ACCELERATORS)}")
    if not isinstance(seed, int) or seed < 0:
        raise BuildError(f"seed must be a non-negative integer, got {seed!r}")
    check_tools(board)
    out = Path(out) if out is not None else Path("build") / board.key
    bundle = None
    if bundle_path is not None or accelerator == "network":
        bundle = _load_bundle(Path(bundle_path) if bundle_path is not None else DEFAULT_BUNDLE)
    baud = DEFAULT_BAUD if baud is None else baud
    platform = board.platform_class()()
    clock_hz, pll = board.clock()
    try:
        uart_divisor(clock_hz, baud)
    except ValueError as e:
        raise BuildError(str(e)) from None
    seconds["load"] = time.monotonic() - t0

    t = time.monotonic()
    acc = ACCELERATORS[accelerator](bundle, board.style)
    est = estimate(acc, board.device, image_in_bram=board.image_ram == "block")
    check_fit(est, board.device)
    seconds["fit"] = time.monotonic() - t
    print(f"fit estimate ({est.source}): {est.summary(board.device)} -- fits {board.device.name}", flush=True)

    t = time.monotonic()
    top = BoardTop(acc, baud=baud, image_ram=board.image_ram, pll=pll)
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
    # (rtl_gen/ice40_bram_map.py: synthesis 14 s instead of 32 s)
    bram_map = fast_map_text() if board.family == "ice40" else None
    if bram_map is not None:
        opts.update(yosys_options(board.synth_opts, NAME))
    plan = platform.prepare(top, name=NAME, **opts)
    if bram_map is not None:
        plan.add_file(MAP_FILE, bram_map)
    commands = plan_commands(board, plan.files)
    seconds["elaborate"] = time.monotonic() - t

    # Build beside OUT and move into place at the end, so OUT is never half written.
    out.parent.mkdir(parents=True, exist_ok=True)
    work = out.parent / f".{out.name}.partial"
    failed = out.parent / f"{out.name}.failed"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        plan.extract(str(work))
        log = work / "build.log"
        step_names = ["synth", "pnr", "pack"]
        for name, argv in zip(step_names, commands):
            seconds[name] = run_step(name, argv, work, log.resolve(), heartbeat)
    except (ToolError, KeyboardInterrupt) as e:
        shutil.rmtree(failed, ignore_errors=True)
        work.rename(failed)
        if isinstance(e, KeyboardInterrupt):
            raise
        logs = "".join(f.read_text(errors="replace") for f in sorted(failed.glob("*.tim")))
        over = overused(logs)
        fit = f"; does not fit {board.device.name}: {', '.join(over)}" if over else ""
        raise ToolError(f"{e}{fit} (log: {failed / 'build.log'})") from None

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
    weight_bits = getattr(acc, "weight_bits", None)
    if callable(weight_bits):
        weight_bits = weight_bits()
    if weight_bits is None:
        weight_bits = bundle.weight_bits() if bundle is not None and accelerator == "network" else 0
    seconds["total"] = time.monotonic() - t0
    report = {
        "board": board.key, "board_title": board.title, "device": board.device.name,
        "accelerator": accelerator if accelerator == "network" else "standin (TEST STAND-IN, not the network)",
        "seed": seed,
        "lut_used": lut_used, "lut_total": lut_total,
        "dsp_used": dsp_used, "dsp_total": dsp_total,
        "bram_used": bram_used, "bram_total": bram_total, "bram_block_bits": board.device.bram_block_bits,
        "spram_used": spram_used, "spram_total": spram_total,
        "estimate": est.as_dict(),
        "fmax_mhz": round(fmax, 2) if fmax is not None else None, "clock_mhz": clock_mhz,
        "clock_source": pll.describe() if pll is not None else "oscillator",
        "timing_met": timing_met,
        "cycles_per_frame": cycles, "frames_per_s": round(clock_hz / cycles, 1),
        "baud": baud, "link_frames_per_s": round(baud / 10 / (req_bytes + rep_bytes), 1),
        "weight_bits": weight_bits,
        "bitstream": str(out / bitstream.name),
        "bitstream_sha256": hashlib.sha256(bitstream.read_bytes()).hexdigest(),
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
    }
    (work / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    work.rename(out)
    shutil.rmtree(failed, ignore_errors=True)
    print_table(report)
    if not timing_met:
        msg = (f"timing FAILED: fmax {report['fmax_mhz']} MHz < clock {clock_mhz:g} MHz"
               if fmax is not None else "timing unknown: nextpnr reported no fmax")
        if not allow_timing_fail:
            raise TimingError(msg)
        print(f"warning: {msg} (--allow-timing-fail)")
    return report


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
