"""The sweep's tables: ``points.csv`` (one row per network),
``hardware.csv`` (one row per network, weight format, board and
architecture; every hardware figure is the model's) and ``dse.json``
(everything, with the schedule and the measured wall time)."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from golden import atomic
from squeezefire.dse.point import PointResult

POINT_KEYS = ("sr", "pct3x3", "base_e", "incr_e", "freq", "bypass", "conv1")


def csv_text(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def point_rows(results: list[PointResult]) -> list[dict]:
    rows = []
    for r in results:
        row = {"name": r.name, **{k: r.point[k] for k in POINT_KEYS}, "params": r.params, "macs": r.macs,
               "float_top1": r.float_top1, "int8_top1": r.int8_top1, "weight_bits_int8": r.weight_bits_int8}
        for bits in sorted(r.codebook_top1):
            row[f"top1_b{bits}"] = r.codebook_top1[bits]
            row[f"weight_bits_b{bits}"] = r.codebook_weight_bits[bits]
        up5k = next((c for c in r.hardware.get("int8", []) if (c["board"], c["arch"]) == ("ice40", "engine")), None)
        row["ice40_engine_images_per_s_model"] = up5k["images_per_s"] if up5k else None
        rows.append(row)
    return rows


def hardware_rows(results: list[PointResult]) -> list[dict]:
    rows = []
    for r in results:
        for weights, columns in r.hardware.items():
            bits = int(weights[1:]) if weights.startswith("b") else None
            top1 = r.codebook_top1.get(bits) if bits else r.int8_top1
            wbits = r.codebook_weight_bits.get(bits) if bits else r.weight_bits_int8
            for c in columns:
                rows.append({"name": r.name, **{k: r.point[k] for k in POINT_KEYS}, "weights": weights,
                             "weight_bits": wbits, "top1": top1, "board": c["board"], "arch": c["arch"],
                             "fits_model": c["fits"], "lut_model": c["lut"], "dsp_model": c["dsp"],
                             "bram_model": c["bram"], "cycles_per_image_model": c["cycles_per_image"],
                             "images_per_s_model": c["images_per_s"], "clock_mhz": c["clock_mhz"],
                             "why_not": c["why"]})
    return rows


def write_tables(out: Path, results: list[PointResult], run: dict) -> list[Path]:
    paths = [out / "points.csv", out / "hardware.csv", out / "dse.json"]
    atomic.write_text(paths[0], csv_text(point_rows(results)))
    atomic.write_text(paths[1], csv_text(hardware_rows(results)))
    atomic.write_text(paths[2], json.dumps({"run": run, "points": [r.as_dict() for r in results]}, indent=1) + "\n")
    return paths
