"""A MAC array's weight table: int8 words in block RAM or, for a layer with a
codebook (``golden.codebook``, Deep Compression's weight sharing), b-bit
indices in block RAM decoded to int8 through the layer's codebook in LUTs.

Why the decode is in LUTs: the codebook is a constant of the block (2**b
int8 values), so each of the 8 bits of a decoded weight is a fixed function
of the b index bits -- one LUT4 per bit up to b = 4 -- and needs no block
RAM or read port of its own.  Each lane has its own decoder (it reads its
own index), all from the same table.  Up to b = 7 the decoder is a LUT
table; an 8-bit table would take about 310 LUT4s per lane (Yosys, measured),
so it is a block RAM instead, one per lane (one read port each), which the
fit check prices as a memory.  Either way the decoder is registered, so the
weight reaches the multiplier one cycle after the index leaves the block
RAM: ``stages`` = 2 cycles from address to weight instead of 1 (the
``MacArray`` addresses it a cycle ahead, so it loses no cycle).  The
integer contract is unchanged: the weight *is* ``values[index]``.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from amaranth.hdl import Cat, Module, unsigned
from amaranth.lib.memory import Memory

from golden.codebook import Codebook
from rtl_gen.pipeline.rom import lut_rom, pack_words

__all__ = ["rom_codebook", "check_codebook", "reordered", "weight_rom", "decode_luts", "LUT_DECODE_MAX_BITS"]

LUT_DECODE_MAX_BITS = 7


def rom_codebook(bundle, layer: str, part: str | None = None) -> Codebook | None:
    """The codebook a layer's (or Fire part's) weight ROM uses: the
    bundle's, when it has one of fewer than 8 bits.  An 8-bit codebook saves
    no ROM bit and would add a decoder per lane, so such a layer keeps its
    weights (``values[indices]``, the same integers) in an int8 ROM, as an
    int8 layer does."""
    codebook = bundle.codebook(layer, part)
    return codebook if codebook is not None and codebook.bits < 8 else None


def check_codebook(codebook, weight: np.ndarray, name: str = "codebook") -> None:
    """``ValueError`` (naming ``name``) unless ``codebook`` (a ``Codebook``
    or None) codes ``weight`` exactly, index for index."""
    if codebook is None:
        return
    if not isinstance(codebook, Codebook):
        raise ValueError(f"{name} must be a golden.codebook.Codebook or None, got {type(codebook).__name__}")
    if codebook.indices.shape != weight.shape:
        raise ValueError(f"{name} indices have shape {codebook.indices.shape}, the weight {weight.shape}")
    wrong = np.argwhere(codebook.values.astype(np.int64)[codebook.indices] != weight)
    if len(wrong):
        at = tuple(int(i) for i in wrong[0])
        raise ValueError(f"{name} does not code the weight: at {at} it gives "
                         f"{int(codebook.values[codebook.indices[at]])}, the weight is {int(weight[at])}")


def reordered(codebook, weight: np.ndarray, reorder, name: str = "codebook") -> Codebook | None:
    """``codebook`` checked against ``weight`` (``check_codebook``), then
    with its indices rearranged by ``reorder``, the function that rearranges
    the weight for a ``MacArray`` (e.g. to im2col order)."""
    check_codebook(codebook, weight, name)
    return None if codebook is None else Codebook(codebook.values, reorder(codebook.indices))


def weight_rom(m: Module, weight: np.ndarray, codebook: Codebook | None, lanes: int,
               ram_attrs) -> SimpleNamespace:
    """The ROM of a (cout, cin) ``weight`` for ``lanes`` output channels per
    word: word (g*cin + k) holds lane l's weight[g*lanes + l, k] as a byte
    (``codebook`` None) or a b-bit index.  Returns ``addr``; ``data``, the
    ``lanes`` int8 weights (byte l = lane l), ``stages`` cycles after
    ``addr``."""
    cout, cin = weight.shape
    table = weight if codebook is None else codebook.indices
    bits = 8 if codebook is None else codebook.bits
    rows = [[table[g * lanes + l, k] for l in range(lanes)] for g in range(cout // lanes) for k in range(cin)]
    m.submodules.wrom = wrom = Memory(shape=unsigned(bits * lanes), depth=max(2, len(rows)),
                                      init=pack_words(rows, bits), attrs=ram_attrs)
    port = wrom.read_port()
    if codebook is None:
        return SimpleNamespace(addr=port.addr, data=port.data, stages=1)
    indices = [port.data[bits * l:bits * (l + 1)] for l in range(lanes)]
    values = [int(v) & 0xFF for v in codebook.values]
    if bits <= LUT_DECODE_MAX_BITS:
        decoded = [lut_rom(m, index, values, 8, domain="sync") for index in indices]
    else:
        m.submodules.codebook = lookup = Memory(shape=unsigned(8), depth=len(values), init=values,
                                                attrs={"ram_style": "block"})
        decoded = [_read(m, lookup, index) for index in indices]
    return SimpleNamespace(addr=port.addr, data=Cat(*decoded), stages=2)


def _read(m: Module, table: Memory, addr):
    port = table.read_port()
    m.d.comb += port.addr.eq(addr)
    return port.data


def decode_luts(bits: int) -> int:
    """LUT4s of one lane's decoder (0 in block RAM).  Measured with Yosys
    ``synth_ice40``, the largest of three random tables of distinct values
    per b: 1, 7, 8, 8, 32, 78, 161 LUT4s for b = 1..7; at most one LUT4 per
    output bit up to b = 4."""
    return _DECODE_LUTS[bits]


_DECODE_LUTS = {1: 8, 2: 8, 3: 8, 4: 8, 5: 32, 6: 80, 7: 162, 8: 0}
