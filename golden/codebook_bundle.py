"""A network whose weights share codebooks, as a bundle: the quantiser run
on the codebooks' int8 weights (``codebook_bundle``), and the rule for a
codebook's bits (``check_bits``).  Used by ``golden.compress``, its report
(``golden.compression_report``) and the design-space sweep."""
from __future__ import annotations

from golden.bundle import Bundle
from golden.codebook import MAX_BITS
from golden.quantize import quantize
from golden.weight_sharing import MIN_SHARE_BITS, SharedWeights, codebook_graph, codebooks_of

__all__ = ["codebook_bundle", "check_bits"]


def codebook_bundle(graph: list[dict], shared: dict[str, SharedWeights], biases: dict | None, calib,
                    name: str, meta: dict | None = None, m_bits: int = 16) -> Bundle:
    """Quantise the graph with the codebooks' int8 weights (the multipliers
    are computed for those weights); the bundle carries the codebooks."""
    bundle = quantize(codebook_graph(graph, shared, biases), calib, name, meta=meta, m_bits=m_bits)
    return bundle.with_codebooks(codebooks_of(shared))


def check_bits(value, what: str) -> int:
    try:
        bits = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: bits must be an integer from {MIN_SHARE_BITS} to {MAX_BITS}, got {value!r}") from None
    if not MIN_SHARE_BITS <= bits <= MAX_BITS:
        raise ValueError(f"{what}: bits must be from {MIN_SHARE_BITS} to {MAX_BITS}, got {bits}")
    return bits
