"""``python -m rtl_gen.build --bundle new.bundle --reuse BUILD [--out DIR]``:
a built Fire-engine bitstream with another bundle's weights, in seconds.

BUILD (a previous ``rtl_gen.build`` output on iCE40 or ECP5) is only read.
The new bundle must make the same hardware as BUILD's (``squeezefire.weights.RomLayout``);
otherwise one line names the first difference (a layer's shape, a ROM's
geometry, a width or range the logic is built for, the netlist), exit 2,
nothing written.  The new folder (``--out``, default ``BUILD-<bundle name>``,
the rules of ``squeezefire.safe_output``) holds the new bitstream, the
placed design, the ROM images and layout (so it can be reused in turn) and
``report.json``: BUILD's figures (same placement, same netlist) with the
new bitstream, bundle and the rewrite's proof and seconds, and
``board.json`` for the host (``fpga.board_info``): BUILD's with the new
bundle's SHA-256 and class names.  Its ``network_id`` stays BUILD's: the
id is a constant of the link's logic, which the rewrite leaves as it is,
so it names the netlist (the build) the bitstream came from, not the
weights; ``bundle_sha256`` names the weights.
"""
from __future__ import annotations

import ast
import hashlib
import json
import shutil
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from fpga.board_info import BoardInfo, BoardInfoError, load_board_info, write_board_info
from fpga.boards import Board, get_board
from fpga.bram_rewrite import BRAM_TOOLS, BramTool
from golden.bundle import Bundle
from rtl_gen.engine.engine import EngineParams, FireEngine
from rtl_gen.engine.program import DEFAULT_LANES, ProgramError
from squeezefire.architectures import ArchOptions, engine_options, rom_options
from squeezefire.safe_output import check_output_dir, staged_output_dir
from squeezefire.weights import LAYOUT_FILE, RomLayout, load_layout, netlist_digest, rom_layout, write_roms

__all__ = ["ReuseError", "reuse", "default_out"]


class ReuseError(ValueError):
    """A bundle or build the rewrite cannot take (one line)."""


@dataclass(frozen=True)
class _Reuse:
    board: Board
    tool: BramTool
    build: Path
    report: dict
    out: Path
    host: BoardInfo


def default_out(build: Path, bundle_path: Path) -> Path:
    return build.with_name(f"{build.name}-{bundle_path.stem}")


def _check_build(board_key: str | None, build: Path, out: Path | None, bundle_path: Path) -> _Reuse:
    """The reused build and the output folder, checked in a fraction of a second."""
    from squeezefire.build import MARKER
    report_file = build / "report.json"
    if not report_file.is_file():
        raise ReuseError(f"--reuse {build}: no report.json there (not a rtl_gen.build output folder)")
    report = json.loads(report_file.read_text())
    board = get_board(report["board"] if board_key is None else board_key)
    if report["board"] != board.key:
        raise ReuseError(f"--reuse {build}: built for board {report['board']!r}, not {board.key!r}")
    tool = BRAM_TOOLS.get(board.family)
    if tool is None:
        raise ReuseError(f"--reuse: board {board.key!r} ({board.family}) has no block-RAM rewrite tool "
                         "(apycula packs BSRAM contents from the routed netlist); build it again with the bundle")
    if report.get("arch") != "engine":
        raise ReuseError(f"--reuse {build}: its architecture is {report.get('arch')!r}; only the Fire engine's "
                         "weights are all in block RAM (the pipeline decodes codebooks and requantises in logic)")
    missing = [name for name in (LAYOUT_FILE, tool.config) if not (build / name).is_file()]
    if missing:
        raise ReuseError(f"--reuse {build}: {missing[0]} is missing (built before builds kept their ROM images?)")
    try:
        host = load_board_info(build)
    except BoardInfoError as e:
        raise ReuseError(f"--reuse {build}: {e}") from None
    out = default_out(build, bundle_path) if out is None else Path(out)
    if out.resolve() == build.resolve():
        raise ReuseError(f"--out {out}: is the reused build; it is only read, choose a new folder")
    check_output_dir(out, MARKER)
    return _Reuse(board, tool, build, report, out, host)


def _params(bundle_path: Path, board: Board, lanes: int) -> tuple[Bundle, EngineParams]:
    from squeezefire.build import _load_bundle
    bundle = _load_bundle(bundle_path)
    try:
        return bundle, EngineParams(bundle, **engine_options(board, ArchOptions(lanes)), **rom_options(board),
                                    placeholder_roms=True)
    except (ProgramError, ValueError) as e:
        raise ReuseError(f"bundle {bundle_path}: the engine cannot run it: {str(e).splitlines()[0]}") from None


def check_layout(bundle, params: EngineParams, r: _Reuse, built: RomLayout, digest: str) -> RomLayout:
    """The new bundle's layout with netlist ``digest``; ReuseError at its
    first difference from ``built`` (the build's)."""
    layout = rom_layout(bundle, params, r.board.key, digest)
    diff = layout.difference(built)
    if diff:
        raise ReuseError(f"bundle {bundle.name!r} does not fit the build in {r.build}: {diff}{_culprit(params, diff)}")
    return layout


def _culprit(params: EngineParams, diff: str) -> str:
    """For a shift range the write-back was not built for: the first pass
    whose shift lies outside the build's range."""
    if not diff.startswith("write-back shifts: "):
        return ""
    lo, hi = ast.literal_eval(diff.rsplit("the build's ", 1)[1])
    outside = [p for p in params.program.passes
               if not (p.add and p.add.kind == "complex") and not p.logits and not lo <= p.shift <= hi]
    return f" (pass {outside[0].name!r} has shift {outside[0].shift})" if outside else ""


def reuse(board_key: str | None, bundle_path: Path, build: Path, out: Path | None = None) -> dict:
    """The whole command; returns the new report.  ReuseError, BuildError,
    OutputError (one line, nothing written), RewriteError or ToolError.

    The layout's items are compared first (milliseconds); the netlist
    digest, which elaborates the engine again (about 2 s), is computed in
    a thread while the tools rewrite and pack (they run as processes), and
    compared before the new folder is renamed into place."""
    from squeezefire.build import MARKER
    t0 = time.monotonic()
    seconds = {}
    r = _check_build(board_key, Path(build), out, Path(bundle_path))
    # the build's lanes (its report's; builds before lanes were a parameter had the default)
    bundle, params = _params(Path(bundle_path), r.board, int(r.report.get("mac_lanes", DEFAULT_LANES)))
    built = load_layout(r.build)
    layout = check_layout(bundle, params, r, built, built.items[-1][1])
    digest = _Digest(params)
    digest.start()
    seconds["check"] = time.monotonic() - t0
    with staged_output_dir(r.out, MARKER, f"python -m rtl_gen.build --board {r.board.key} --reuse {r.build}") as stage:
        t = time.monotonic()
        shutil.copyfile(r.build / r.tool.config, stage.path / r.tool.config)
        try:
            proof = write_roms(stage.path, r.tool, params.rom_images(), layout, stage.path / "build.log",
                               unpack=False)
        except Exception:
            check_layout(bundle, params, r, built, digest.result())     # another netlist says more
            raise
        seconds["rewrite+pack"] = time.monotonic() - t
        t = time.monotonic()
        check_layout(bundle, params, r, built, digest.result())
        seconds["netlist wait"] = time.monotonic() - t
        seconds["total"] = time.monotonic() - t0
        report = _report(r, bundle, Path(bundle_path), stage.path, proof, seconds)
        (stage.path / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        write_board_info(stage.path, replace(r.host, bundle_sha256=report["bundle_sha256"],
                                             classes=None if bundle.classes is None else tuple(bundle.classes)))
    print(f"new weights of {bundle_path} in {r.out / r.tool.bitstream}; checked {proof.summary()}")
    print(f"seconds: {', '.join(f'{k} {v:.2f}' for k, v in seconds.items())} (no synthesis, no place and route)")
    return report


class _Digest(threading.Thread):
    """``netlist_digest`` of the engine of ``params`` with placeholder ROMs, in the background."""

    def __init__(self, params: EngineParams):
        super().__init__(daemon=True)
        self.params, self.digest, self.error = params, None, None

    def run(self):
        try:
            self.digest = netlist_digest(FireEngine(self.params))
        except Exception as e:          # re-raised in the caller's thread
            self.error = e

    def result(self) -> str:
        self.join()
        if self.error is not None:
            raise self.error
        return self.digest


def _report(r: _Reuse, bundle, bundle_path: Path, work: Path, proof, seconds: dict) -> dict:
    bitstream = work / r.tool.bitstream
    return {**r.report, "bitstream": str(r.out / r.tool.bitstream),
            "bitstream_sha256": hashlib.sha256(bitstream.read_bytes()).hexdigest(),
            "bundle": str(bundle_path), "bundle_sha256": hashlib.sha256(bundle_path.read_bytes()).hexdigest(),
            "weight_bits": bundle.weight_bits(), "reused_build": str(r.build),
            "placement": f"the reused build's ({r.build}): same netlist, same place and route",
            "rom_rewrite": {"tool": r.tool.rewrite_name, "proof": proof.summary()},
            "verilog": None, "seconds": {k: round(v, 2) for k, v in seconds.items()}}
