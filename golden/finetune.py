"""Fine-tuning of shared weights (Deep Compression §3.3), in float PyTorch.

The network is the BN-folded float graph (``golden.graph``) in which every
weight is ``centroids[indices] · scale_c`` (``golden.weight_sharing``); the
indices and scales stay fixed, the centroids and the biases train.  A
centroid's gradient is the sum of its members' gradients: the backward
pass of the gather ``centroids[indices]``.  A centroid pinned to 0 by
pruning stays exactly 0.  Same data, augmentation and loss as
``golden.train``; seeded, deterministic algorithms.

Like training, the result is float: its last bits depend on the machine.
Integers are made from it afterwards, reproducibly (``golden.compress``
can save the fine-tuned values and make a bundle from them elsewhere).
"""
from __future__ import annotations

import math
import sys
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from golden.graph import FloatOps, walk
from golden.train import augment, to_float
from golden.weight_sharing import SharedWeights, weight_params


class SharedConv(nn.Module):
    """One convolution whose weight is ``centroids[indices] · scale_c``."""

    def __init__(self, shared: SharedWeights, bias: np.ndarray, stride: int, padding: int):
        super().__init__()
        self.centroids = nn.Parameter(torch.tensor(shared.centroids, dtype=torch.float32))
        self.bias = nn.Parameter(torch.tensor(bias, dtype=torch.float32))
        self.register_buffer("indices", torch.from_numpy(shared.indices.astype(np.int64)))
        self.register_buffer("scale", torch.tensor(shared.scale, dtype=torch.float32).reshape(-1, 1, 1, 1))
        self.pinned = shared.pinned
        self.stride, self.padding = stride, padding

    def forward(self, x):
        weight = self.centroids[self.indices] * self.scale
        return F.conv2d(x, weight, self.bias, stride=self.stride, padding=self.padding)

    @torch.no_grad()
    def keep_in_range(self):
        """Centroids stay representable in int8, the pinned zero stays 0."""
        self.centroids.clamp_(-127.0, 127.0)
        if self.pinned is not None:
            self.centroids[self.pinned] = 0.0


class SharedWeightNet(nn.Module):
    """The folded graph with shared weights; ``forward`` gives the class
    averages (the global average pool), like ``golden.models.SqueezeNet``."""

    def __init__(self, graph: list[dict], shared: dict[str, SharedWeights]):
        super().__init__()
        self.graph = [dict(layer) for layer in graph]
        for layer in self.graph:
            for part in ("squeeze", "expand1x1", "expand3x3"):
                if layer.get(part) is not None:
                    layer[part] = dict(layer[part])
        self.keys = []
        convs = {}
        for key, p in weight_params(self.graph):
            p["key"] = key
            self.keys.append(key)
            convs[key.replace("/", "_")] = SharedConv(shared[key], p["bias"], p.get("stride", 1), p.get("padding", 0))
        self.convs = nn.ModuleDict(convs)
        self.ops = FloatOps(conv=lambda x, p: self.conv(p["key"])(x), relu=torch.relu,
                            maxpool=lambda x, k, s, ceil: F.max_pool2d(x, k, s, ceil_mode=ceil),
                            cat=lambda xs: torch.cat(xs, 1), gap=lambda x: x.mean((2, 3)))

    def conv(self, key: str) -> SharedConv:
        return self.convs[key.replace("/", "_")]

    def forward(self, x):
        return walk(self.graph, x, self.ops)[self.graph[-1]["name"]]

    def keep_in_range(self):
        for key in self.keys:
            self.conv(key).keep_in_range()

    def shared(self, before: dict[str, SharedWeights]) -> tuple[dict[str, SharedWeights], dict[str, np.ndarray]]:
        """(the trained shared weights, the trained biases) as float64 numpy."""
        out, biases = {}, {}
        for key in self.keys:
            conv = self.conv(key)
            out[key] = replace(before[key], centroids=conv.centroids.detach().double().numpy().copy())
            biases[key] = conv.bias.detach().double().numpy().copy()
        return out, biases


def finetune(graph: list[dict], shared: dict[str, SharedWeights], images: np.ndarray, labels: np.ndarray,
             epochs: int, seed: int = 0, batch: int = 128, lr: float = 0.25, bias_lr: float = 1e-3,
             progress: bool = True) -> tuple[dict[str, SharedWeights], dict[str, np.ndarray]]:
    """Train the centroids and biases for ``epochs`` on uint8 NHWC
    ``images``: Adam, centroids at ``lr`` int8 steps and biases at
    ``bias_lr``, both on a cosine decay to 0; returns (shared, biases)."""
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    gen = torch.Generator().manual_seed(seed)
    net = SharedWeightNet(graph, shared)
    centroids = [net.conv(k).centroids for k in net.keys]
    biases = [net.conv(k).bias for k in net.keys]
    opt = torch.optim.Adam([{"params": centroids, "lr": lr}, {"params": biases, "lr": bias_lr}])
    steps = epochs * math.ceil(len(images) / batch)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.5 * (1 + math.cos(math.pi * step / steps)))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    x_all, y_all = to_float(images), torch.from_numpy(labels)
    for epoch in range(epochs):
        perm = torch.randperm(len(images), generator=gen)
        bar = tqdm(range(0, len(images), batch), desc=f"fine-tune {epoch + 1}/{epochs}", file=sys.stderr,
                   leave=False, disable=not progress)
        for i in bar:
            idx = perm[i:i + batch]
            loss = loss_fn(net(augment(x_all[idx], gen)), y_all[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            net.keep_in_range()
            bar.set_postfix(loss=f"{loss.item():.3f}")
    return net.shared(shared)
