"""SqueezeNet v1.1 as a user writes it (the paper's v1.1 table, torchvision's
layout), a plain ``nn.Module``, not one of golden.models: ``Fire`` modules
joined with ``torch.cat``, ``ReLU(inplace=True)``, a classifier of
``Dropout``, a final 1x1 conv + ReLU and ``AdaptiveAvgPool2d``, then
``torch.flatten``.  torchvision itself is not needed (its wheel does not
import beside the CPU build of torch here).

    python examples/my_squeezenet.py --out sq.pt [--tiny [--logits]] [--epochs 2] [--limit N]

trains it (greyscale v1.1, or the tiny one) briefly on Fashion-MNIST
(seeded, one thread) and saves its state_dict.  What the project's commands import:

    --model examples/my_squeezenet.py:build        v1.1, 10 classes, RGB (any input size)
    --model examples/my_squeezenet.py:build_tiny   a small one for 28x28 greyscale (the tests)
    --model examples/my_squeezenet.py:build_tiny_logits   the same ending in logits (no last ReLU)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import nn


class Fire(nn.Module):
    """Squeeze 1x1, then 1x1 and 3x3 expands side by side, concatenated."""

    def __init__(self, cin: int, squeeze: int, expand1x1: int, expand3x3: int):
        super().__init__()
        self.squeeze = nn.Conv2d(cin, squeeze, kernel_size=1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze, expand1x1, kernel_size=1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze, expand3x3, kernel_size=3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat([self.expand1x1_activation(self.expand1x1(x)),
                          self.expand3x3_activation(self.expand3x3(x))], 1)


class SqueezeNet(nn.Module):
    """``stem``: (channels, kernel, stride, padding) of the first conv;
    ``fires``: (squeeze, expand) per Fire module (both expands ``expand``
    wide), ``None`` for a 3x3/2 ceil-mode max pool; ``logits``: the final
    conv without its ReLU (its accumulators are the class scores)."""

    def __init__(self, stem: tuple[int, int, int, int], fires: list, classes: int = 10, in_channels: int = 3,
                 dropout: float = 0.5, logits: bool = False):
        super().__init__()
        c, k, s, p = stem
        layers: list[nn.Module] = [nn.Conv2d(in_channels, c, kernel_size=k, stride=s, padding=p),
                                   nn.ReLU(inplace=True)]
        for fire in fires:
            if fire is None:
                layers.append(nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True))
            else:
                squeeze, expand = fire
                layers.append(Fire(c, squeeze, expand, expand))
                c = 2 * expand
        self.features = nn.Sequential(*layers)
        final = nn.Conv2d(c, classes, kernel_size=1)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), final,
                                        *([] if logits else [nn.ReLU(inplace=True)]), nn.AdaptiveAvgPool2d((1, 1)))
        for m in self.modules():         # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                if m is final:
                    nn.init.normal_(m.weight, mean=0.0, std=0.01)
                else:
                    nn.init.kaiming_uniform_(m.weight)
                nn.init.constant_(m.bias, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.classifier(self.features(x)), 1)


# SqueezeNet v1.1 (the paper's repository; torchvision's squeezenet1_1)
V1_1 = [None, (16, 64), (16, 64), None, (32, 128), (32, 128), None, (48, 192), (48, 192), (64, 256), (64, 256)]


def build(classes: int = 10, in_channels: int = 3) -> nn.Module:
    """SqueezeNet v1.1: 3x3/2 stem of 64, eight Fire modules, three max pools."""
    return SqueezeNet((64, 3, 2, 0), V1_1, classes, in_channels)


def build_tiny(logits: bool = False) -> nn.Module:
    """The same shape of network, small, for 28x28 greyscale: a 3x3 stem
    with padding 1 (so a folded Normalize's padding value matters), three
    Fire modules, two max pools."""
    torch.manual_seed(0)
    return SqueezeNet((8, 3, 1, 1), [None, (4, 8), (4, 8), None, (6, 12)], classes=10, in_channels=1,
                      dropout=0.1, logits=logits)


def build_tiny_logits() -> nn.Module:
    return build_tiny(logits=True)


def train(model: nn.Module, images, labels, epochs: int, seed: int = 0, batch: int = 128,
          mean: float = 0.0, std: float = 1.0) -> nn.Module:
    """Adam, cross-entropy, seeded; uint8 NHWC images scaled to [0, 1],
    then normalised: ``(x - mean) / std`` (give the same --mean and --std
    to the project's commands)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    x = (torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0 - mean) / std
    y = torch.from_numpy(labels)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
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
    ap.add_argument("--tiny", action="store_true", help="build_tiny instead of v1.1 (in_channels=1)")
    ap.add_argument("--logits", action="store_true", help="with --tiny: build_tiny_logits")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    images, labels = data.load("train")
    model = build_tiny(args.logits) if args.tiny else build(in_channels=1)       # Fashion-MNIST is greyscale
    model = train(model, images[:args.limit], labels[:args.limit], args.epochs)
    torch.save(model.state_dict(), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
