"""What one hardware block costs, for the fit check (``rtl_gen.fit``).

Every block class of the generator declares ``resource_cost(self) ->
BlockCost``: the LUT4s and hard multipliers of its *own* logic, not of its
sub-blocks (which declare theirs) and not of its memories (which the fit
check counts from each ``amaranth.lib.memory.Memory``).  The figures were
measured per module with Yosys ``synth_ice40 -dsp``; the fit check scales
LUTs by the device's ``cells_per_lut`` and turns multipliers into LUTs on a
device without DSPs.  A block that declares nothing makes the fit check
fail, naming the class, so a new or renamed block cannot silently cost 0.

A block whose weights are codebook-coded (``rtl_gen.pipeline.weight_rom``) also
reports, for the report, the bits of its index ROM (already priced as a
memory) and of its codebook table (already in its LUTs):
``weight_index_bits`` and ``codebook_bits``.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BlockCost"]


@dataclass(frozen=True)
class BlockCost:
    lut: int = 0
    dsp: int = 0
    weight_index_bits: int = 0
    codebook_bits: int = 0
