"""Copies of a folded float graph (``golden.graph``) to change, torch-free."""
from __future__ import annotations

__all__ = ["FIRE_PARTS", "copy_graph"]

FIRE_PARTS = ("squeeze", "expand1x1", "expand3x3")


def copy_graph(graph: list[dict]) -> list[dict]:
    """A copy whose layer dicts (and Fire parts) can be changed; the
    parameter arrays are shared, so replace them rather than write into them."""
    out = [dict(layer) for layer in graph]
    for layer in out:
        for part in FIRE_PARTS:
            if layer.get(part) is not None:
                layer[part] = dict(layer[part])
    return out
