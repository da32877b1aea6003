"""Float PyTorch models of the SqueezeNet family (Iandola et al., 2016).

Everything here is ordinary float PyTorch; the integer contract that the
hardware reproduces lives in ``golden.intref`` and is documented in
``docs/int8.md``.

Family rules that the int8 contract relies on:

* every convolution is followed by a ReLU (so activations are >= 0 and fit
  uint8 with zero-point 0);
* the input is ``pixels / 255`` with no mean subtraction, so normalisation
  folds exactly into conv1 even at zero-padded borders;
* a complex bypass adds a 1x1 conv (no ReLU of its own) and the sum is
  followed by a ReLU; a simple bypass sums two non-negative tensors, so its
  ReLU is a no-op and is kept only for uniformity.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from golden.shapes import output_size  # noqa: F401  (re-exported: the family's shape rule)


def _positive(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


class ConvReLU(nn.Sequential):
    """Conv2d (+ optional BatchNorm for training) + ReLU."""

    def __init__(self, cin, cout, kernel, stride=1, padding=0, batchnorm=False):
        layers = [nn.Conv2d(cin, cout, kernel, stride, padding, bias=not batchnorm)]
        if batchnorm:
            layers.append(nn.BatchNorm2d(cout))
        layers.append(nn.ReLU(inplace=False))
        super().__init__(*layers)


class Fire(nn.Module):
    """Fire module: squeeze 1x1 (S) + ReLU, then expand 1x1 (E1) + ReLU and
    expand 3x3 pad 1 (E3) + ReLU in parallel, concatenated e1x1 first.

    The paper asks for ``s1x1 < e1x1 + e3x3`` (strategy 2); a squeeze that is
    not narrower than the expand is accepted but warned about, because it is
    legal arithmetic, just not a "squeeze".  ``e1x1`` or ``e3x3`` may be 0
    (not both), which the design-space sweep in the paper uses at pct3x3 = 0/1.
    """

    def __init__(self, cin: int, s1x1: int, e1x1: int, e3x3: int, batchnorm: bool = False):
        super().__init__()
        _positive("cin", cin)
        _positive("s1x1", s1x1)
        for name, v in (("e1x1", e1x1), ("e3x3", e3x3)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {v!r}")
        if e1x1 + e3x3 == 0:
            raise ValueError("e1x1 + e3x3 must be at least 1 (a Fire module needs an expand layer)")
        if s1x1 >= e1x1 + e3x3:
            import warnings
            warnings.warn(
                f"Fire(s1x1={s1x1}, e1x1={e1x1}, e3x3={e3x3}): s1x1 >= e1x1 + e3x3, "
                "so the squeeze layer does not reduce the 3x3 inputs (paper section 3.2)",
                stacklevel=2,
            )
        self.cin, self.s1x1, self.e1x1, self.e3x3 = cin, s1x1, e1x1, e3x3
        self.squeeze = ConvReLU(cin, s1x1, 1, batchnorm=batchnorm)
        self.expand1x1 = ConvReLU(s1x1, e1x1, 1, batchnorm=batchnorm) if e1x1 else None
        self.expand3x3 = ConvReLU(s1x1, e3x3, 3, padding=1, batchnorm=batchnorm) if e3x3 else None

    @property
    def cout(self) -> int:
        return self.e1x1 + self.e3x3

    def forward(self, x):
        s = self.squeeze(x)
        outs = [m(s) for m in (self.expand1x1, self.expand3x3) if m is not None]
        return torch.cat(outs, 1) if len(outs) > 1 else outs[0]


class Bypass(nn.Module):
    """A Fire module with a bypass: ReLU(fire(x) + x) (simple, needs
    cin == cout) or ReLU(fire(x) + conv1x1(x)) (complex)."""

    def __init__(self, fire: Fire, kind: str, batchnorm: bool = False):
        super().__init__()
        if kind not in ("simple", "complex"):
            raise ValueError(f"bypass kind must be 'simple' or 'complex', got {kind!r}")
        if kind == "simple" and fire.cin != fire.cout:
            raise ValueError(
                f"simple bypass needs equal input and output channels, got {fire.cin} -> {fire.cout}")
        self.fire, self.kind = fire, kind
        self.conv = None
        if kind == "complex":
            self.conv = nn.Conv2d(fire.cin, fire.cout, 1, bias=not batchnorm)
            self.bn = nn.BatchNorm2d(fire.cout) if batchnorm else None

    def forward(self, x):
        if self.conv is None:
            side = x
        else:
            side = self.conv(x)
            if self.bn is not None:
                side = self.bn(side)
        return torch.relu(self.fire(x) + side)


class MaxPool(nn.MaxPool2d):
    """SqueezeNet's pool: 3x3, stride 2, ceil mode, no padding."""

    def __init__(self):
        super().__init__(kernel_size=3, stride=2, ceil_mode=True)


@dataclass(frozen=True)
class FireSpec:
    s1x1: int
    e1x1: int
    e3x3: int
    bypass: str | None = None


@dataclass(frozen=True)
class NetSpec:
    """A whole network of the family, as a plain description.

    ``layers`` is a sequence of ``("conv1", cout, kernel, stride, padding)``,
    ``("pool",)``, ``("fire", FireSpec)`` and ``("conv10",)`` entries.
    """

    name: str
    in_channels: int
    image_size: int
    num_classes: int
    layers: tuple
    batchnorm: bool = False
    dropout: float = 0.5
    classes: tuple = field(default=())


class SqueezeNet(nn.Module):
    """SqueezeNet-family network built from a ``NetSpec``:
    conv1 → [pool | fire]* → dropout → conv10 + ReLU → global average pool.

    ``forward`` returns the per-class averages (N, classes) that the int8
    contract's int32 class sums are proportional to.
    """

    def __init__(self, spec: NetSpec):
        super().__init__()
        self.spec = spec
        _positive("in_channels", spec.in_channels)
        _positive("num_classes", spec.num_classes)
        _positive("image_size", spec.image_size)
        bn = spec.batchnorm
        body = []
        c = spec.in_channels
        for entry in spec.layers:
            kind = entry[0]
            if kind == "conv1":
                _, cout, k, stride, pad = entry
                body.append(ConvReLU(c, _positive("conv1 channels", cout), _positive("conv1 kernel", k),
                                     _positive("conv1 stride", stride), pad, batchnorm=bn))
                c = cout
            elif kind == "pool":
                body.append(MaxPool())
            elif kind == "fire":
                f: FireSpec = entry[1]
                fire = Fire(c, f.s1x1, f.e1x1, f.e3x3, batchnorm=bn)
                body.append(Bypass(fire, f.bypass, batchnorm=bn) if f.bypass else fire)
                c = fire.cout
            else:
                raise ValueError(f"unknown layer kind {kind!r} in network {spec.name!r}")
        self.features = nn.Sequential(*body)
        self.dropout = nn.Dropout(spec.dropout)
        self.conv10 = ConvReLU(c, spec.num_classes, 1, batchnorm=bn)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        x = self.features(x)
        x = self.conv10(self.dropout(x))
        return torch.flatten(self.pool(x), 1)


def _v1_layers(conv1, pool_after, fires):
    layers = [("conv1", *conv1), ("pool",)]
    for i, f in enumerate(fires, start=2):
        layers.append(("fire", f))
        if i in pool_after:
            layers.append(("pool",))
    return tuple(layers)


def family(*, base_e=128, incr_e=128, freq=2, sr=0.125, pct3x3=0.5, num_fire=8,
           conv1=(96, 7, 2, 0), pool_after=(4, 8), bypass=None, in_channels=3,
           image_size=224, num_classes=1000, name=None, batchnorm=False) -> NetSpec:
    """The paper's metaparameter generator (section 5 / figure 3).

    Fire module i (0-based, fire2 is i = 0) has
    ``e_i = base_e + incr_e * floor(i / freq)`` expand filters, of which
    ``pct3x3`` are 3x3, and ``s_i = SR * e_i`` squeeze filters.
    ``bypass`` is None, "simple" (around Fire modules with cin == cout) or
    "complex" (simple where possible, a 1x1 conv bypass elsewhere).
    ``pool_after`` lists the fire indices (2..) followed by a maxpool.
    """
    for name_, v in (("base_e", base_e), ("freq", freq), ("num_fire", num_fire)):
        _positive(name_, v)
    if isinstance(incr_e, bool) or not isinstance(incr_e, int) or incr_e < 0:
        raise ValueError(f"incr_e must be a non-negative integer, got {incr_e!r}")
    if not 0 < sr <= 1:
        raise ValueError(f"sr (squeeze ratio) must be in (0, 1], got {sr!r}")
    if not 0 <= pct3x3 <= 1:
        raise ValueError(f"pct3x3 must be in [0, 1], got {pct3x3!r}")
    if bypass not in (None, "simple", "complex"):
        raise ValueError(f"bypass must be None, 'simple' or 'complex', got {bypass!r}")
    fires = []
    cin = conv1[0]
    for i in range(num_fire):
        e = base_e + incr_e * (i // freq)
        e3 = int(round(e * pct3x3))
        e1 = e - e3
        s = max(1, int(round(sr * e)))
        kind = None
        if bypass == "simple" and cin == e:
            kind = "simple"
        elif bypass == "complex":
            kind = "simple" if cin == e else "complex"
        fires.append(FireSpec(s, e1, e3, kind))
        cin = e
    if name is None:
        name = f"squeezenet-family-b{base_e}-i{incr_e}-f{freq}-sr{sr}-p{pct3x3}"
        if bypass:
            name += f"-{bypass}"
    return NetSpec(name, in_channels, image_size, num_classes,
                   _v1_layers(conv1, set(pool_after), fires), batchnorm=batchnorm)


def squeezenet_v1_0(bypass=None, num_classes=1000) -> NetSpec:
    """SqueezeNet v1.0 (paper table 1): 1 248 424 parameters at 1000 classes."""
    return family(conv1=(96, 7, 2, 0), pool_after=(4, 8), bypass=bypass, num_classes=num_classes,
                  name="squeezenet-v1.0" + (f"-{bypass}-bypass" if bypass else ""))


def squeezenet_v1_1(bypass=None, num_classes=1000) -> NetSpec:
    """SqueezeNet v1.1: conv1 64 3x3/2 and earlier pools; 1 235 496 parameters."""
    spec = family(conv1=(64, 3, 2, 0), pool_after=(3, 5), bypass=bypass, num_classes=num_classes,
                  name="squeezenet-v1.1" + (f"-{bypass}-bypass" if bypass else ""))
    # v1.1's fire modules keep v1.0's widths but move the pools earlier.
    return spec


FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def reference_spec(batchnorm: bool = True) -> NetSpec:
    """The reference network: the paper's shape for 28x28 grayscale
    Fashion-MNIST, sized for the iCE40 UP5K's Fire engine with 3-bit
    codebook weights (``docs/engine.md``):

    28x28x1 → conv1 3x3 pad 1 (16) → pool → 14x14 fire2 (8; 16+16)
    → fire3 (8; 16+16) + simple bypass → pool → 7x7 fire4 (16; 32+32)
    → fire5 (16; 32+32) + simple bypass → conv10 (10) → global average
    pool: 15 770 parameters (16 036 with the batch norms of training), 1 017
    rows of the engine's 16-lane weight ROM
    (its 3-bit index ROM holds 1 024).
    """
    layers = (
        ("conv1", 16, 3, 1, 1),
        ("pool",),
        ("fire", FireSpec(8, 16, 16)),
        ("fire", FireSpec(8, 16, 16, "simple")),
        ("pool",),
        ("fire", FireSpec(16, 32, 32)),
        ("fire", FireSpec(16, 32, 32, "simple")),
    )
    return NetSpec("reference-fmnist", 1, 28, 10, layers, batchnorm=batchnorm, dropout=0.1,
                   classes=FASHION_CLASSES)


def fire1_spec(batchnorm: bool = True) -> NetSpec:
    """The first reference network, kept as a small example: one wide Fire
    module, 88.8 % top-1 at int8.

    28x28x1 → conv1 3x3 pad 1 (32) → pool → 14x14 fire2 (16; 32+32)
    → conv10 (10) → global average pool: 6 682 parameters.
    """
    layers = (
        ("conv1", 32, 3, 1, 1),
        ("pool",),
        ("fire", FireSpec(16, 32, 32)),
    )
    return NetSpec("fire1-fmnist", 1, 28, 10, layers, batchnorm=batchnorm, dropout=0.1,
                   classes=FASHION_CLASSES)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters, the paper's model-size measure."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def spec_to_json(spec: NetSpec) -> dict:
    """A NetSpec as plain JSON data (the bundle records it, so the float
    model a bundle was made from can be rebuilt)."""
    layers = [["fire", {"s1x1": e[1].s1x1, "e1x1": e[1].e1x1, "e3x3": e[1].e3x3, "bypass": e[1].bypass}]
              if e[0] == "fire" else list(e) for e in spec.layers]
    return {"name": spec.name, "in_channels": spec.in_channels, "image_size": spec.image_size,
            "num_classes": spec.num_classes, "layers": layers, "batchnorm": spec.batchnorm,
            "dropout": spec.dropout, "classes": list(spec.classes)}


def spec_from_json(data: dict) -> NetSpec:
    """The inverse of ``spec_to_json``; raises ValueError on a malformed entry."""
    try:
        layers = tuple(("fire", FireSpec(**e[1])) if e[0] == "fire" else tuple(e) for e in data["layers"])
        return NetSpec(data["name"], data["in_channels"], data["image_size"], data["num_classes"], layers,
                       batchnorm=data["batchnorm"], dropout=data["dropout"], classes=tuple(data["classes"]))
    except (KeyError, TypeError, IndexError) as e:
        raise ValueError(f"malformed network spec ({type(e).__name__}: {e})") from None


def tiny_spec(batchnorm: bool = True) -> NetSpec:
    """A tiny network for tests and tutorials (28x28x1, 10 classes):
    conv1 3x3/2 (8) → pool → fire2 (4; 8+8) → conv10."""
    layers = (("conv1", 8, 3, 2, 0), ("pool",), ("fire", FireSpec(4, 8, 8)))
    return NetSpec("tiny-fmnist", 1, 28, 10, layers, batchnorm=batchnorm, dropout=0.0, classes=FASHION_CLASSES)


# Networks the training and quantising commands know by name (--net).
NETWORKS = {"reference-fmnist": reference_spec, "fire1-fmnist": fire1_spec, "tiny-fmnist": tiny_spec}


def network_spec(name: str, batchnorm: bool = True) -> NetSpec:
    if name not in NETWORKS:
        raise ValueError(f"unknown network {name!r}; known: {', '.join(NETWORKS)}")
    return NETWORKS[name](batchnorm=batchnorm)
