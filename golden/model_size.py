"""Model size at each stage of Deep Compression (the SqueezeNet paper's
table 2), counted from a folded float graph (``golden.graph``).

Every stage splits its bits into the weights (values or codebook indices),
the tables that decode them (codebooks, sparse gap indices, Huffman code
lengths) and the other constants (biases; from int8 on, also the uint16
requantisation multipliers of ``docs/int8.md`` §4, the bypass adds' ones
included; the few 6-bit shifts are not counted).  Torch-free.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from golden.huffman import coded_bits
from golden.weight_sharing import SharedWeights, is_logits, normalise, prune_mask, weight_params

GAP_BITS = 4            # sparse format: a 4-bit relative index per stored weight
HUFFMAN_LENGTH_BITS = 8  # a code length per codebook entry, stored with the code


@dataclass(frozen=True)
class StageSize:
    stage: str
    weight_bits: int
    table_bits: int
    other_bits: int

    @property
    def total_bits(self) -> int:
        return self.weight_bits + self.table_bits + self.other_bits


def _weights(graph: list[dict]) -> int:
    return sum(p["weight"].size for _, p in weight_params(graph))


def _biases(graph: list[dict]) -> int:
    return sum(p["bias"].size for _, p in weight_params(graph))


def _multipliers(graph: list[dict]) -> int:
    """One per conv output channel, two per bypass-add channel (m_a, m_b);
    a complex bypass conv has none of its own (its sum is scaled by m_b)."""
    convs = sum(p["bias"].size for key, p in weight_params(graph) if not _is_bypass(graph, key))
    adds = sum(2 * layer["shape"][2] for layer in graph if layer["kind"] == "add")
    return convs + adds


def _is_bypass(graph: list[dict], key: str) -> bool:
    name = key.split("/")[0]
    return any(layer["name"] == name and layer["kind"] == "add" for layer in graph)


def int8_other_bits(graph: list[dict]) -> int:
    """int32 biases and uint16 multipliers."""
    return _biases(graph) * 32 + _multipliers(graph) * 16


def float32_size(graph: list[dict]) -> StageSize:
    return StageSize("float32", _weights(graph) * 32, 0, _biases(graph) * 32)


def int8_size(graph: list[dict]) -> StageSize:
    return StageSize("int8", _weights(graph) * 8, 0, int8_other_bits(graph))


def sparse_entries(kept: np.ndarray) -> int:
    """Entries of Deep Compression's sparse format for a boolean mask of
    kept weights (C order): one per kept weight, plus a zero filler wherever
    a gap reaches ``2**GAP_BITS``."""
    pos = np.flatnonzero(kept.ravel())
    gaps = np.diff(np.concatenate(([-1], pos))) - 1
    return int(pos.size + (gaps // 2 ** GAP_BITS).sum())


def pruned_size(graph: list[dict], fraction: float) -> StageSize:
    """int8 values of the kept weights in the sparse format (the stored
    relative indices as tables)."""
    entries = sum(sparse_entries(~prune_mask(normalise(p["weight"], is_logits(p))[0], fraction))
                  for _, p in weight_params(graph))
    return StageSize(f"pruned {fraction:.0%} (sparse)", entries * 8, entries * GAP_BITS, int8_other_bits(graph))


def codebook_size(graph: list[dict], shared: dict[str, SharedWeights], label: str) -> StageSize:
    """Dense b-bit indices (as the hardware stores them) and int8 tables."""
    return StageSize(label, sum(s.indices.size * s.bits for s in shared.values()),
                     sum(len(s.centroids) * 8 for s in shared.values()), int8_other_bits(graph))


def huffman_size(graph: list[dict], shared: dict[str, SharedWeights], label: str) -> StageSize:
    """The indices Huffman-coded per layer with their own histogram; the
    tables hold the codebooks and the code lengths."""
    bits = sum(coded_bits(s.indices, len(s.centroids)) for s in shared.values())
    tables = sum(len(s.centroids) * (8 + HUFFMAN_LENGTH_BITS) for s in shared.values())
    return StageSize(label, bits, tables, int8_other_bits(graph))
