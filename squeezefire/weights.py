"""New weights into a built bitstream, without synthesis or place and route.

Every Fire-engine build on iCE40 and ECP5 synthesises its three ROMs
(``rtl_gen.engine.rom_images``: weights, descriptors, channel constants)
with seeded placeholder contents, places and routes that, and then writes
the real contents in with the family's block-RAM tool (``fpga.bram_rewrite``).
It keeps what a later rewrite needs, in ``OUT/roms/``: the ROM images
(``<rom>.hex``, and ``<rom>.placeholder.hex``) and ``layout.json``, the
``RomLayout`` -- and, beside the bitstream, the placed design with the
placeholders (``top.placeholder.asc`` / ``top.placeholder.config``).

``python -m rtl_gen.build --board ice40 --bundle new.bundle --reuse build/ice40``
then checks that ``new.bundle`` makes the same hardware (``RomLayout``: the
network's shapes, the ROMs' geometry, every width and range the logic is
built for, and last the digest of the whole design's netlist with
placeholder ROMs), refuses in one line naming the first difference, and
otherwise writes a new output folder with the rewritten bitstream: the same
bits a full build of ``new.bundle`` with the same seed gives, since that
build places and routes the same netlist.

Each rewrite is proved before its folder is written: the bitstream is
unpacked (``iceunpack`` / ``ecpunpack``) and every block RAM compared, bit
for bit, with the placed design's with every ROM slice set to the new
images; the rest of the configuration must be the placed design's
(``RewriteProof``).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
from amaranth.back import rtlil

from fpga.bram_rewrite import (BramTool, RewriteError, config_without_brams, expected_blocks, locate, read_blocks,
                               slice_files, splice, tool_input)
from fpga.toolchain import ToolError
from rtl_gen.engine.rom_images import EngineRoms

__all__ = ["ROMS_DIR", "LAYOUT_FILE", "NETLIST", "RomLayout", "RewriteProof", "rom_layout", "netlist_digest",
           "write_roms", "prove", "check", "prove_output", "load_layout"]

ROMS_DIR = "roms"
LAYOUT_FILE = f"{ROMS_DIR}/layout.json"
# the values of a layer that a bundle of the same shape may change (they live in the ROMs)
VALUE_FIELDS = ("scale", "squeeze_scale", "shift", "pad")


@dataclass(frozen=True)
class RomLayout:
    """What must be equal for a bitstream to take another bundle's ROMs:
    ``items``, (what, value) pairs in the order they are compared."""
    items: tuple[tuple[str, str], ...]

    def difference(self, built: "RomLayout") -> str | None:
        """The first item in which this layout differs from the build's
        (``built``), as a phrase; None when none does."""
        mine, theirs = dict(self.items), dict(built.items)
        for what, value in [*built.items, *self.items]:
            if mine.get(what) != theirs.get(what):
                have = mine.get(what, "none")
                return f"{what}: {have}, the build's {theirs.get(what, 'none')}"
        return None

    @property
    def digest(self) -> str:
        """The netlist digest (``netlist_digest``) the layout was made with."""
        return dict(self.items)[NETLIST]

    def to_json(self) -> str:
        return json.dumps({"items": [list(i) for i in self.items]}, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "RomLayout":
        return cls(tuple((str(a), str(b)) for a, b in json.loads(text)["items"]))


def _layer_items(layer) -> list[tuple[str, str]]:
    """A layer's kind, shape, inputs and every other field but its values."""
    shape = layer.shape
    items = [("kind", layer.kind), ("shape", f"{shape.h}x{shape.w}x{shape.c}"),
             ("inputs", ", ".join(layer.inputs) or "none")]
    items += [(f.name, str(getattr(layer, f.name))) for f in fields(layer)
              if f.name not in ("name", "inputs", "shape", *VALUE_FIELDS)]
    return [(f"layer {layer.name!r} {what}", value) for what, value in items]


def rom_layout(bundle, params, board_key: str, digest: str) -> RomLayout:
    """The layout of the engine ``params`` (``EngineParams``, of ``bundle``)
    on board ``board_key``; ``digest``: ``netlist_digest`` of its design."""
    items = [("board", board_key), ("architecture", "engine")]
    items += [item for layer in bundle.layers for item in _layer_items(layer)]
    roms = params.rom_images()
    items += [(f"{i.name} ROM", f"{i.width} bits x {i.depth} words ({i.entries} used)") for i in roms.images]
    codes = params.codes
    items.append(("weights stored as", f"{codes.bits}-bit codebook indices" if codes.coded else "int8"))
    items += [(f"descriptor field {name!r}", repr(f.shape)) for name, f in params.table.layout]
    # the lanes are in the weight ROM's width and the netlist digest (and were not an item before they were a parameter)
    items += [(f"write-back {k.replace('_', ' ')}", repr(v)) for k, v in asdict(params.write_back).items()
              if k != "lanes"]
    program = params.program
    items += [("input padding values (in logic)", repr(program.input_pad)),
              ("feature-map banks (bytes)", repr(program.banks)), ("max pool", str(program.pool_kind)),
              (NETLIST, digest)]
    return RomLayout(tuple(items))


_SRC = re.compile(r"^\s*attribute \\src .*\n", re.M)
NETLIST = "engine netlist with placeholder ROMs (sha256 of its RTLIL)"


def netlist_digest(engine) -> str:
    """SHA-256 of the engine's RTLIL (a ``FireEngine`` with placeholder
    ROMs) without its source locations (which name the checkout's files
    and lines, not the hardware).  The board top around it is made from
    what the layout's other items and the build's report fix."""
    return hashlib.sha256(_SRC.sub("", rtlil.convert(engine)).encode()).hexdigest()


def load_layout(build: Path) -> RomLayout:
    return RomLayout.from_json((build / LAYOUT_FILE).read_text())


@dataclass(frozen=True)
class RewriteProof:
    """What the unpacked bitstream was checked to hold: ``blocks`` block
    RAMs compared bit for bit, ``slices`` ROM bit slices among them (of
    ``rom_slices`` in the images: the rest are bits Yosys removed, read by
    nothing), and the rest of the configuration equal to the placed
    design's (``config_lines`` lines); ``source``: what was checked."""
    source: str
    blocks: int
    slices: int
    rom_slices: int
    config_lines: int

    def summary(self) -> str:
        rest = (f"{self.config_lines} other configuration lines unchanged" if self.config_lines else
                "the rest compared on the packer's input")
        return (f"{self.source}: {self.blocks} block RAMs hold the new ROM images bit for bit ({self.slices} of "
                f"{self.rom_slices} ROM bit slices placed), {rest}")


def _tool(argv: list[str], cwd: Path, log: Path, stdin: Path | None = None, stdout: Path | None = None) -> None:
    """One YoWASP tool from ``cwd`` (relative paths), its messages to ``log``;
    ToolError with its first line when it fails."""
    env = {**os.environ, "YOWASP_CACHE_DIR": os.environ.get("YOWASP_CACHE_DIR",
                                                            str(Path.home() / ".cache" / "yowasp"))}
    with open(log, "ab") as messages:
        messages.write(f"$ {' '.join(argv)}\n".encode())
        messages.flush()
        with (open(cwd / stdin, "rb") if stdin else open(os.devnull, "rb")) as i, \
             (open(cwd / stdout, "wb") if stdout else open(os.devnull, "wb")) as o:
            rc = subprocess.run(argv, cwd=cwd, stdin=i, stdout=o if stdout else messages, stderr=messages,
                                env=env).returncode
    if rc != 0:
        text = log.read_text(errors="replace").rsplit("$ ", 1)[-1].splitlines()
        raise ToolError(f"{argv[0]} failed (exit {rc}): {(text[1:] or [''])[0][:200]}")


def _write_images(folder: Path, real: EngineRoms, placeholders: EngineRoms, layout: RomLayout) -> None:
    (folder / ROMS_DIR).mkdir(exist_ok=True)
    for image, stand_in in zip(real.images, placeholders.images):
        (folder / ROMS_DIR / f"{image.name}.hex").write_text(image.hex_text())
        (folder / ROMS_DIR / f"{image.name}.placeholder.hex").write_text(stand_in.hex_text())
    (folder / LAYOUT_FILE).write_text(layout.to_json())


def write_roms(folder: Path, tool: BramTool, real: EngineRoms, layout: RomLayout, log: Path,
               unpack: bool = True) -> RewriteProof:
    """In ``folder`` (holding ``tool.config``, the placed design with the
    placeholders): the ROM images and layout, the rewritten configuration
    (checked), the bitstream and, with ``unpack``, its proof; RewriteError
    or ToolError."""
    placeholders = real.placeholders()
    _write_images(folder, real, placeholders, layout)
    text = (folder / tool.config).read_text()
    blocks = read_blocks(text, tool.family)
    found = locate(blocks, tool.family, placeholders.images, tool.segment)
    brams = f"{ROMS_DIR}/brams.{tool.config.rsplit('.', 1)[1]}"
    (folder / brams).write_text(tool_input(text, tool.family))
    for n, (old, new) in enumerate(slice_files(found, placeholders.images, real.images, tool.segment)):
        names = (f"{ROMS_DIR}/slices{n}.from.hex", f"{ROMS_DIR}/slices{n}.to.hex")
        (folder / names[0]).write_text(old)
        (folder / names[1]).write_text(new)
        _rewrite(folder, tool, names, brams, f"{brams}.new", log)
        (folder / f"{brams}.new").replace(folder / brams)
    rewritten = splice(text, (folder / brams).read_text(), tool.family)
    (folder / brams).unlink()
    proof = check(rewritten, "the rewritten configuration", tool, blocks, text, found, real)
    (folder / tool.rewritten).write_text(rewritten)
    _tool(tool.pack_argv(), folder, log)
    return prove(folder, tool, blocks, text, found, real, log) if unpack else proof


def _rewrite(folder: Path, tool: BramTool, hexes: tuple[str, str], source: str, target: str, log: Path) -> None:
    """One run of the tool on ``source`` (the placed design's block-RAM part) into ``target``."""
    if tool.rewrite_stdio:
        _tool(tool.rewrite_argv(*hexes), folder, log, stdin=Path(source), stdout=Path(target))
    else:
        argv = tool.rewrite_argv(*hexes)
        argv[argv.index(tool.config)] = source
        argv[argv.index(tool.rewritten)] = target
        _tool(argv, folder, log)


def prove(folder: Path, tool: BramTool, blocks: dict, placed_text: str, found, real: EngineRoms,
          log: Path) -> RewriteProof:
    """Unpacks ``tool.bitstream`` (``iceunpack`` / ``ecpunpack``) and ``check``s what it holds."""
    unpacked = f"{ROMS_DIR}/unpacked.{tool.config.rsplit('.', 1)[1]}"
    _tool(tool.unpack_argv(tool.bitstream, unpacked), folder, log)
    text = (folder / unpacked).read_text()
    (folder / unpacked).unlink()
    # ecpunpack writes the configuration in another form than nextpnr
    # (tile groups, default-valued tiles): there only the blocks compare,
    # the rest was checked on the packer's input (``write_roms``)
    rest = placed_text if tool.family == "ice40" else None
    return check(text, f"the unpacked {tool.bitstream}", tool, blocks, rest, found, real)


def check(text: str, source: str, tool: BramTool, blocks: dict, placed_text: str | None, found,
          real: EngineRoms) -> RewriteProof:
    """Every block RAM of ``text`` (a configuration: rewritten, or unpacked
    from the bitstream) against the placed design's ``blocks`` with the
    ``found`` slices set to ``real``, bit for bit, and the rest of it
    against ``placed_text`` (None: not compared); RewriteError naming the
    first that differs."""
    want = expected_blocks(blocks, tool.family, found, real.images, tool.segment)
    have = {k: data for k, (data, _) in read_blocks(text, tool.family).items()}
    keys = sorted(set(want) | set(have))
    for key in keys:
        # a block the placed design does not initialise (unused, or a RAM
        # without contents) is all zeros; the unpacker lists every block
        a, b = have.get(key), want.get(key)
        a, b = (np.zeros_like(b) if a is None else a), (np.zeros_like(a) if b is None else b)
        if not (a == b).all():
            raise RewriteError(f"block RAM {key} of {source} does not hold the new ROM images")
    placed = [] if placed_text is None else _config_lines(placed_text, tool)
    if placed_text is not None and placed != _config_lines(text, tool):
        raise RewriteError(f"{source} differs from the placed design outside the block RAMs")
    total = sum(i.width * (i.depth // tool.segment) for i in real.images)
    return RewriteProof(source, len(keys), len(found), total, len(placed))


def _config_lines(text: str, tool: BramTool) -> list[str]:
    """The configuration outside the block RAMs, as the unpacker writes it
    (nextpnr writes a few more annotation lines)."""
    return sorted(line for line in config_without_brams(text, tool.family) if line and not line.startswith(".sym"))


def prove_output(folder: Path, tool: BramTool, images: EngineRoms) -> RewriteProof:
    """The proof of an output folder of ``rtl_gen.build`` (a build or a
    ``--reuse``): its bitstream unpacked and checked against its placed
    design with ``images`` (made by the caller from the bundle) written in."""
    text = (folder / tool.config).read_text()
    blocks = read_blocks(text, tool.family)
    found = locate(blocks, tool.family, images.placeholders().images, tool.segment)
    return prove(folder, tool, blocks, text, found, images, folder / "build.log")
