"""The engine's pass descriptors: every number the hardware needs to run one
pass, precomputed from the program so the datapath only counts and adds.

A descriptor is a ``data.StructLayout`` whose field widths fit the largest
value in the program.  The table of all passes sits in a 16-bit wide ROM
(``WORD_BITS``), ``words`` words per pass, which the engine shifts into its
descriptor register at the start of each pass: one block RAM instead of a
several-hundred-bit wide table.
"""
from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import signed, unsigned
from amaranth.lib import data

from rtl_gen.engine.program import EngineProgram, EnginePass

__all__ = ["ADD_NONE", "ADD_SIMPLE", "ADD_COMPLEX", "WORD_BITS", "DescriptorTable", "pass_fields",
           "descriptor_table"]

ADD_NONE, ADD_SIMPLE, ADD_COMPLEX = 0, 1, 2
WORD_BITS = 16

# field -> signed?  (the order is the layout's)
FIELDS = {
    "src_bank": False, "dst_bank": False, "side_bank": False,
    "cin": False, "k": False, "in_h": False, "in_w": False, "stride": False,
    "out_h": False, "out_w": False, "groups": False, "last_lanes": False, "taps": False, "period": False,
    "row_step": False, "step_x": False, "step_y": False, "pix0": True,
    "w_base": False, "c_base": False, "shift": False,
    "add_kind": False, "add_shift": False, "add_m_a": False, "add_m_b": False, "pool": False, "gap": False,
    "dst_c": False, "c_off": False, "pool_xmax": False, "pool_ymax": False, "pool_wtail": False, "pool_htail": False,
    # the counters' last values, so that no comparison waits for a subtraction
    "last_t_m1": False, "last_tap": False, "last_ci_m1": True, "last_k_m1": True, "cin_one": False, "k_one": False, "last_ox": False, "last_oy": False,
    "last_g": False, "neg_pad": True,
}
# fields only a program that needs them has (so one that does not builds as before)
OPTIONAL_FIELDS = {"fill": False}


def pass_fields(program: EngineProgram, p: EnginePass, w_base: int, c_base: int) -> dict[str, int]:
    src = program.maps[p.src]
    oh, ow = program.out_shape(p)
    dst = program.maps[p.dst] if p.dst is not None else None
    side = program.maps[p.add.side] if p.add is not None else None
    # the pool's limits: the 2x2/2 floor-mode pool needs none (0: one bit each)
    limits = program.pool_kind is None or program.pool_kind.ceil
    pool_h, pool_w = program.pooled_shape(p) if p.pool and limits else (0, 0)
    return {
        "src_bank": src.bank, "dst_bank": dst.bank if dst else 0, "side_bank": side.bank if side else 0,
        "cin": p.cin, "k": p.kernel, "in_h": src.h, "in_w": src.w, "stride": p.stride,
        "out_h": oh, "out_w": ow, "groups": p.groups, "last_lanes": p.last_lanes,
        "taps": p.taps, "period": p.period,
        "row_step": src.w * src.c, "step_x": p.stride * src.c, "step_y": p.stride * src.w * src.c,
        "pix0": -(p.padding * src.w + p.padding) * src.c,
        "w_base": w_base, "c_base": c_base, "shift": p.shift,
        "add_kind": {None: ADD_NONE, "simple": ADD_SIMPLE, "complex": ADD_COMPLEX}[p.add.kind if p.add else None],
        "add_shift": p.add.shift if p.add else 0, "pool": int(p.pool), "gap": int(p.gap),
        # the add's multipliers, when uniform over the pass's channels (else in the constant ROM)
        "add_m_a": (p.add_multipliers() or (0, 0))[0], "add_m_b": (p.add_multipliers() or (0, 0))[1],
        "dst_c": dst.c if dst else 0, "c_off": p.c_offset,
        "pool_xmax": 2 * pool_w, "pool_ymax": 2 * pool_h, "pool_wtail": int(limits and ow % 2 == 0),
        "pool_htail": int(limits and oh % 2 == 0),
        "last_t_m1": p.period - 2, "last_tap": p.taps - 1, "last_ci_m1": p.cin - 2, "last_k_m1": p.kernel - 2, "cin_one": int(p.cin == 1), "k_one": int(p.kernel == 1),
        "last_ox": ow - 1, "last_oy": oh - 1, "last_g": p.groups - 1, "neg_pad": -p.padding,
        "fill": int(p.fill),
    }


@dataclass(frozen=True)
class DescriptorTable:
    layout: data.StructLayout
    rows: tuple[dict[str, int], ...]        # one per pass
    w_bases: tuple[int, ...]                # each pass's first address in the lane weight ROMs
    c_bases: tuple[int, ...]                # each pass's first entry in the channel-constant ROM (a multiple of lanes)
    weight_depth: int                       # words per lane weight ROM
    const_depth: int                        # entries in the channel-constant ROM

    @property
    def words(self) -> int:
        return -(-self.layout.size // WORD_BITS)

    def rom_words(self) -> list[int]:
        out = []
        for row in self.rows:
            bits = self.layout.const(row).as_bits()
            out += [(bits >> (WORD_BITS * i)) & ((1 << WORD_BITS) - 1) for i in range(self.words)]
        return out


def _width(values, is_signed: bool) -> int:
    if is_signed:
        return max(max((v.bit_length() + 1 for v in values), default=1), 1)
    return max(max((v.bit_length() for v in values), default=1), 1)


def descriptor_table(program: EngineProgram) -> DescriptorTable:
    w_bases, c_bases, w, c = [], [], 0, 0
    for p in program.passes:
        w_bases.append(w)
        c_bases.append(c)
        w += p.groups * p.taps
        c += p.groups * p.lanes
    rows = tuple(pass_fields(program, p, wb, cb) for p, wb, cb in zip(program.passes, w_bases, c_bases))
    fields = {**FIELDS, **{name: sgn for name, sgn in OPTIONAL_FIELDS.items() if any(r[name] for r in rows)}}
    rows = tuple({name: r[name] for name in fields} for r in rows)
    layout = data.StructLayout({name: (signed if sgn else unsigned)(_width([r[name] for r in rows], sgn))
                                for name, sgn in fields.items()})
    return DescriptorTable(layout, rows, tuple(w_bases), tuple(c_bases), w, c)
