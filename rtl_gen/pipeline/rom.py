"""Constant tables: packing words for ``amaranth.lib.memory.Memory`` init,
and small tables held in LUTs."""
from __future__ import annotations

from amaranth.hdl import Module, Signal

__all__ = ["pack_words", "lut_rom"]


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


def lut_rom(m: Module, addr, words, width: int, domain: str = "comb") -> Signal:
    """``words[addr]`` from a table in LUTs (a switch over ``addr``), for
    tables too small for a block RAM or where none is spare: at once
    (``domain="comb"``) or one cycle later, like a block-RAM read port
    (``domain="sync"``)."""
    data = Signal(width)
    with m.Switch(addr):
        for a, w in enumerate(words):
            with m.Case(a):
                m.d[domain] += data.eq(int(w))
    return data
