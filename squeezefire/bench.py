"""Whole-network benchmark per architecture (a report, not a test).

    python -m squeezefire.bench [--arch pipeline,engine] [--networks reference,bypass-simple,...] [--json FILE]

Simulates each network on each architecture as the iCEBreaker build makes
it (``squeezefire.compare.simulated_design``: the engine on Yosys's
``SB_MAC16`` and the SPRAM model), two frames back to back with no stalls,
checks every class sum against ``golden.intref`` (a wrong result fails the
run), and reports per pair: simulated cycles per image (the second frame),
the cycle model's figure, MACs per image, MAC lanes, utilisation = MACs ÷
(lanes × simulated cycles), and images/s at the architecture's iCEBreaker
clock (``squeezefire.architectures.arch_clock``).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


from fpga.boards import get_board
from golden.bad_input import BadInput
from golden.command import ArgumentParser, command_main
from golden.writable import check_file_out
from golden import atomic, intref
from squeezefire.architectures import arch_clock, network_architectures
from squeezefire.cli import prog_name
from squeezefire.compare import simulated_design

NETWORKS = ("reference", "bypass-simple", "bypass-complex")


def network(name: str):
    """(bundle, two images) of a benchmark network."""
    from sim.lib.network_cases import fashion_images, random_network, reference, small_bypass_spec
    if name == "reference":
        return reference(), fashion_images(2)
    bundle, images = random_network(small_bypass_spec(name.split("-")[1]), seed=21, calib_images=4)
    return bundle, images[:2]


def measure(name: str, arch: str) -> dict:
    from sim.lib.network_sim import run_network
    bundle, images = network(name)
    sums, classes = intref.classify(bundle, images)
    board = get_board("ice40")
    design = simulated_design(bundle, arch, board)
    acc = design.accelerator
    res = run_network(f"bench-{name}-{design.key}", acc, images, sums, classes, models=design.models)
    if not res["passed"]:
        raise SystemExit(f"{name} on {arch}: {res['message']}")
    cycles = res["cycles_per_frame"][-1]
    clock_hz = arch_clock(board, arch)[0]
    return {"network": name, "arch": arch, "design": design.label, "cycles_per_image_simulated": cycles,
            "cycles_per_image_model": int(acc.cycles_per_frame), "macs_per_image": int(acc.macs_per_frame),
            "mac_lanes": int(acc.mac_lanes), "utilisation": acc.macs_per_frame / (acc.mac_lanes * cycles),
            "clock_mhz": clock_hz / 1e6, "images_per_s": clock_hz / cycles}


def _names(value: str, known, flag: str) -> list[str]:
    """A comma-separated list of known names, or BadInput naming the first other."""
    names = value.split(",")
    for name in names:
        if name not in known:
            raise BadInput(f"{flag} {name!r}: not one of {', '.join(known)}")
    return names


@command_main
def main(argv=None) -> int:
    ap = ArgumentParser(prog=prog_name("python -m squeezefire.bench"), description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default=",".join(network_architectures()))
    ap.add_argument("--networks", default=",".join(NETWORKS))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    networks = _names(args.networks, list(NETWORKS), "--networks")
    archs = _names(args.arch, list(network_architectures()), "--arch")
    if args.json is not None:
        check_file_out(args.json, "--json")
    rows = [measure(n, a) for n in networks for a in archs]
    print(f"{'network':<16} {'arch':<9} {'cycles (sim)':>13} {'model':>10} {'MACs':>10} {'lanes':>5} "
          f"{'util':>6} {'MHz':>5} {'images/s':>9}")
    for r in rows:
        print(f"{r['network']:<16} {r['arch']:<9} {r['cycles_per_image_simulated']:>13,} "
              f"{r['cycles_per_image_model']:>10,} {r['macs_per_image']:>10,} {r['mac_lanes']:>5} "
              f"{r['utilisation']:>6.3f} {r['clock_mhz']:>5.0f} {r['images_per_s']:>9.1f}")
    if args.json:
        atomic.write_text(args.json, json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
