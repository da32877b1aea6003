"""Throughput benchmark of the Fire accelerator (a report, not a test).

    python sim/fire_bench.py [--json FILE] [--cases fire2,fire4_like,...] [--frames 2]

Simulates each case with no stalls, frames back to back, checks the output
bit-exact (a wrong result fails the run), and reports per case: simulated
cycles per frame (the last frame, i.e. steady state), the ideal cycles
(MACs / MAC lanes), utilisation = ideal / simulated, the MAC lanes and the
simulation speed (simulated cycles per wall-clock second of the checked run, testbench
included; process start and build excluded).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from golden.bad_input import BadInput  # noqa: E402
from golden.command import ArgumentParser, command_main  # noqa: E402
from golden.counts import check_count  # noqa: E402
from golden.writable import check_file_out  # noqa: E402
from rtl_gen.pipeline.fire import Fire, Folding  # noqa: E402
from sim.lib.fire_cases import fire2, random_fire  # noqa: E402
from sim.lib.fire_sim import run_fire_case
from sim.lib.stimulus import FireStimulus  # noqa: E402

GOAL = 0.90

CASES = {
    "fire2": lambda frames: (fire2(frames), None),
    "fire4_like": lambda frames: (random_fire(128, 32, 128, 128, 27, 27, frames, seed=11), None),
    "fire2_narrow": lambda frames: (random_fire(64, 16, 64, 64, 13, 13, frames, seed=12), Folding(1, 1, 8)),
    "small_16x16": lambda frames: (random_fire(16, 4, 16, 16, 13, 13, frames, seed=13), None),
    "odd_1x13": lambda frames: (random_fire(3, 5, 7, 9, 1, 13, frames, seed=14), None),
}


def explain(fire: Fire, simulated: float) -> str:
    """Why a case is below the goal: the slowest stage per pixel."""
    per_pixel = fire.folding.cycles_per_pixel(fire.cin, fire.s1x1, fire.e1x1, fire.e3x3)
    bound = max(per_pixel, key=per_pixel.get)
    macs = {k: per_pixel[k] for k in ("squeeze", "expand1x1", "expand3x3")}
    pixels = fire.height * fire.width
    if bound not in macs:
        return f"{bound} stream bound: {per_pixel[bound]:.0f} cycles/pixel > MAC stages {max(macs.values()):.0f}"
    if max(macs.values()) > 1.05 * min(macs.values()):
        return ("unbalanced folding: cycles/pixel " + ", ".join(f"{k} {v:.0f}" for k, v in macs.items()))
    return (f"pipeline fill/drain: {simulated / pixels:.0f} cycles/pixel vs {max(macs.values()):.0f} "
            f"on a {fire.height}x{fire.width} frame")


@command_main
def main(argv=None) -> int:
    ap = ArgumentParser(prog="python sim/fire_bench.py", description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--frames", type=int, default=2)
    args = ap.parse_args(argv)
    cases = args.cases.split(",")
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        raise BadInput(f"--cases {unknown[0]!r}: not one of {', '.join(CASES)}")
    check_count(args.frames, "--frames", 1, 100)
    if args.json is not None:
        check_file_out(args.json, "--json")
    rows = []
    for name in cases:
        case, folding = CASES[name](args.frames)
        fire = Fire.from_bundle(case.bundle, case.layer, folding)
        result = run_fire_case(f"bench_{name}", fire, case.images, case.expected, FireStimulus(seed=0))
        if not result.passed:
            print(f"{name}: FAILED\n{result.message}", file=sys.stderr)
            return 1
        pixels = fire.height * fire.width
        ideal = fire.macs_per_pixel() * pixels / fire.folding.lanes
        simulated = result.cycles_per_frame[-1]
        row = {"case": name, "shape": [fire.height, fire.width, fire.cin, fire.s1x1, fire.e1x1, fire.e3x3],
               "folding": [fire.folding.squeeze, fire.folding.expand1x1, fire.folding.expand3x3],
               "mac_lanes": fire.folding.lanes, "cycles_per_frame": simulated, "ideal_cycles": ideal,
               "utilisation": ideal / simulated, "first_frame_cycles": result.cycles_per_frame[0],
               "sim_cycles": result.sim_cycles, "sim_seconds": round(result.sim_seconds, 2),
               "cycles_per_second": result.run_cycles / result.run_seconds,
               "build_seconds": round(result.build_seconds, 2)}
        row["note"] = "" if row["utilisation"] >= GOAL else explain(fire, simulated)
        rows.append(row)
        print(f"done {name}", file=sys.stderr, flush=True)

    head = (f"{'case':<13} {'HxW Cin>S>E1+E3':<22} {'lanes s/e1/e3':<14} {'MAC':>4} {'cycles/frame':>13} "
            f"{'ideal':>12} {'util':>6} {'sim cyc/s':>10}")
    print(head)
    print("-" * len(head))
    for r in rows:
        h, w, cin, s, e1, e3 = r["shape"]
        print(f"{r['case']:<13} {f'{h}x{w} {cin}>{s}>{e1}+{e3}':<22} {'/'.join(map(str, r['folding'])):<14} "
              f"{r['mac_lanes']:>4} {r['cycles_per_frame']:>13,} {r['ideal_cycles']:>12,.0f} "
              f"{r['utilisation']:>6.3f} {r['cycles_per_second']:>10,.0f}" + (f"  ({r['note']})" if r["note"] else ""))
    fire2_rows = [r for r in rows if r["case"] == "fire2"]
    if fire2_rows:
        u = fire2_rows[0]["utilisation"]
        print(f"\nfire2 utilisation {u:.3f}: goal {GOAL} " + ("met" if u >= GOAL else "NOT met: " + fire2_rows[0]["note"]))
    if args.json:
        args.json.write_text(json.dumps({"goal": GOAL, "cases": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
