"""Cross-layer equalisation of a folded float graph (Nagel et al., 2019,
"Data-Free Quantization"), for codebook weights (``docs/compression.md``).

A ReLU is positively homogeneous, and so is a max pool: scaling a
producer's output channel ``i`` by ``t_i > 0`` (its weights and bias) and
the consumer's input column ``i`` by ``1 / t_i`` leaves the network's
function unchanged.  It does change what a codebook sees.  Each output
channel of the consumer is normalised by its largest weight (``docs/int8.md``
§2), so an input column whose weights are all small is left with the few
codebook values near 0.  With ``t_i = colmax_i / max(colmax)`` every column
of the consumer reaches the same largest magnitude, and the producer's
channel scale costs nothing there: its weights are normalised per output
channel too.

Interfaces equalised:

* every Fire's squeeze and its two expands;
* a conv whose output reaches a single conv or Fire (through max pools
  only) and that one's weights: in the family, conv1 and the first Fire's
  squeeze.

Both producers must end in a plain ReLU (a ReLU6's clamp, or no activation,
is not homogeneous).  (A consumer that pads with fill values reads the
image, never a conv's output, so none is rescaled.)  Every operation is a float64 multiply or divide, or a maximum:
the result is the same on every machine.
"""
from __future__ import annotations

import numpy as np

from golden.graph_copy import FIRE_PARTS, copy_graph

__all__ = ["equalize"]


def _homogeneous(params: dict) -> bool:
    return params.get("act", "relu") == "relu"


def _column_scales(consumers: list[dict]) -> np.ndarray:
    colmax = np.max([np.abs(c["weight"]).max(axis=(0, 2, 3)) for c in consumers], axis=0)
    if not colmax.any():
        return np.ones_like(colmax)
    # a dead input column (all weights 0) keeps its scale: there is nothing to balance
    return np.where(colmax > 0, colmax / colmax.max(), 1.0)


def _rescale(producer: dict, consumers: list[dict]) -> None:
    t = _column_scales(consumers)
    producer["weight"] = producer["weight"] * t[:, None, None, None]
    producer["bias"] = producer["bias"] * t
    for c in consumers:
        c["weight"] = c["weight"] / t[None, :, None, None]


def _single_consumer(graph: list[dict], name: str) -> dict | None:
    """The one conv or Fire that ``name``'s output reaches through max
    pools only, or None when it goes anywhere else too."""
    while True:
        users = [layer for layer in graph if name in layer["inputs"]]
        if len(users) != 1:
            return None
        user = users[0]
        if user["kind"] == "maxpool":
            name = user["name"]
            continue
        return user if user["kind"] in ("conv", "fire") else None


def equalize(graph: list[dict]) -> list[dict]:
    """A copy of the folded ``graph`` with its equalisable interfaces
    balanced; the float function is the same up to rounding.  The convs'
    interfaces come first, so each is balanced on the consumer's weights
    as trained."""
    out = copy_graph(graph)
    for layer in out:
        if layer["kind"] != "conv" or not _homogeneous(layer):
            continue
        user = _single_consumer(out, layer["name"])
        if user is not None:
            _rescale(layer, [user["squeeze"] if user["kind"] == "fire" else user])
    for layer in out:
        if layer["kind"] == "fire" and _homogeneous(layer["squeeze"]):
            _rescale(layer["squeeze"], [layer[p] for p in FIRE_PARTS[1:] if layer[p] is not None])
    return out
