"""The engine's ROM images, made from the program.

* Lane weight ROMs: lane ``l`` holds, for each pass and group ``g``, the
  ``taps`` weights (or codebook indices) of output channel ``lanes g + l`` in
  tap order (ky, kx, c), 0 where the channel does not exist (the serializer
  never hands such a lane out); the sequencer reads them at
  ``w_base + g * taps + t``.
* The channel-constant ROM: one row per (pass, group, lane) at
  ``c_base + lanes g + l``: bias, ``m`` and the bypass multipliers of the
  channel (``writeback.const_layout``).
"""
from __future__ import annotations

import numpy as np

from rtl_gen.engine.descriptor import DescriptorTable
from rtl_gen.engine.program import EngineProgram

__all__ = ["lane_rows", "channel_constants", "bias_bits"]


def lane_rows(program: EngineProgram, table: DescriptorTable, arrays) -> list[list[int]]:
    """The ``program.lanes`` lanes' weight ROM contents from ``arrays`` (per
    pass: its int8 weights, or its codebook indices;
    ``weight_codes.WeightCodes.rom_arrays``)."""
    lanes = program.lanes
    roms = np.zeros((lanes, max(table.weight_depth, 1)), dtype=np.int64)
    for p, base, arr in zip(program.passes, table.w_bases, arrays):
        taps = arr.transpose(0, 2, 3, 1).reshape(p.cout, p.taps)      # (cout, (ky, kx, c))
        padded = np.zeros((p.groups * lanes, p.taps), dtype=np.int64)
        padded[:p.cout] = taps
        for g in range(p.groups):
            roms[:, base + g * p.taps:base + (g + 1) * p.taps] = padded[g * lanes:(g + 1) * lanes]
    return [list(map(int, row)) for row in roms]


def _channel_row(p, ch: int, adds: bool) -> dict:
    if ch >= p.cout:
        return {"bias": 0, "m": 0, **({"m_a": 0, "m_b": 0} if adds else {})}
    row = {"bias": int(p.bias[ch]), "m": int(p.m[ch]), **({"m_a": 0, "m_b": 0} if adds else {})}
    if adds and p.add is not None:
        full = p.c_offset + ch                  # the add's multipliers index the whole output map
        row["m_a"] = int(p.add.m_a[full])
        row["m_b"] = int(p.add.m_b[full]) if p.add.kind == "simple" else 0
    return row


def channel_constants(program: EngineProgram) -> list[dict]:
    """The rows; ``m_a``/``m_b`` only when some pass adds a bypass with
    multipliers that vary by channel (else the descriptor has them)."""
    adds = any(p.add for p in program.passes) and not program.uniform_add_multipliers()
    rows = []
    for p in program.passes:
        rows += [_channel_row(p, ch, adds) for ch in range(p.groups * p.lanes)]
    return rows


def bias_bits(program: EngineProgram) -> int:
    return max(int(np.abs(p.bias.astype(np.int64)).max(initial=0)) for p in program.passes).bit_length() + 1
