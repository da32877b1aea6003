"""``--validate N``: the models against measurement on N points.

For each point, the narrowest weight format whose first board and
architecture fit by the model (the iCEBreaker's engine first) is built for
real (``rtl_gen.build``: nextpnr's LUTs and fmax) and simulated on two
images (cycles per image, and every class sum against ``golden.intref``).
Prints and writes ``validation.csv``: model, measurement and error.
Targets (issue 15): LUTs within 10 % of nextpnr, cycles within 5 % of
simulation.
"""
from __future__ import annotations

from pathlib import Path


from golden import intref
from golden.bundle import Bundle
from golden.quantize import calibration_images
from squeezefire.dse.grid import DsePoint
from squeezefire.dse.point import PointResult
from squeezefire.dse.report import csv_text
from fpga.boards import get_board
from golden import atomic

ORDER = (("ice40", "engine"), ("ice40", "pipeline"), ("ecp5", "engine"), ("ecp5", "pipeline"))


def _choice(result: PointResult) -> tuple[str, dict] | None:
    for weights in sorted(result.hardware, key=lambda w: (w == "int8", w)):     # codebooks first
        for board, arch in ORDER:
            col = next(c for c in result.hardware[weights] if (c["board"], c["arch"]) == (board, arch))
            if col["fits"]:
                return weights, col
    return None


def _measure(out: Path, point: DsePoint, weights: str, col: dict) -> dict:
    from squeezefire.build import build
    from squeezefire.compare import simulate_rtl
    bundle_path = out / "points" / f"{point.key}.{weights}.bundle"
    bundle = Bundle.load(bundle_path)
    report = build(col["board"], bundle_path, out / "validate" / f"{point.key}.{weights}.{col['board']}-{col['arch']}",
                   arch=col["arch"], allow_timing_fail=True)
    images = calibration_images(2)
    sums, _ = intref.classify(bundle, images)
    sim = simulate_rtl(bundle, images, sums, col["arch"], get_board(col["board"]))
    return {"lut_nextpnr": report.lut_used, "fmax_mhz": report.fmax_mhz, "clock_mhz": report.clock_mhz,
            "cycles_simulated": sim.cycles_per_image, "rtl_mismatches": sim.rtl_mismatches}


def validate(out: Path, points: list[DsePoint], results: list[PointResult], n: int) -> list[Path]:
    rows = []
    for point, result in zip(points, results):
        if len(rows) == n:
            break
        choice = _choice(result)
        if choice is None:
            continue
        weights, col = choice
        try:
            m = _measure(out, point, weights, col)
        except Exception as e:      # a tool or simulation failure is a finding, not a crash of the sweep
            print(f"validation of {result.name} ({weights}, {col['board']} {col['arch']}) failed: "
                  f"{str(e).splitlines()[0] if str(e) else type(e).__name__}")
            continue
        rows.append({"name": result.name, "weights": weights, "board": col["board"], "arch": col["arch"],
                     "lut_model": col["lut"], "lut_nextpnr": m["lut_nextpnr"],
                     "lut_error": round((col["lut"] - m["lut_nextpnr"]) / m["lut_nextpnr"], 4),
                     "cycles_model": col["cycles_per_image"], "cycles_simulated": m["cycles_simulated"],
                     "cycles_error": round((col["cycles_per_image"] - m["cycles_simulated"]) / m["cycles_simulated"], 4),
                     "fmax_mhz": m["fmax_mhz"], "clock_mhz": m["clock_mhz"], "rtl_mismatches": m["rtl_mismatches"]})
        print(" ".join(f"{k}={v}" for k, v in rows[-1].items()))
    if not rows:
        print("validation: no point fits any board by the model")
        return []
    path = out / "validation.csv"
    atomic.write_text(path, csv_text(rows))
    worst_lut = max(abs(r["lut_error"]) for r in rows)
    worst_cycles = max(abs(r["cycles_error"]) for r in rows)
    print(f"validation: worst LUT error {worst_lut:.1%} (target 10 %), worst cycle error {worst_cycles:.1%} "
          f"(target 5 %), RTL mismatches {sum(r['rtl_mismatches'] for r in rows)}")
    return [path]
