"""Zero weights per Fire-engine pass, and what skipping them would save by
the cycle model (``docs/compression.md``, "Zero weights and the engine").

    python -m squeezefire.zero_taps --bundle FILE.bundle

The engine issues ``period = max(K, lanes written, 4)`` cycles per output
pixel and group, all its lanes at once (``docs/engine.md``; 16 unless
``--lanes``): each cycle is
one tap (ky, kx, ci) for every lane.  A zero weight is skippable only where
the same tap is zero in every lane of the group, so this counts, per pass:
the zero weights (what ``--prune`` made, plus weights that round to 0),
the taps zero across all the group's lanes (lanes past ``cout`` hold
nothing, so they count as zero), and the issue cycles a skipping sequencer
would take -- per group ``max(K - skippable, lanes written, 4)`` per pixel
-- against the model's.  Nothing here changes the hardware; the figures are
the cycle model's.  Lives in ``squeezefire`` because the passes are the
engine's program (``rtl_gen.engine.program``), which ``golden`` may not import.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from golden.bundle import Bundle
from golden.command import ArgumentParser, command_main
from rtl_gen.engine.program import DEFAULT_LANES, MIN_PERIOD, EngineProgram, EnginePass, check_lanes, plan_program

__all__ = ["PassZeros", "pass_zeros", "zero_taps", "format_zeros", "main"]


@dataclass(frozen=True)
class PassZeros:
    """One pass: its weights and the zeros among them; its group-taps
    (groups x K) and those zero in every lane of the group; its issue
    cycles by the model and with all-lane zero taps skipped (model)."""
    name: str
    weights: int
    zeros: int
    group_taps: int
    all_lane_zero: int
    cycles: int
    cycles_skipping: int

    @property
    def zero_fraction(self) -> float:
        return self.zeros / self.weights

    @property
    def skippable_fraction(self) -> float:
        return self.all_lane_zero / self.group_taps


def zero_group_taps(weight: np.ndarray, lanes: int = DEFAULT_LANES) -> np.ndarray:
    """Per group of ``lanes`` output channels, how many of the K taps are
    zero in all its lanes (int [groups])."""
    cout = weight.shape[0]
    flat = weight.reshape(cout, -1) != 0
    groups = -(-cout // lanes)
    return np.array([int((~flat[g * lanes:(g + 1) * lanes].any(axis=0)).sum()) for g in range(groups)])


def pass_zeros(program: EngineProgram, p: EnginePass) -> PassZeros:
    oh, ow = program.out_shape(p)
    skip = zero_group_taps(p.weight, p.lanes)
    written = min(p.cout, p.lanes)
    skipping = sum(oh * ow * max(p.taps - int(s), written, MIN_PERIOD) for s in skip)
    return PassZeros(p.name, int(p.weight.size), int((p.weight == 0).sum()), p.groups * p.taps, int(skip.sum()),
                     program.issue_cycles(p), skipping)


def zero_taps(bundle: Bundle, lanes: int = DEFAULT_LANES) -> list[PassZeros]:
    """Every pass of the engine's program for ``bundle`` on ``lanes`` lanes, in program order."""
    program = plan_program(bundle, lanes)
    return [pass_zeros(program, p) for p in program.passes]


def format_zeros(rows: list[PassZeros]) -> str:
    head = (f"{'pass':<22}{'weights':>9}{'zero':>8}{'group-taps':>12}{'zero in all lanes':>19}"
            f"{'cycles (model)':>16}{'skipping (model)':>18}")
    lines = [head]
    for r in rows:
        lines.append(f"{r.name:<22}{r.weights:>9}{r.zero_fraction:>8.1%}{r.group_taps:>12}"
                     f"{r.skippable_fraction:>19.1%}{r.cycles:>16}{r.cycles_skipping:>18}")
    w, z = sum(r.weights for r in rows), sum(r.zeros for r in rows)
    t, s = sum(r.group_taps for r in rows), sum(r.all_lane_zero for r in rows)
    c, k = sum(r.cycles for r in rows), sum(r.cycles_skipping for r in rows)
    lines.append(f"{'all passes':<22}{w:>9}{z / w:>8.1%}{t:>12}{s / t:>19.1%}{c:>16}{k:>18}")
    lines.append(f"skipping every all-lane zero tap would save {c - k} of {c} issue cycles "
                 f"({(c - k) / c:.2%}) (model)")
    return "\n".join(lines)


@command_main
def main(argv=None) -> int:
    ap = ArgumentParser(prog="python -m squeezefire.zero_taps", description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, required=True, help="a bundle (e.g. golden.compress --prune's)")
    ap.add_argument("--lanes", type=int, default=DEFAULT_LANES,
                    help=f"the engine's MAC lanes (default {DEFAULT_LANES})")
    args = ap.parse_args(argv)
    try:
        check_lanes(args.lanes)
        bundle = Bundle.load(args.bundle)
        rows = zero_taps(bundle, args.lanes)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{bundle.name}: zero weights per engine pass ({args.lanes} lanes)")
    print(format_zeros(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
