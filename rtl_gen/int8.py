"""The int8 contract's arithmetic (``docs/int8.md``) as the hardware does it,
written once for both architectures (``rtl_gen.pipeline`` and
``rtl_gen.engine``), so a change to the contract is one change here.

* ``clamp_u8``: ``clamp(value, 0, 255)`` of an Amaranth value (§4's clamp,
  whose lower half is the ReLU).
* ``rounding``: the ``2**(shift-1)`` of §4's rounded shift
  ``(acc * M + 2**(shift-1)) >> shift`` (floor shift).
* ``acc_bits``: the signed width that holds every accumulator of a fan-in
  and bias bound (§3); the bound itself is ``golden.bundle_rules.
  accumulator_bound``, which the bundle loader and the quantiser check.
* ``POOL_KINDS``/``PoolKind``: the max pools the contract has
  (``golden.layers``; the importer lowers to them).
* ``takes_lead``: argmax's rule -- a class replaces the best so far only
  when its sum is strictly greater, so a tie goes to the lowest class, as
  ``golden.intref.argmax`` (numpy's first maximum).

The rules themselves live in ``golden`` (the lowest layer, which must not
import ``rtl_gen``); this module is the hardware's one entry to them.
"""
from __future__ import annotations

from amaranth.hdl import Mux

from golden.bundle_rules import accumulator_bound
from golden.layers import POOL_KINDS, PoolKind

__all__ = ["clamp_u8", "rounding", "acc_bits", "POOL_KINDS", "PoolKind", "takes_lead"]


def clamp_u8(value):
    """clamp(value, 0, 255) of a signed or unsigned value: its sign bit and
    an OR of the bits above 7, so no comparison's carry chain."""
    if not value.shape().signed:
        return Mux(value[8:].any(), 255, value[:8])
    return Mux(value[-1], 0, Mux(value[8:].any(), 255, value[:8]))


def rounding(shift: int) -> int:
    """The round-half-up constant added before a floor shift by ``shift`` (>= 1)."""
    return 1 << (shift - 1)


def acc_bits(fan_in: int, max_bias: int = 0) -> int:
    """Bits of a signed accumulator of ``fan_in`` int8 x uint8 products plus
    a bias of at most ``max_bias`` in magnitude, exact for the bound."""
    return accumulator_bound(fan_in, max_bias).bit_length() + 1


def takes_lead(first, *greater):
    """Whether the current class becomes the argmax: it is the first, or its
    sum is strictly greater than the best so far (ties: the lowest class).
    ``greater``: that comparison, or the parts whose OR it is (a comparison
    split into halves for timing)."""
    lead = first
    for part in greater:
        lead = lead | part
    return lead
