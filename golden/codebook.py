"""A layer's shared weights: Deep Compression's codebook (``docs/int8.md`` §7).

A weight array coded with a codebook is a small table of int8 values and,
per weight, a b-bit index into it.  The integer contract does not change: the
weight *is* ``values[index]``, an int8, so the golden arithmetic never sees
the codebook.  The bundle stores the indices packed (``pack_indices``); the
hardware stores them in its weight ROMs and looks the values up on the way to
the multipliers.  Torch-free.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Codebook", "CodebookError", "MIN_BITS", "MAX_BITS", "pack_indices", "unpack_indices", "exact_codebook"]

MIN_BITS, MAX_BITS = 1, 8


class CodebookError(ValueError):
    """A codebook that breaks the rules (size, value range, index range)."""


@dataclass(frozen=True, eq=False)
class Codebook:
    """``values``: int8 [2**bits], each in -127..127; ``indices``: uint8 in
    the weight's shape, each < 2**bits."""

    values: np.ndarray
    indices: np.ndarray

    def __post_init__(self):
        size = len(self.values)
        if self.values.ndim != 1 or size < 2 ** MIN_BITS or size > 2 ** MAX_BITS or size & (size - 1):
            raise CodebookError(f"codebook has {size} values; it needs a power of two from "
                                f"{2 ** MIN_BITS} to {2 ** MAX_BITS}")
        if self.values.dtype != np.int8 or int(self.values.min()) < -127:
            raise CodebookError("codebook values must be int8 in -127..127")
        if self.indices.dtype != np.uint8:
            raise CodebookError(f"codebook indices must be uint8, got {self.indices.dtype.name}")
        if self.indices.size and int(self.indices.max()) >= size:
            raise CodebookError(f"index {int(self.indices.max())} is out of range for a {size}-entry codebook")

    @property
    def bits(self) -> int:
        return len(self.values).bit_length() - 1

    def weights(self) -> np.ndarray:
        """The int8 weights the codebook stands for."""
        return self.values[self.indices]

    def index_bits(self) -> int:
        return self.indices.size * self.bits

    def table_bits(self) -> int:
        return len(self.values) * 8


def pack_indices(indices: np.ndarray, bits: int) -> np.ndarray:
    """b-bit indices in C order to bytes, least significant bit first (index
    ``i`` occupies bits ``i*b .. i*b+b-1`` of the little-endian bit stream)."""
    flat = indices.reshape(-1).astype(np.uint16)
    planes = ((flat[:, None] >> np.arange(bits)) & 1).astype(np.uint8).reshape(-1)
    return np.packbits(planes, bitorder="little")


def unpack_indices(packed: np.ndarray, bits: int, count: int) -> np.ndarray:
    """The inverse of ``pack_indices``: ``count`` indices as uint8."""
    need = (count * bits + 7) // 8
    if packed.dtype != np.uint8 or packed.ndim != 1 or len(packed) != need:
        raise CodebookError(f"packed indices must be uint8[{need}] for {count} {bits}-bit indices, "
                            f"got {packed.dtype.name}{list(packed.shape)}")
    planes = np.unpackbits(packed, bitorder="little")[:count * bits].reshape(count, bits)
    return (planes.astype(np.uint16) << np.arange(bits)).sum(axis=1).astype(np.uint8)


def exact_codebook(weights: np.ndarray, bits: int | None = None) -> Codebook | None:
    """The smallest codebook that codes ``weights`` exactly (its distinct
    values, padded with zeros to a power of two), or None when more than
    ``2**bits`` values (default: ``MAX_BITS``) are distinct."""
    values, inverse = np.unique(weights.astype(np.int8), return_inverse=True)
    limit = MAX_BITS if bits is None else bits
    if len(values) > 2 ** limit:
        return None
    size = max(2 ** MIN_BITS, 1 << max(len(values) - 1, 1).bit_length())
    if bits is not None:
        size = 2 ** bits
    table = np.zeros(size, dtype=np.int8)
    table[:len(values)] = values
    return Codebook(table, inverse.reshape(weights.shape).astype(np.uint8))
