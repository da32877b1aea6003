"""Running the YoWASP tools of an Amaranth build plan ourselves: relative
paths from the build folder (YoWASP's WASI sandbox cannot see absolute paths
under /tmp), per-step timing, a heartbeat during long steps, and the
tool-name -> executable mapping per family (incl. Gowin's himbaechel), and
the step that writes the design's Verilog for the user."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

__all__ = ["ToolError", "check_tools", "plan_commands", "run_step", "overused",
           "VERILOG_SCRIPT", "verilog_script", "verilog_command"]

VERILOG_SCRIPT = "write_verilog.ys"
# Amaranth's bookkeeping attributes, and the source locations (absolute paths
# of the checkout, which would make the text depend on where it lives)
_INTERNAL_ATTRS = ("generator", "top", "src", "amaranth.hierarchy", "amaranth.decoding")


class ToolError(Exception):
    """A tool is missing or failed (one-line message)."""


def check_tools(board) -> None:
    """Refuse early, naming the extra to install, when a family's tools are absent."""
    missing = [mod for mod in board.extra_modules if importlib.util.find_spec(mod) is None]
    missing += [exe for exe in board.tools.values() if shutil.which(exe) is None]
    if missing:
        if board.extra:
            raise ToolError(f"board {board.key!r} needs the optional extra {board.extra!r} "
                            f"(missing {', '.join(missing)}): pip install -e '.[{board.extra}]'")
        raise ToolError(f"board {board.key!r}: missing tools {', '.join(missing)} (reinstall: pip install -e .)")


def plan_commands(board, plan_files: dict) -> list[list[str]]:
    """The plan's argv lists (``build_top.json``), mapped to YoWASP executables."""
    script = next(v for k, v in plan_files.items() if k.startswith("build_") and k.endswith(".json"))
    commands = json.loads(script)["commands"]
    out = []
    for argv in commands:
        tool, args = argv[0], list(argv[1:])
        if tool == "nextpnr-gowin":
            # Amaranth 0.5 targets the retired nextpnr-gowin; himbaechel takes
            # the family and constraints as --vopt.
            fixed = []
            it = iter(args)
            for a in it:
                if a == "--family":
                    fixed += ["--vopt", f"family={next(it)}"]
                elif a == "--cst":
                    fixed += ["--vopt", f"cst={next(it)}"]
                else:
                    fixed.append(a)
            args = fixed
        if tool not in board.tools:
            raise ToolError(f"no executable known for tool {tool!r} on board {board.key!r}")
        out.append([board.tools[tool], *args])
    return out


def verilog_script(name: str) -> str:
    """Yosys script turning the plan's ``{name}.il`` -- the RTLIL that
    synthesis reads -- into ``{name}.v``, by the steps of Amaranth's own
    Verilog back end (``amaranth.back.verilog``): processes to netlists where
    Verilog can express them, memories collected, internal attributes
    removed.  A step of its own (about 1 s for the reference network) rather
    than part of synthesis, so the synthesised netlist stays as it was."""
    attrs = " ".join(f"-remove {a}" for a in _INTERNAL_ATTRS)
    return "\n".join([f"read_rtlil {name}.il", "proc -nomux -norom", "memory_collect",
                      f"attrmap {attrs}", f"attrmap -modattr {attrs}", f"write_verilog -norename {name}.v", ""])


def verilog_command(board) -> list[str]:
    # memory_collect skips the modules whose processes stay processes (as
    # Amaranth intends) with a warning each: logged as messages, not warnings
    return [board.tools["yosys"], "-q", "-w", "contains processes", VERILOG_SCRIPT]


def run_step(name: str, argv: list[str], cwd: Path, log, heartbeat: float = 15.0) -> float:
    """Run one tool from ``cwd``; returns seconds.  Output goes to ``log``
    (a file in the build folder); a heartbeat line every ``heartbeat`` s."""
    env = dict(os.environ)
    env.setdefault("YOWASP_CACHE_DIR", str(Path.home() / ".cache" / "yowasp"))
    start = time.monotonic()
    print(f"  {name:8s} {' '.join(argv[:1])} ...", flush=True)
    with open(log, "ab") as f:
        f.write(f"$ {' '.join(argv)}\n".encode())
        f.flush()
        try:
            proc = subprocess.Popen(argv, cwd=cwd, stdout=f, stderr=subprocess.STDOUT, env=env)
        except FileNotFoundError:
            raise ToolError(f"{argv[0]} not found (reinstall: pip install -e .)") from None
        next_beat = start + heartbeat
        while True:
            try:
                rc = proc.wait(timeout=1.0)
                break
            except subprocess.TimeoutExpired:
                now = time.monotonic()
                if now >= next_beat:
                    print(f"  {name:8s} still running, {now - start:.0f} s", flush=True)
                    next_beat = now + heartbeat
            except KeyboardInterrupt:
                proc.terminate()
                proc.wait()
                raise
    seconds = time.monotonic() - start
    if rc != 0:
        # The step's own output: its first ERROR line, else its last line.
        text = Path(log).read_text(errors="replace")
        header = f"$ {' '.join(argv)}\n"
        text = text[text.rfind(header) + len(header):] if header in text else text
        lines = text.strip().splitlines() or [""]
        errors = [ln for ln in lines if ln.startswith("ERROR:")]
        reason = (errors or lines[-1:])[0].strip()
        raise ToolError(f"{name} failed (exit {rc}) after {seconds:.0f} s: {reason[:200]}")
    print(f"  {name:8s} done in {seconds:.1f} s", flush=True)
    return seconds


_UTIL_LINE = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", re.M)


def overused(text: str) -> list[str]:
    """``"TYPE used/available"`` for each bel type over capacity in a nextpnr
    log's "Device utilisation" table (types with none available are skipped)."""
    util = {}
    for kind, used, avail in _UTIL_LINE.findall(text):
        util[kind] = (int(used), int(avail))
    return [f"{k} {u}/{a}" for k, (u, a) in util.items() if 0 < a < u]
