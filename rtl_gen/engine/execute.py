"""The engine's program run pass by pass in numpy: what the hardware
computes, written as the passes define it (``program.py``), for checking a
program against ``golden.intref`` without simulating any hardware."""
from __future__ import annotations

import numpy as np

from golden import intref
from rtl_gen.engine.program import EngineProgram

__all__ = ["run_program"]


def run_program(program: EngineProgram, images: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(class sums int32 (N, classes), every map written) for uint8 NHWC images."""
    maps: dict[str, np.ndarray] = {program.input_map: images}
    sums = None
    for p in program.passes:
        acc = intref.conv_acc(maps[p.src], p.weight, p.bias, p.stride, p.padding, program.fill_of(p))
        if p.logits:
            y = acc * p.m          # M = 1: the accumulators themselves
        elif p.add is not None and p.add.kind == "complex":
            ch = slice(p.c_offset, p.c_offset + p.cout)
            y = intref.add(maps[p.add.side][..., ch], acc, p.add.m_a[ch], p.m, p.add.shift)
        else:
            y = intref.requant(acc, p.m, p.shift)
            if p.add is not None:
                ch = slice(p.c_offset, p.c_offset + p.cout)
                y = intref.add(y, maps[p.add.side][..., ch], p.add.m_a[ch], p.add.m_b[ch], p.add.shift)
        if p.pool:
            y = intref.maxpool(y, *program.pool_kind)
        if p.gap:
            sums = intref.gap(y)
            continue
        info = program.maps[p.dst]
        out = maps.setdefault(p.dst, np.zeros((len(images), info.h, info.w, info.c), np.uint8))
        out[..., p.c_offset:p.c_offset + p.cout] = y
    return sums, maps
