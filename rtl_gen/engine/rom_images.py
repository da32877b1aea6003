"""The engine's bitstream-initialised ROMs as images: every value that
differs between two bundles of one shape lives in one of them.

* ``weights``: the lanes' weight ROM (int8 weights or codebook indices,
  ``roms.lane_rows``), one row of ``lanes`` per address;
* ``descriptors``: the pass descriptors and, coded, each next pass's
  codebook values (``EngineParams.descriptor_rom``): shifts, the bypass
  add's shift and multipliers, the codebook tables;
* ``constants``: the channel-constant ROM (bias, ``m``, per-channel bypass
  multipliers; ``roms.channel_constants``).

What stays in logic is the hardware's shape, which ``rom_layout`` records
(``squeezefire.weights`` compares it before it rewrites a bitstream).

Why placeholders: ``icebram``/``ecpbram`` find a ROM in a placed design by
its contents, a bit slice at a time (one data bit over ``segment``
consecutive addresses: 256 on iCE40, 512 on ECP5), so every slice must be
unique.  Real contents are not (zero padding, sign bits, repeated
descriptors), so the build synthesises seeded random ``placeholder``
contents and writes the real ones in after place and route: every build
can take new weights.  Each ROM's depth is rounded up to a whole segment
(``segment``; the iCE40/ECP5 block depths are multiples of it, so no block
more), so that every slice is a full one of random bits.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from amaranth.hdl import unsigned
from amaranth.lib.memory import Memory

from rtl_gen.engine.descriptor import WORD_BITS
from rtl_gen.engine.roms import channel_constants, lane_rows

__all__ = ["RomImage", "EngineRoms", "engine_rom_images", "placeholder", "pack_row", "rom_memory"]


@dataclass(frozen=True)
class RomImage:
    """A ROM's contents: ``words`` (unsigned ``width``-bit integers, the
    padded depth), of which the first ``entries`` are the ROM's own."""
    name: str
    width: int
    words: tuple[int, ...]
    entries: int

    @property
    def depth(self) -> int:
        return len(self.words)

    def hex_text(self) -> str:
        """One word per line, as ``$readmemh`` and icebram read them."""
        digits = -(-self.width // 4)
        return "".join(f"{w:0{digits}x}\n" for w in self.words)

    def column(self, bit: int) -> np.ndarray:
        """Bit ``bit`` of every word (bool, the depth)."""
        return np.array([(w >> bit) & 1 for w in self.words], dtype=bool)


def pack_row(values, bits: int) -> int:
    """Element i of ``values`` in bits [i*bits, (i+1)*bits), two's complement."""
    mask = (1 << bits) - 1
    return sum((int(v) & mask) << (i * bits) for i, v in enumerate(values))


def _image(name: str, width: int, words: list[int], segment: int) -> RomImage:
    depth = max(-(-len(words) // segment) * segment, 2)
    return RomImage(name, width, tuple(words) + (0,) * (depth - len(words)), len(words))


@dataclass(frozen=True)
class EngineRoms:
    """The engine's three ROMs."""
    weights: RomImage
    descriptors: RomImage
    constants: RomImage

    @property
    def images(self) -> tuple[RomImage, ...]:
        return (self.weights, self.descriptors, self.constants)

    def placeholders(self) -> "EngineRoms":
        return EngineRoms(*map(placeholder, self.images))


def engine_rom_images(params, segment: int = 1) -> EngineRoms:
    """The real contents of ``params``' (an ``EngineParams``) three ROMs,
    each padded with zero words to a multiple of ``segment``."""
    program, table, codes = params.program, params.table, params.codes
    lane_bits = codes.rom_width
    rows = zip(*lane_rows(program, table, codes.rom_arrays(program)))
    weights = [pack_row(row, lane_bits) for row in rows]
    from rtl_gen.engine.writeback import const_layout    # the write-back reads this ROM with ``rom_memory``
    layout = const_layout(params.write_back)
    constants = [layout.const(row).as_bits() for row in channel_constants(program)]
    return EngineRoms(_image("weights", lane_bits * program.lanes, weights, segment),
                      _image("descriptors", WORD_BITS, params.descriptor_rom(), segment),
                      _image("constants", layout.size, constants, segment))


def placeholder(image: RomImage) -> RomImage:
    """Seeded random contents of ``image``'s name and geometry (so two
    bundles of one ROM layout get the same ones, and so the same netlist)."""
    key = f"squeezefire placeholder {image.name} {image.width}x{image.depth}".encode()
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(key).digest()[:8], "little"))
    bits = rng.integers(0, 2, size=(image.depth, image.width), dtype=np.uint8)
    weights = 1 << np.arange(image.width, dtype=object)
    words = tuple(int(np.dot(row.astype(object), weights)) for row in bits)
    return RomImage(image.name, image.width, words, image.entries)


def rom_memory(image: RomImage) -> Memory:
    """A ROM of ``image``'s words, in block RAM (where icebram/ecpbram can
    rewrite it; a small one could otherwise become logic)."""
    return Memory(shape=unsigned(image.width), depth=image.depth, init=image.words, attrs={"ram_style": "block"})
