"""A float network as a flat layer graph: the shape the quantiser and the
bundle share.

``extract(model)`` folds BatchNorm into the convolutions and lists the layers
in topological order.  Each layer is a dict with ``name``, ``kind``,
``inputs`` (names of earlier layers) and float64 numpy parameters.  Kinds:

* ``input``   — the uint8 image, ``shape`` [H, W, C]; optional ``pad``, the
  raw pixel value per channel that convs reading the image pad with;
* ``conv``    — k x k conv + activation: ``weight`` [Cout, Cin, k, k], ``bias``,
  ``kernel``, ``stride``, ``padding``; optional ``act`` (``ACTIVATIONS``:
  relu, the default; relu6; none, only for the logits read by the gap) and
  ``fill`` (per input channel, the float value padding takes: a folded
  input normalisation's zero);
* ``fire``    — squeeze / expand1x1 / expand3x3 convs, each + ReLU (``act``:
  the expands', the squeeze's in its own dict), concat;
* ``maxpool`` — ``kernel``, ``stride``, ``ceil`` (the family's: 3x3 / 2, ceil mode);
* ``add``     — bypass: ReLU(inputs[0] + side), side = inputs[1] (simple) or
  conv1x1(inputs[1]) (complex, ``weight`` [C, Cin, 1, 1], ``bias``);
* ``gap``     — global average pool (the network output).

``forward(graph, x)`` runs the folded float graph and returns every layer's
activation, which the quantiser uses for calibration.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from golden.batchnorm import fold_batchnorm
from golden.models import Bypass, ConvReLU, Fire, MaxPool, SqueezeNet, output_size


def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d | None) -> tuple[np.ndarray, np.ndarray]:
    """BatchNorm folded into the conv (``golden.batchnorm``), in numpy float64."""
    def f64(t):
        return t.detach().cpu().numpy().astype(np.float64)
    w = f64(conv.weight)
    b = f64(conv.bias) if conv.bias is not None else np.zeros(w.shape[0])
    if bn is None:
        return w, b
    return fold_batchnorm(w, b, f64(bn.weight), f64(bn.bias), f64(bn.running_mean), f64(bn.running_var), bn.eps)


def conv_params(block: ConvReLU) -> dict:
    conv = block[0]
    bn = block[1] if isinstance(block[1], nn.BatchNorm2d) else None
    w, b = _fold(conv, bn)
    return {"weight": w, "bias": b, "kernel": conv.kernel_size[0], "stride": conv.stride[0],
            "padding": conv.padding[0]}


def extract(model: SqueezeNet) -> list[dict]:
    spec = model.spec
    h = w = spec.image_size
    c = spec.in_channels
    layers = [{"name": "input", "kind": "input", "inputs": [], "shape": [h, w, c]}]
    prev = "input"
    counts = {"pool": 0}
    fire_no = 1
    for block in model.features:
        if isinstance(block, ConvReLU):
            p = conv_params(block)
            h = output_size(h, p["kernel"], p["stride"], p["padding"])
            w = output_size(w, p["kernel"], p["stride"], p["padding"])
            c = p["weight"].shape[0]
            layers.append({"name": "conv1", "kind": "conv", "inputs": [prev], "shape": [h, w, c], **p})
            prev = "conv1"
        elif isinstance(block, MaxPool):
            counts["pool"] += 1
            name = f"pool{counts['pool']}"
            h = output_size(h, 3, 2, 0, ceil=True)
            w = output_size(w, 3, 2, 0, ceil=True)
            layers.append({"name": name, "kind": "maxpool", "inputs": [prev], "shape": [h, w, c],
                           "kernel": 3, "stride": 2, "ceil": True})
            prev = name
        elif isinstance(block, (Fire, Bypass)):
            fire = block.fire if isinstance(block, Bypass) else block
            fire_no += 1
            name = f"fire{fire_no}"
            parts = {"squeeze": conv_params(fire.squeeze)}
            for part in ("expand1x1", "expand3x3"):
                m = getattr(fire, part)
                parts[part] = conv_params(m) if m is not None else None
            layers.append({"name": name, "kind": "fire", "inputs": [prev], "shape": [h, w, fire.cout],
                           "cin": fire.cin, "s1x1": fire.s1x1, "e1x1": fire.e1x1, "e3x3": fire.e3x3,
                           **parts})
            fire_in, prev, c = prev, name, fire.cout
            if isinstance(block, Bypass):
                add = {"name": f"{name}_bypass", "kind": "add", "inputs": [name, fire_in],
                       "shape": [h, w, c], "bypass": block.kind}
                if block.kind == "complex":
                    wgt, b = _fold(block.conv, block.bn)
                    add.update(weight=wgt, bias=b, kernel=1, stride=1, padding=0)
                layers.append(add)
                prev = add["name"]
        else:
            raise ValueError(f"cannot extract layer of type {type(block).__name__}")
    p = conv_params(model.conv10)
    layers.append({"name": "conv10", "kind": "conv", "inputs": [prev],
                   "shape": [h, w, p["weight"].shape[0]], **p})
    layers.append({"name": "gap", "kind": "gap", "inputs": ["conv10"], "shape": [1, 1, p["weight"].shape[0]]})
    return layers


@dataclass(frozen=True)
class FloatOps:
    """The float operations a graph walk uses (torch here, fixed-order numpy
    in ``golden.calibration``); tensors are NCHW."""
    conv: Callable          # (x, layer params) -> conv + bias, before the ReLU
    relu: Callable
    maxpool: Callable       # (x, kernel, stride, ceil)
    cat: Callable           # list of tensors -> concatenated on channels
    gap: Callable | None    # None: the walk skips gap layers
    minimum: Callable | None = None    # (x, bound): ReLU6's upper clamp


ACTIVATIONS = ("relu", "relu6", "none")


def activate(y, act: str, ops: FloatOps):
    """The activation after a conv, fire or add: ``act`` of ``ACTIVATIONS``
    (a layer dict's ``act``, default relu)."""
    if act == "none":
        return y
    y = ops.relu(y)
    if act == "relu6":
        if ops.minimum is None:
            raise ValueError("this float evaluator has no ReLU6")
        y = ops.minimum(y, 6.0)
    return y


def walk(graph: list[dict], x, ops: FloatOps) -> dict:
    """Every activation of the folded float graph on input ``x``, including
    ``<fire>.squeeze``."""
    acts: dict = {}
    for layer in graph:
        kind, name = layer["kind"], layer["name"]
        src = [acts[i] for i in layer["inputs"]]
        act = layer.get("act", "relu")
        if kind == "input":
            out = x
        elif kind == "conv":
            out = activate(ops.conv(src[0], layer), act, ops)
        elif kind == "maxpool":
            out = ops.maxpool(src[0], layer["kernel"], layer["stride"], layer["ceil"])
        elif kind == "fire":
            sq = layer["squeeze"]
            s = acts[f"{name}.squeeze"] = activate(ops.conv(src[0], sq), sq.get("act", "relu"), ops)
            out = ops.cat([activate(ops.conv(s, layer[p]), act, ops) for p in ("expand1x1", "expand3x3")
                           if layer[p] is not None])
        elif kind == "add":
            side = src[1] if layer["bypass"] == "simple" else ops.conv(src[1], layer)
            out = activate(src[0] + side, act, ops)
        elif kind == "gap":
            if ops.gap is None:
                continue
            out = ops.gap(src[0])
        else:
            raise ValueError(f"layer {name!r}: unknown kind {kind!r}")
        acts[name] = out
    return acts


def _conv(x, p):
    pad = p.get("padding", 0)
    if pad and p.get("fill") is not None:
        x, pad = pad_with(x, pad, torch.as_tensor(p["fill"], dtype=x.dtype)), 0
    return F.conv2d(x, torch.from_numpy(p["weight"]).to(x.dtype), torch.from_numpy(p["bias"]).to(x.dtype),
                    stride=p.get("stride", 1), padding=pad)


def pad_with(x: torch.Tensor, pad: int, fill: torch.Tensor) -> torch.Tensor:
    """``x`` (NCHW) padded by ``pad`` on each side with ``fill[c]`` per channel."""
    n, c, h, w = x.shape
    out = fill.reshape(1, c, 1, 1).expand(n, c, h + 2 * pad, w + 2 * pad).clone()
    out[:, :, pad:pad + h, pad:pad + w] = x
    return out


TORCH_OPS = FloatOps(conv=_conv, relu=torch.relu,
                     maxpool=lambda x, k, s, ceil: F.max_pool2d(x, k, s, ceil_mode=ceil),
                     cat=lambda xs: torch.cat(xs, 1), gap=lambda x: x.mean((2, 3)),
                     minimum=lambda x, bound: torch.clamp(x, max=bound))


@torch.no_grad()
def forward(graph: list[dict], x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Run the folded float graph in torch on ``x`` (N, C, H, W, float in
    [0, 1]): every activation (NCHW), including ``<fire>.squeeze``.  (The
    quantiser's calibration uses ``golden.calibration`` instead, whose
    results do not depend on the machine.)"""
    return walk(graph, x, TORCH_OPS)


class GraphModule(nn.Module):
    """The folded float graph as an ``nn.Module``: float NCHW images in
    [0, 1] to the class scores (its last layer's output, the global
    average pool's).  A user's model as the importer folded it (its
    ``Normalize`` inside), for evaluation and as the distillation teacher
    of ``golden.finetune``; it has no parameters of its own."""

    def __init__(self, graph: list[dict]):
        super().__init__()
        self.graph = graph

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return walk(self.graph, x, TORCH_OPS)[self.graph[-1]["name"]]
