"""Run images through a generated network in cocotb (Verilator by default)."""
from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np

from sim.lib.cocotb_run import simulate
from sim.lib.network_harness import NetworkHarness
from sim.lib.stimulus import Stimulus


def run_network(case_id: str, network, images: np.ndarray, expected_sums=None, expected_classes=None,
                stimulus: Stimulus | None = None, **kw) -> dict:
    """Simulate; returns the result dict with ``arrays`` = {sums, argmax, end_cycles}."""
    stimulus = stimulus or Stimulus()
    case = {"images": images, "classes": np.int64(network.num_classes),
            "stimulus": json.dumps(asdict(stimulus))}
    if expected_sums is not None:
        case["expected_sums"] = np.asarray(expected_sums, dtype=np.int64)
    if expected_classes is not None:
        case["expected_classes"] = np.asarray(expected_classes, dtype=np.int64)
    return simulate(case_id, NetworkHarness(network), "sim.benches.network_tb", case, **kw)
