"""How the engine stores its weights: int8 rows, or b-bit codebook indices
decoded through a per-pass table (``docs/engine.md``, "Codebook weights").

A bundle whose layers carry codebooks (``golden.codebook``) gets a coded
engine: every pass needs a table of at most ``2**bits`` int8 values, the
bundle's own or, for a pass without one (an identity pass, an int8 layer),
the exact table of its distinct values.  The engine's index width is the
largest of them; a pass with a smaller table has it padded with zeros (its
indices do not change).  The decode holds two pair tables of ``2**(2 bits)``
words per lane pair, so the coded engine stops at ``MAX_DECODE_BITS``; a
bundle beyond it, or without codebooks, keeps the int8 ROM.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from golden.codebook import Codebook, exact_codebook
from rtl_gen.engine.program import EngineProgram

__all__ = ["MAX_DECODE_BITS", "WeightCodes", "weight_codes"]

MAX_DECODE_BITS = 4


@dataclass(frozen=True, eq=False)
class WeightCodes:
    """``bits`` 0: int8 rows.  Else per pass (program order) its table
    ``values`` (int8 [2**bits]) and ``indices`` (the weight's shape)."""

    bits: int
    values: tuple[np.ndarray, ...] = ()
    indices: tuple[np.ndarray, ...] = ()
    reason: str = ""            # why the ROM holds int8 rows, when it does

    @property
    def coded(self) -> bool:
        return self.bits > 0

    @property
    def rom_width(self) -> int:
        """Bits per lane in the weight ROM."""
        return self.bits if self.coded else 8

    def codebook_bits(self) -> int:
        """The tables as the bundle defines them: 8 bits per value, every pass."""
        return sum(v.size * 8 for v in self.values)

    @property
    def book_words(self) -> int:
        """16-bit words of one pass's values in the descriptor ROM."""
        return -(-(8 << self.bits) // 16) if self.coded else 0

    def book_rom_words(self, index: int) -> list[int]:
        """Pass ``index``'s values as descriptor-ROM words, value 0 lowest."""
        packed = sum((int(v) & 0xff) << (8 * i) for i, v in enumerate(self.values[index]))
        return [(packed >> (16 * k)) & 0xffff for k in range(self.book_words)]

    def rom_arrays(self, program: EngineProgram) -> list[np.ndarray]:
        """Per pass, what the ROM rows hold: indices, or the int8 weights."""
        return list(self.indices) if self.coded else [p.weight for p in program.passes]


def _pad(book: Codebook, bits: int) -> np.ndarray:
    table = np.zeros(2 ** bits, dtype=np.int8)
    table[:len(book.values)] = book.values
    return table


def weight_codes(program: EngineProgram) -> WeightCodes:
    """The engine's weight storage for ``program``."""
    if not any(p.codebook is not None for p in program.passes):
        return WeightCodes(0, reason="the bundle has no codebook weights")
    books = []
    for p in program.passes:
        book = p.codebook if p.codebook is not None else exact_codebook(p.weight)
        if book is None or book.bits > MAX_DECODE_BITS:
            have = len(np.unique(p.weight)) if book is None else 2 ** book.bits
            return WeightCodes(0, reason=f"pass {p.name!r} needs a {have}-value table; the engine decodes "
                                         f"at most {2 ** MAX_DECODE_BITS}")
        books.append(book)
    bits = max(b.bits for b in books)
    return WeightCodes(bits, tuple(_pad(b, bits) for b in books), tuple(b.indices for b in books))

