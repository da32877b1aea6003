"""Chip (simulated) vs integer golden vs float model, on real images.

    python golden/compare.py [--images N] [--bundle FILE] [--json FILE] [--dump DIR]

Evaluates the float model and the int8 integer reference (``golden.intref``)
on the whole Fashion-MNIST test set, runs the first N test images through
the accelerator generated from the bundle (``rtl_gen.network``) in a
cocotb + Verilator simulation, and prints a table.  Exits 1 when any RTL
output differs from golden in any value, 2 on bad input or a missing
simulator.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

if __package__ in (None, ""):      # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import torch

from golden import data, intref
from golden.bundle import Bundle, BundleError
from golden.quantize import REFERENCE_BUNDLE, REFERENCE_CHECKPOINT, load_reference_model
from golden.train import to_float


def float_predictions(model, images: np.ndarray, batch: int = 1000) -> np.ndarray:
    with torch.no_grad():
        return np.concatenate([model(to_float(images[i:i + batch])).argmax(1).numpy()
                               for i in range(0, len(images), batch)])


def evaluate(bundle: Bundle, model, images: np.ndarray, labels: np.ndarray) -> dict:
    t0 = time.time()
    pf = float_predictions(model, images)
    t1 = time.time()
    _, pq = intref.classify(bundle, images)
    t2 = time.time()
    return {
        "network": bundle.name,
        "dataset": "fashion-mnist/test",
        "images_golden": int(len(images)),
        "float_top1": float(np.mean(pf == labels)),
        "int8_top1": float(np.mean(pq == labels)),
        "float_int8_agreement": float(np.mean(pf == pq)),
        "seconds": {"float": round(t1 - t0, 2), "int8": round(t2 - t1, 2)},
    }


def simulate_rtl(bundle: Bundle, images: np.ndarray, golden_sums: np.ndarray, style: str = "small") -> dict:
    """The first images through the generated accelerator in simulation."""
    from rtl_gen.network import Network
    from sim.network_sim import run_network
    t0 = time.time()
    net = Network(bundle, style=style)
    res = run_network(f"compare-{bundle.name}-{style}", net, images)
    if "sums" not in res["arrays"]:
        raise RuntimeError(f"the simulation produced no output: {res.get('message')}")
    sums, classes = res["arrays"]["sums"], res["arrays"]["argmax"]
    cycles = res["cycles_per_frame"]
    steady = cycles[1:] or cycles
    return {
        "sums": sums, "classes": classes,
        "rtl_mismatches": int(sum(not np.array_equal(sums[i], golden_sums[i]) for i in range(len(images)))),
        "cycles_per_image": int(max(steady)) if steady else None,
        "first_image_cycles": int(cycles[0]) if cycles else None,
        "style": style, "mac_lanes": net.mac_lanes,
        "mac_utilisation": (net.macs_per_frame / (net.mac_lanes * max(steady))) if steady else None,
        "seconds": {"rtl_build": round(res["build_seconds"], 1), "rtl_sim": round(res["sim_seconds"], 1),
                    "rtl_total": round(time.time() - t0, 1)},
    }


def dump(directory: Path, bundle_path: Path, images, rtl_sums, rtl_classes, golden_sums, golden_classes):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "network.bundle").write_bytes(Path(bundle_path).read_bytes())
    np.save(directory / "images.npy", images)
    np.save(directory / "rtl_sums.npy", rtl_sums.astype(np.int32))
    np.save(directory / "rtl_classes.npy", rtl_classes.astype(np.int64))
    np.save(directory / "golden_sums.npy", golden_sums.astype(np.int32))
    np.save(directory / "golden_classes.npy", golden_classes.astype(np.int64))
    (directory / "README.md").write_text(f"""# RTL vs golden dump

Written by `python golden/compare.py --dump`.  N = {len(images)} images.

| file | contents |
|---|---|
| `network.bundle` | the quantized network (format: docs/bundle.md of the project) |
| `images.npy` | uint8 (N, H, W, C): the input images, NHWC, raw pixels |
| `rtl_sums.npy` | int32 (N, classes): the simulated accelerator's class sums (int8 contract: sum over H*W of conv10's uint8 output) |
| `rtl_classes.npy` | int64 (N,): the accelerator's argmax class |
| `golden_sums.npy` | int32 (N, classes): the same from the integer reference `golden/intref.py` |
| `golden_classes.npy` | int64 (N,): golden argmax, ties to the lowest index |

An independent checker re-runs the bundle on `images.npy` with its own
implementation of docs/int8.md and compares with both, value by value.
""")


def table(r: dict) -> str:
    rows = [("network", r["network"]), ("dataset", f"{r['dataset']} ({r['images_golden']} images)"),
            ("float top-1", f"{r['float_top1']:.4f}"), ("int8 top-1", f"{r['int8_top1']:.4f}"),
            ("float - int8", f"{r['float_top1'] - r['int8_top1']:+.4f}"),
            ("float/int8 agreement", f"{r['float_int8_agreement']:.4f}")]
    if r.get("images_rtl"):
        rows += [("RTL top-1", f"{r['rtl_top1']:.4f} (first {r['images_rtl']} images)"),
                 ("RTL vs golden mismatches", f"{r['rtl_mismatches']} of {r['images_rtl']} images"),
                 ("cycles per image", f"{r['cycles_per_image']} (steady state; first image "
                                      f"{r['first_image_cycles']} incl. pipeline fill)"),
                 ("MAC utilisation", f"{r['mac_utilisation']:.3f} ({r['mac_lanes']} MAC lanes, {r['style']} style)")]
    w = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{w}}  {v}" for k, v in rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python golden/compare.py", description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, default=REFERENCE_BUNDLE, help="quantized network (default: the reference)")
    ap.add_argument("--checkpoint", type=Path, default=REFERENCE_CHECKPOINT, help="float model of the same network")
    ap.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    ap.add_argument("--images", type=int, default=20, help="test images to run through the simulated RTL (0: none)")
    ap.add_argument("--dump", type=Path, help="write bundle, images, RTL and golden outputs here")
    ap.add_argument("--style", choices=("small", "fast"), default="small",
                    help="accelerator style simulated (default small: the iCE40 UP5K build's)")
    args = ap.parse_args(argv)
    if args.images < 0:
        ap.error(f"--images must be >= 0, got {args.images}")
    torch.set_num_threads(2)
    try:
        bundle = Bundle.load(args.bundle)
        model = load_reference_model(args.checkpoint)
        images, labels = data.load("test")
    except (BundleError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if list(images.shape[1:]) != bundle.layers[0]["shape"]:
        print(f"error: bundle {args.bundle} expects input {bundle.layers[0]['shape']}, "
              f"Fashion-MNIST images are {list(images.shape[1:])}", file=sys.stderr)
        return 2
    r = evaluate(bundle, model, images, labels)
    n = min(args.images, len(images))
    if n:
        from sim.cocotb_run import SimulatorMissing
        golden_sums, golden_classes = intref.classify(bundle, images[:n])
        try:
            rtl = simulate_rtl(bundle, images[:n], golden_sums, args.style)
        except SimulatorMissing as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        r.update(images_rtl=n, rtl_top1=float(np.mean(rtl["classes"] == labels[:n])),
                 rtl_golden_class_agreement=float(np.mean(rtl["classes"] == golden_classes)),
                 **{k: v for k, v in rtl.items() if k not in ("sums", "classes", "seconds")})
        r["seconds"].update(rtl["seconds"])
        if args.dump:
            dump(args.dump, args.bundle, images[:n], rtl["sums"], rtl["classes"], golden_sums, golden_classes)
    print(table(r))
    if args.json:
        tmp = args.json.with_name(args.json.name + ".tmp")
        tmp.write_text(json.dumps(r, indent=2) + "\n")
        tmp.replace(args.json)
        print(f"wrote {args.json}")
    if args.dump and n:
        print(f"wrote {args.dump}/ (see its README.md)")
    if r.get("rtl_mismatches"):
        print(f"error: {r['rtl_mismatches']} of {n} images differ between RTL and golden", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
