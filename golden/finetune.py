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
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from golden.graph import FloatOps, pad_with, walk
from golden.graph_copy import copy_graph
from golden.train import augment, to_float
from golden.int8_weights import per_channel
from golden.weight_sharing import SharedWeights, is_logits, weight_params


class SharedConv(nn.Module):
    """One convolution whose weight is ``centroids[indices] · scale_c``.

    With ``latent`` (the weights in int8 units, ``w / scale_c``), the
    indices are not fixed: every step points each weight at the centroid
    nearest its latent value, and the latent values train through that
    rounding as if it were the identity (straight-through estimator); the
    pruned weights stay at the pinned zero.

    ``fill`` (per input channel): the value padding takes, a folded
    ``Normalize``'s zero (``golden.graph``), as the quantised network pads;
    ``per_tensor``: one scale for every channel, trained as one (a logits
    layer, ``golden.weight_sharing.is_logits``)."""

    def __init__(self, shared: SharedWeights, bias: np.ndarray, stride: int, padding: int,
                 latent: np.ndarray | None = None, fill: np.ndarray | None = None, per_tensor: bool = False):
        super().__init__()
        self.centroids = nn.Parameter(torch.tensor(shared.centroids, dtype=torch.float32))
        self.bias = nn.Parameter(torch.tensor(bias, dtype=torch.float32))
        self.register_buffer("indices", torch.from_numpy(shared.indices.astype(np.int64)))
        # The per-channel scale trains too (as a logarithm, so it stays positive): the hardware
        # takes it for free, in the channel's requantisation multiplier.
        scale = shared.scale[:1] if per_tensor else shared.scale
        self.log_scale = nn.Parameter(torch.tensor(np.log(scale), dtype=torch.float32).reshape(-1, 1, 1, 1))
        self.fill = None if fill is None else torch.tensor(np.asarray(fill), dtype=torch.float32)
        self.latent = None if latent is None else nn.Parameter(torch.tensor(latent, dtype=torch.float32))
        self.pinned = shared.pinned
        self.stride, self.padding = stride, padding
        self.hardness = 1.0       # < 1 (weights mode): a blend with the float latent weights


    def values(self) -> torch.Tensor:
        """The centroids rounded to integers, as the codebook will hold them:
        the network trains with the integer values it will have (the
        gradient passes the rounding unchanged)."""
        c = self.centroids
        return c + (torch.round(c) - c).detach()

    def current_indices(self) -> torch.Tensor:
        if self.latent is None:
            return self.indices
        c, order = torch.sort(torch.round(self.centroids.detach()), stable=True)
        free = order != self.pinned if self.pinned is not None else torch.ones_like(order, dtype=torch.bool)
        c, order = c[free], order[free]
        idx = order[torch.bucketize(self.latent.detach(), (c[1:] + c[:-1]) / 2)]
        return idx if self.pinned is None else torch.where(self.indices == self.pinned, self.pinned, idx)

    def forward(self, x):
        values = self.values()[self.current_indices()]
        if self.latent is not None:
            values = values + (self.latent - self.latent.detach())       # straight-through
            values = self.hardness * values + (1 - self.hardness) * self.latent
        weight = values * self.log_scale.exp()
        padding = self.padding
        if padding and self.fill is not None:
            x, padding = pad_with(x, padding, self.fill), 0
        return F.conv2d(x, weight, self.bias, stride=self.stride, padding=padding)

    @torch.no_grad()
    def keep_in_range(self):
        """Centroids stay representable in int8, the pinned zero stays 0."""
        self.centroids.clamp_(-127.0, 127.0)
        if self.pinned is not None:
            self.centroids[self.pinned] = 0.0
        if self.latent is not None:
            self.latent.clamp_(-127.0, 127.0)


class SharedWeightNet(nn.Module):
    """The folded graph with shared weights; ``forward`` gives the class
    averages (the global average pool), like ``golden.models.SqueezeNet``."""

    def __init__(self, graph: list[dict], shared: dict[str, SharedWeights], reassign: bool = False):
        super().__init__()
        self.graph = copy_graph(graph)
        self.keys = []
        convs = {}
        for key, p in weight_params(self.graph):
            p["key"] = key
            self.keys.append(key)
            latent = p["weight"] / per_channel(shared[key].scale, p["weight"].ndim) if reassign else None
            convs[key.replace("/", "_")] = SharedConv(shared[key], p["bias"], p.get("stride", 1), p.get("padding", 0),
                                                      latent, p.get("fill"), is_logits(p))
        self.convs = nn.ModuleDict(convs)
        self.ops = FloatOps(conv=lambda x, p: self.conv(p["key"])(x), relu=torch.relu,
                            maxpool=lambda x, k, s, ceil: F.max_pool2d(x, k, s, ceil_mode=ceil),
                            cat=lambda xs: torch.cat(xs, 1), gap=lambda x: x.mean((2, 3)),
                            minimum=lambda x, bound: torch.clamp(x, max=bound))

    def conv(self, key: str) -> SharedConv:
        return self.convs[key.replace("/", "_")]

    def forward(self, x):
        return walk(self.graph, x, self.ops)[self.graph[-1]["name"]]

    def keep_in_range(self):
        for key in self.keys:
            self.conv(key).keep_in_range()

    def set_hardness(self, hardness: float):
        for key in self.keys:
            self.conv(key).hardness = hardness

    def shared(self, before: dict[str, SharedWeights]) -> tuple[dict[str, SharedWeights], dict[str, np.ndarray]]:
        """(the trained shared weights, the trained biases) as float64 numpy."""
        out, biases = {}, {}
        for key in self.keys:
            conv = self.conv(key)
            scale = conv.log_scale.detach().double().exp().numpy().reshape(-1)
            out[key] = replace(before[key], centroids=conv.centroids.detach().double().numpy().copy(),
                               scale=np.broadcast_to(scale, before[key].scale.shape).copy(),
                               indices=conv.current_indices().numpy().astype(np.uint8))
            biases[key] = conv.bias.detach().double().numpy().copy()
        return out, biases


@dataclass(frozen=True)
class Schedule:
    """Fine-tuning's optimisation: Adam, every rate on one cosine decay to 0."""
    epochs: int
    batch: int = 128
    lr: float = 0.05            # centroids, in int8 steps
    latent_lr: float = 0.02     # the weights' float values (weights mode), in int8 steps
    bias_lr: float = 1e-3
    scale_lr: float = 1e-3      # log of the per-channel scales
    anneal: float = 0.0         # weights mode: share of the steps over which the rounding fades in


def _optimizer(net: SharedWeightNet, schedule: Schedule, steps: int):
    convs = [net.conv(k) for k in net.keys]
    groups = [{"params": [c.centroids for c in convs], "lr": schedule.lr},
              {"params": [c.bias for c in convs], "lr": schedule.bias_lr},
              {"params": [c.log_scale for c in convs], "lr": schedule.scale_lr}]
    if convs[0].latent is not None:
        groups.append({"params": [c.latent for c in convs], "lr": schedule.latent_lr})
    opt = torch.optim.Adam(groups)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.5 * (1 + math.cos(math.pi * step / steps)))


def finetune(graph: list[dict], shared: dict[str, SharedWeights], images: np.ndarray, labels: np.ndarray,
             schedule: Schedule, seed: int = 0, reassign: bool = True, teacher: nn.Module | None = None,
             progress: bool = True) -> tuple[dict[str, SharedWeights], dict[str, np.ndarray]]:
    """Fine-tune on uint8 NHWC ``images``; ``reassign``: the weights mode
    (else Deep Compression's fixed indices); ``teacher``: the float network
    to distil from.  Returns (shared weights, biases), float64."""
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    gen = torch.Generator().manual_seed(seed)
    net = SharedWeightNet(graph, shared, reassign)
    steps_per_epoch = math.ceil(len(images) / schedule.batch)
    opt, sched = _optimizer(net, schedule, schedule.epochs * steps_per_epoch)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    x_all, y_all = to_float(images), torch.from_numpy(labels)
    for epoch in range(schedule.epochs):
        perm = torch.randperm(len(images), generator=gen)
        bar = tqdm(range(steps_per_epoch), desc=f"fine-tune {epoch + 1}/{schedule.epochs}", file=sys.stderr,
                   leave=False, disable=not progress)
        total = 0.0
        for step in bar:
            net.set_hardness(min(1.0, (epoch + step / steps_per_epoch) / (schedule.anneal * schedule.epochs))
                             if schedule.anneal else 1.0)
            idx = perm[step * schedule.batch:(step + 1) * schedule.batch]
            x = augment(x_all[idx], gen)
            out = net(x)
            loss = loss_fn(out, y_all[idx])
            if teacher is not None:
                loss = 0.5 * loss + 0.5 * distillation_loss(out, teacher, x)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            net.keep_in_range()
            total += loss.item() * len(idx)
            bar.set_postfix(loss=f"{loss.item():.3f}")
        if progress:
            print(f"fine-tune {epoch + 1}/{schedule.epochs}: loss {total / len(images):.4f}", file=sys.stderr,
                  flush=True)
    return net.shared(shared)


def distillation_loss(out: torch.Tensor, teacher: nn.Module, x: torch.Tensor, temperature: float = 2.0):
    """KL divergence from the float teacher's softened outputs (Hinton et al.)."""
    with torch.no_grad():
        target = F.softmax(teacher(x) / temperature, dim=1)
    return F.kl_div(F.log_softmax(out / temperature, dim=1), target, reduction="batchmean") * temperature ** 2
