"""Packing constants into ROM words (``amaranth.lib.memory.Memory`` init)."""
from __future__ import annotations

__all__ = ["pack_words"]


def pack_words(rows, bits: int) -> list[int]:
    """Each row (a sequence of integers) becomes one unsigned word, element i
    in bits [i*bits, (i+1)*bits) as two's complement."""
    mask = (1 << bits) - 1
    words = []
    for row in rows:
        word = 0
        for i, v in enumerate(row):
            word |= (int(v) & mask) << (i * bits)
        words.append(word)
    return words
