"""A float network as a flat layer graph: the shape the quantiser and the
bundle share.

``extract(model)`` folds BatchNorm into the convolutions and lists the layers
in topological order.  Each layer is a dict with ``name``, ``kind``,
``inputs`` (names of earlier layers) and float64 numpy parameters.  Kinds:

* ``input``   — the uint8 image, ``shape`` [H, W, C];
* ``conv``    — k x k conv + ReLU (conv1, conv10): ``weight`` [Cout, Cin, k, k], ``bias``;
* ``fire``    — squeeze / expand1x1 / expand3x3 convs, each + ReLU, concat;
* ``maxpool`` — 3x3 / 2, ceil mode;
* ``add``     — bypass: ReLU(inputs[0] + side), side = inputs[1] (simple) or
  conv1x1(inputs[1]) (complex, ``weight`` [C, Cin, 1, 1], ``bias``);
* ``gap``     — global average pool (the network output).

``forward(graph, x)`` runs the folded float graph and returns every layer's
activation, which the quantiser uses for calibration.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from golden.models import Bypass, ConvReLU, Fire, MaxPool, SqueezeNet, output_size


def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d | None) -> tuple[np.ndarray, np.ndarray]:
    w = conv.weight.detach().double()
    b = conv.bias.detach().double() if conv.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64)
    if bn is not None:
        g = bn.weight.detach().double() / torch.sqrt(bn.running_var.detach().double() + bn.eps)
        w = w * g[:, None, None, None]
        b = (b - bn.running_mean.detach().double()) * g + bn.bias.detach().double()
    return w.numpy(), b.numpy()


def _conv_params(block: ConvReLU) -> dict:
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
            p = _conv_params(block)
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
            layers.append({"name": name, "kind": "maxpool", "inputs": [prev], "shape": [h, w, c]})
            prev = name
        elif isinstance(block, (Fire, Bypass)):
            fire = block.fire if isinstance(block, Bypass) else block
            fire_no += 1
            name = f"fire{fire_no}"
            parts = {"squeeze": _conv_params(fire.squeeze)}
            for part in ("expand1x1", "expand3x3"):
                m = getattr(fire, part)
                parts[part] = _conv_params(m) if m is not None else None
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
    p = _conv_params(model.conv10)
    layers.append({"name": "conv10", "kind": "conv", "inputs": [prev],
                   "shape": [h, w, p["weight"].shape[0]], **p})
    layers.append({"name": "gap", "kind": "gap", "inputs": ["conv10"], "shape": [1, 1, p["weight"].shape[0]]})
    return layers


def _conv(x, p):
    return F.conv2d(x, torch.from_numpy(p["weight"]).to(x.dtype), torch.from_numpy(p["bias"]).to(x.dtype),
                    stride=p.get("stride", 1), padding=p.get("padding", 0))


@torch.no_grad()
def forward(graph: list[dict], x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Run the folded float graph on ``x`` (N, C, H, W, float in [0, 1]).

    Returns every activation (NCHW), including ``<fire>.squeeze`` and, for an
    ``add`` layer, ``<add>.fire`` is simply the fire layer's own entry."""
    acts: dict[str, torch.Tensor] = {}
    for layer in graph:
        kind, name = layer["kind"], layer["name"]
        src = [acts[i] for i in layer["inputs"]]
        if kind == "input":
            out = x
        elif kind == "conv":
            out = torch.relu(_conv(src[0], layer))
        elif kind == "maxpool":
            out = F.max_pool2d(src[0], 3, 2, ceil_mode=True)
        elif kind == "fire":
            s = torch.relu(_conv(src[0], layer["squeeze"]))
            acts[f"{name}.squeeze"] = s
            outs = [torch.relu(_conv(s, layer[p])) for p in ("expand1x1", "expand3x3") if layer[p] is not None]
            out = torch.cat(outs, 1)
        elif kind == "add":
            side = src[1] if layer["bypass"] == "simple" else _conv(src[1], layer)
            out = torch.relu(src[0] + side)
        elif kind == "gap":
            out = src[0].mean((2, 3))
        else:
            raise ValueError(f"layer {name!r}: unknown kind {kind!r}")
        acts[name] = out
    return acts
