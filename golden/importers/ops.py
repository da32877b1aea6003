"""The importers' common form: a user network as a list of plain float
operations, before anything is folded or matched to the family's layers.

Both importers (``golden.importers.torch_fx`` for an ``nn.Module``,
``golden.importers.onnx_file`` for an ``.onnx`` file) produce a list of
``Op`` in topological order; ``golden.importers.lowering`` turns it into
the folded float graph the quantiser takes (``golden.graph``).  Shapes are
each op's output [H, W, C] (a flat vector after pooling is [1, 1, C]).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from golden.bad_input import BadInput

# What an op may be.  Everything else is refused by the importer that meets it.
KINDS = ("input", "conv", "batchnorm", "relu", "relu6", "maxpool", "gap", "cat", "add", "linear", "identity",
         "output")


class ImportError_(BadInput):
    """A network the importers cannot take: one line naming the module or
    node, its type and why."""


@dataclass
class Op:
    """One operation.  ``origin`` names it for messages (``module
    'features.3' (MaxPool2d)`` or ``node 'Conv_4' (Conv)``); ``name`` is a
    unique identifier usable as a bundle layer name."""
    name: str
    kind: str
    inputs: list[str]
    shape: tuple[int, int, int]
    origin: str
    weight: np.ndarray | None = None          # conv [Cout, Cin, k, k]; linear [Cout, Cin]
    bias: np.ndarray | None = None
    kernel: int = 1
    stride: int = 1
    padding: int = 0
    ceil: bool = False
    bn: dict[str, np.ndarray] = field(default_factory=dict)   # batchnorm: gamma, beta, mean, var, eps


def layer_name(raw: str, taken: set[str]) -> str:
    """``raw`` (a module path or node name) as a bundle layer name: letters,
    digits and underscores, unique among ``taken`` (which it joins)."""
    base = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in raw).strip("_") or "layer"
    if base[0].isdigit():
        base = "l" + base
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    taken.add(name)
    return name


def square(value, what: str, origin: str) -> int:
    """An int from an int or a sequence of equal ints (a kernel, stride,
    padding); anything else is refused naming ``origin``."""
    if isinstance(value, (tuple, list)):
        if len(set(value)) != 1:
            raise ImportError_(f"{origin}: {what} {tuple(value)}: only square {what}s are supported")
        value = value[0]
    return int(value)
