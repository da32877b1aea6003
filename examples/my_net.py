"""The tutorial's network (docs/your-model.md): a plain PyTorch model, not
one of golden.models -- an nn.Sequential with MaxPool2d(2), a Fire-like
block written with torch.cat, and a Linear classifier.

    python examples/my_net.py --out my.pt [--epochs 2] [--onnx my.onnx]

trains it briefly on Fashion-MNIST (seeded) and saves its state_dict (and,
with --onnx, an ONNX export).  ``build()`` is what the project's commands
import: ``--model examples/my_net.py:build``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import nn


class FireLike(nn.Module):
    """Squeeze 1x1, then 1x1 and 3x3 expands side by side, concatenated."""

    def __init__(self, cin: int, squeeze: int, expand: int):
        super().__init__()
        self.squeeze = nn.Sequential(nn.Conv2d(cin, squeeze, 1), nn.BatchNorm2d(squeeze), nn.ReLU())
        self.left = nn.Sequential(nn.Conv2d(squeeze, expand, 1), nn.BatchNorm2d(expand), nn.ReLU())
        self.right = nn.Sequential(nn.Conv2d(squeeze, expand, 3, padding=1), nn.BatchNorm2d(expand), nn.ReLU())

    def forward(self, x):
        x = self.squeeze(x)
        return torch.cat([self.left(x), self.right(x)], dim=1)


def build(width: int = 16, in_channels: int = 1, classes: int = 10) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
        nn.MaxPool2d(2),
        FireLike(width, width // 2, width),
        nn.MaxPool2d(2),
        FireLike(2 * width, width // 2, width),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.1),
        nn.Linear(2 * width, classes))


def build_tiny() -> nn.Module:
    """A smaller one for the tests."""
    return build(width=8)


def train(model: nn.Module, images, labels, epochs: int, seed: int = 0, batch: int = 128) -> nn.Module:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    y = torch.from_numpy(labels)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for epoch in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), batch):
            idx = perm[i:i + batch]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"epoch {epoch + 1}/{epochs}: loss {loss.item():.3f}", file=sys.stderr)
    return model.eval()


def main(argv=None) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from golden import data
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="state_dict to write")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    ap.add_argument("--onnx", type=Path, help="also export the trained model to this ONNX file")
    args = ap.parse_args(argv)
    images, labels = data.load("train")
    model = train(build(), images[:args.limit], labels[:args.limit], args.epochs)
    torch.save(model.state_dict(), args.out)
    if args.onnx:
        torch.onnx.export(model, (torch.zeros(1, 1, 28, 28),), str(args.onnx), dynamo=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
