"""Run the cocotb Fire testbench (``sim/benches/fire_tb.py``) through
``sim.lib.cocotb_run.simulate`` -- one build directory per case under
``sim_build/<case id>``.

Environment: ``SIM=icarus`` selects Icarus Verilog (default Verilator),
``WAVES=1`` dumps a waveform into the build directory (Verilator: FST when
lz4.h is installed, else VCD; Icarus: FST).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np

from sim.lib.cocotb_run import simulate
from sim.lib.stimulus import FireStimulus


@dataclass
class CaseResult:
    passed: bool
    beats: int = 0
    cycles_per_frame: list = field(default_factory=list)
    sim_cycles: int = 0
    run_cycles: int = 0         # cycles of the checked run (after any mid-frame reset)
    run_seconds: float = 0.0    # wall-clock time of that run inside the simulator
    build_seconds: float = 0.0
    sim_seconds: float = 0.0
    message: str = ""


def run_fire_case(case_id: str, fire, images: np.ndarray, expected: np.ndarray, stimulus: FireStimulus,
                  sim: str | None = None, waves: bool | None = None) -> CaseResult:
    """Simulate ``fire`` (an ``rtl_gen.pipeline.fire.Fire``) on uint8 NHWC ``images``;
    the testbench checks every output value against ``expected`` in order."""
    from sim.lib.fire_harness import FireHarness
    if not stimulus.timeout_cycles:
        per_pixel = max(fire.folding.cycles_per_pixel(fire.cin, fire.s1x1, fire.e1x1, fire.e3x3).values())
        slowdown = 256 / (256 - max(stimulus.in_stall, stimulus.out_stall, 0))
        frames = images.shape[0] + stimulus.reset_mid_frame
        stimulus = replace(stimulus, timeout_cycles=int(8 * slowdown * frames * fire.height * fire.width
                                                        * per_pixel) + 100_000)
    res = simulate(case_id, FireHarness(fire), "sim.benches.fire_tb",
                   {"images": images, "expected": expected, "stimulus": json.dumps(asdict(stimulus))},
                   sim=sim, waves=waves)
    known = {f.name for f in fields(CaseResult)}
    return CaseResult(**{k: v for k, v in res.items() if k in known})
