"""Train the reference network on Fashion-MNIST, deterministically.

    python -m golden.train [--net NAME] [--epochs N] [--out golden/reference/float.pt]

Seeded, with PyTorch's deterministic algorithms on the CPU; writes a
``state_dict`` checkpoint that loads with ``torch.load(..., weights_only=True)``.
``python -m golden.quantize`` then turns it into the reference bundle.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from golden import data
from golden.atomic import replacing
from golden.models import NETWORKS, SqueezeNet, network_spec

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"


def to_float(images_u8: np.ndarray) -> torch.Tensor:
    """uint8 NHWC → float NCHW in [0, 1]: the family's only input scaling."""
    return torch.from_numpy(images_u8).permute(0, 3, 1, 2).float() / 255.0


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random horizontal flip and random shift by up to 2 pixels (zero fill)."""
    n = x.shape[0]
    flip = torch.rand(n, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    pad = nn.functional.pad(x, (2, 2, 2, 2))
    dx = torch.randint(0, 5, (n,), generator=gen)
    dy = torch.randint(0, 5, (n,), generator=gen)
    h, w = x.shape[2:]
    rows = (dy[:, None] + torch.arange(h)[None, :])            # n, h
    cols = (dx[:, None] + torch.arange(w)[None, :])            # n, w
    idx_n = torch.arange(n)[:, None, None]
    out = pad.permute(0, 2, 3, 1)[idx_n, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2).contiguous()


@torch.no_grad()
def evaluate(model: nn.Module, images: np.ndarray, labels: np.ndarray, batch=1000) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(images), batch):
        out = model(to_float(images[i:i + batch]))
        correct += int((out.argmax(1).numpy() == labels[i:i + batch]).sum())
    return correct / len(images)


def train(epochs: int, seed: int, batch: int = 128, lr: float = 3e-3, net: str = "reference-fmnist") -> nn.Module:
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    gen = torch.Generator().manual_seed(seed)
    xtr, ytr = data.load("train")
    xte, yte = data.load("test")
    model = SqueezeNet(network_spec(net, batchnorm=True))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * math.ceil(len(xtr) / batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    xtr_t, ytr_t = to_float(xtr), torch.from_numpy(ytr)
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(xtr), generator=gen)
        bar = tqdm(range(0, len(xtr), batch), desc=f"epoch {epoch + 1}/{epochs}", file=sys.stderr,
                   leave=False)
        total = 0.0
        for i in bar:
            idx = perm[i:i + batch]
            x = augment(xtr_t[idx], gen)
            loss = loss_fn(model(x), ytr_t[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss) * len(idx)
            bar.set_postfix(loss=f"{float(loss):.3f}")
        acc = evaluate(model, xte, yte)
        print(f"epoch {epoch + 1}/{epochs}: loss {total / len(xtr):.4f}, test top-1 {acc:.4f}",
              file=sys.stderr, flush=True)
    return model


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m golden.train", description=__doc__.splitlines()[0])
    ap.add_argument("--net", default="reference-fmnist", help=f"network by name: {', '.join(NETWORKS)}")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads (default 1: the committed checkpoint was trained so)")
    ap.add_argument("--out", type=Path, default=REFERENCE_DIR / "float.pt")
    args = ap.parse_args(argv)
    if args.epochs < 1:
        ap.error(f"--epochs must be >= 1, got {args.epochs}")
    if args.net not in NETWORKS:
        ap.error(f"unknown network {args.net!r}; known: {', '.join(NETWORKS)}")
    torch.set_num_threads(args.threads)
    t0 = time.time()
    try:
        model = train(args.epochs, args.seed, net=args.net)
    except data.DatasetMissing as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with replacing(args.out) as tmp:
        torch.save(model.state_dict(), tmp)
    print(f"wrote {args.out} after {time.time() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
