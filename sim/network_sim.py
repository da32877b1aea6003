"""Run images through a generated network in cocotb (Verilator by default)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np

from sim.cocotb_run import simulate
from sim.network_harness import NetworkHarness


@dataclass
class NetStimulus:
    seed: int = 0
    in_stall: int = 0           # 256ths of cycles the network input is blocked (harness LFSR)
    py_bubbles: float = 0.0     # probability of a pause before an input pixel
    py_stalls: float = 0.0      # probability of dropping o.ready after a class beat
    reset_mid_frame: bool = False
    timeout_cycles: int = 0


def run_network(case_id: str, network, images: np.ndarray, expected_sums=None, expected_classes=None,
                stimulus: NetStimulus | None = None, **kw) -> dict:
    """Simulate; returns the result dict with ``arrays`` = {sums, argmax, end_cycles}."""
    stimulus = stimulus or NetStimulus()
    case = {"images": images, "classes": np.int64(network.num_classes),
            "stimulus": json.dumps(asdict(stimulus))}
    if expected_sums is not None:
        case["expected_sums"] = np.asarray(expected_sums, dtype=np.int64)
    if expected_classes is not None:
        case["expected_classes"] = np.asarray(expected_classes, dtype=np.int64)
    return simulate(case_id, NetworkHarness(network, stimulus.seed), "sim.network_tb", case, **kw)
