"""Huffman code lengths from a symbol histogram: the size of Deep
Compression's last stage (§4), computed, not implemented in hardware."""
from __future__ import annotations

import heapq

import numpy as np


def code_lengths(counts: np.ndarray) -> np.ndarray:
    """The code length of every symbol of an optimal (Huffman) prefix code
    for ``counts``; 0 for a symbol that never occurs, 1 when only one does.
    Ties are broken by symbol order, so the lengths are deterministic."""
    counts = np.asarray(counts, dtype=np.int64)
    lengths = np.zeros(len(counts), dtype=np.int64)
    used = [int(s) for s in np.flatnonzero(counts)]
    if len(used) == 1:
        lengths[used[0]] = 1
    heap = [(int(counts[s]), i, [s]) for i, s in enumerate(used)]
    heapq.heapify(heap)
    order = len(heap)
    while len(heap) > 1:
        c1, _, s1 = heapq.heappop(heap)
        c2, _, s2 = heapq.heappop(heap)
        lengths[s1 + s2] += 1             # every symbol below the new node is one bit deeper
        heapq.heappush(heap, (c1 + c2, order, s1 + s2))
        order += 1
    return lengths


def coded_bits(symbols: np.ndarray, alphabet: int) -> int:
    """Bits of ``symbols`` (integers below ``alphabet``) Huffman-coded with
    the code of their own histogram."""
    counts = np.bincount(np.asarray(symbols).ravel(), minlength=alphabet)
    return int((counts * code_lengths(counts)).sum())
