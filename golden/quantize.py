"""Post-training quantiser: folded float graph + calibration images → bundle.

Per-output-channel symmetric int8 weights, int32 biases, per-tensor uint8
activation scales from the largest activation seen on the calibration images
(``docs/int8.md`` §5).  Also small helpers that make bundles for tests:
``fire_graph`` (a lone Fire module) and ``sub_bundle`` (one layer of a
network with its real input scale).

    python -m golden.quantize [--checkpoint golden/reference/float.pt] [--out golden/reference/reference.bundle]
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch

from golden import graph as fgraph
from golden.bundle import ACC_LIMIT, FORMAT, M_MAX, SHIFT_RANGE, VERSION, Bundle, validate
from golden.models import Fire

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"
REFERENCE_BUNDLE = REFERENCE_DIR / "reference.bundle"
REFERENCE_CHECKPOINT = REFERENCE_DIR / "float.pt"
CALIBRATION_IMAGES = 2000


def quantize_weights(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-output-channel int8: (w_q in -127..127, scale per channel).
    An all-zero channel gets scale 1 (its weights stay 0)."""
    amax = np.abs(w.reshape(w.shape[0], -1)).max(axis=1)
    scale = np.where(amax > 0, amax / 127.0, 1.0)
    wq = np.clip(np.rint(w / scale[:, None, None, None]), -127, 127).astype(np.int8)
    return wq, scale


def multipliers(ratios: list[np.ndarray], where: str) -> tuple[list[np.ndarray], int]:
    """Fixed-point M (uint16) and one shared shift for real ratios r:
    M = round(r * 2**shift) with the largest shift that keeps every M <= 65535."""
    rmax = max(float(np.max(r)) for r in ratios)
    if not rmax > 0:
        raise ValueError(f"{where}: requantisation ratio is not positive ({rmax})")
    shift = min(SHIFT_RANGE[1], math.floor(math.log2(M_MAX / rmax)))
    while shift >= SHIFT_RANGE[0] and max(int(np.max(np.rint(r * 2.0**shift))) for r in ratios) > M_MAX:
        shift -= 1
    if shift < SHIFT_RANGE[0]:
        raise ValueError(f"{where}: requantisation ratio {rmax:.3g} too large for a uint16 multiplier")
    return [np.rint(r * 2.0**shift).astype(np.uint16) for r in ratios], shift


def quantize_conv(p: dict, s_in: float, s_out: float, where: str) -> tuple[dict, int, np.ndarray]:
    """(arrays {weight, bias, m}, shift, per-channel accumulator scale)."""
    wq, s_w = quantize_weights(p["weight"])
    s_acc = s_in * s_w
    fan_in = int(np.prod(wq.shape[1:]))
    bmax = ACC_LIMIT - fan_in * 127 * 255
    bq = np.clip(np.rint(p["bias"] / s_acc), -bmax, bmax).astype(np.int32)
    (m,), shift = multipliers([s_acc / s_out], where)
    return {"weight": wq, "bias": bq, "m": m}, shift, s_acc


def _scale(act: torch.Tensor) -> float:
    top = float(act.max()) if act.numel() else 0.0
    return top / 255.0 if top > 0 else 1.0 / 255.0


def quantize(graph: list[dict], calib: np.ndarray, name: str, input_scale: float = 1 / 255,
             meta: dict | None = None) -> Bundle:
    """Quantise a folded float graph (``golden.graph``) calibrated on uint8
    NHWC images ``calib`` (the float model sees ``calib * input_scale``)."""
    x = torch.from_numpy(calib).permute(0, 3, 1, 2).double() * input_scale
    acts = fgraph.forward(graph, x)
    scale: dict[str, float] = {}
    layers, arrays = [], {}
    for layer in graph:
        lname, kind = layer["name"], layer["kind"]
        out = {k: layer[k] for k in ("name", "kind", "inputs", "shape")}
        s_in = scale[layer["inputs"][-1]] if layer["inputs"] else input_scale
        if kind == "input":
            scale[lname] = input_scale
        elif kind == "maxpool":
            scale[lname] = s_in
            out.update(kernel=3, stride=2, ceil=True)
        elif kind == "gap":
            scale[lname] = scale[layer["inputs"][0]]
        elif kind == "conv":
            scale[lname] = _scale(acts[lname])
            arr, out["shift"], _ = quantize_conv(layer, s_in, scale[lname], f"layer {lname!r}")
            arrays |= {f"{lname}/{k}": v for k, v in arr.items()}
            out.update(kernel=layer["kernel"], stride=layer["stride"], padding=layer["padding"])
        elif kind == "fire":
            s_sq = _scale(acts[f"{lname}.squeeze"])
            scale[lname] = _scale(acts[lname])
            out.update({k: layer[k] for k in ("cin", "s1x1", "e1x1", "e3x3")}, shift={},
                       squeeze_scale=s_sq)
            for part, s_a, s_b in (("squeeze", s_in, s_sq), ("expand1x1", s_sq, scale[lname]),
                                   ("expand3x3", s_sq, scale[lname])):
                if layer[part] is None:
                    continue
                arr, out["shift"][part], _ = quantize_conv(layer[part], s_a, s_b, f"layer {lname!r} {part}")
                arrays |= {f"{lname}/{part}/{k}": v for k, v in arr.items()}
        elif kind == "add":
            s_fire = scale[layer["inputs"][0]]
            scale[lname] = _scale(acts[lname])
            out["bypass"] = layer["bypass"]
            c = layer["shape"][2]
            if layer["bypass"] == "complex":
                arr, _, s_side = quantize_conv(layer, s_in, scale[lname], f"layer {lname!r} bypass conv")
                arrays |= {f"{lname}/weight": arr["weight"], f"{lname}/bias": arr["bias"]}
            else:
                s_side = np.full(c, s_in)
            (m_a, m_b), out["shift"] = multipliers(
                [np.full(c, s_fire / scale[lname]), s_side / scale[lname]], f"layer {lname!r}")
            arrays |= {f"{lname}/m_a": m_a, f"{lname}/m_b": m_b}
        else:
            raise ValueError(f"layer {lname!r}: cannot quantise kind {kind!r}")
        if kind not in ("gap",):
            out["scale"] = scale[lname]
        layers.append(out)
    bundle = Bundle({"format": FORMAT, "version": VERSION, "name": name, **(meta or {}), "layers": layers},
                    arrays)
    validate(bundle, f"bundle {name!r}")
    return bundle


def fire_graph(fire: Fire, h: int, w: int) -> list[dict]:
    """The float graph of a lone Fire module on an H x W input."""
    from golden.graph import _conv_params
    parts = {p: (_conv_params(getattr(fire, p)) if getattr(fire, p) is not None else None)
             for p in ("squeeze", "expand1x1", "expand3x3")}
    return [{"name": "input", "kind": "input", "inputs": [], "shape": [h, w, fire.cin]},
            {"name": "fire", "kind": "fire", "inputs": ["input"], "shape": [h, w, fire.cout],
             "cin": fire.cin, "s1x1": fire.s1x1, "e1x1": fire.e1x1, "e3x3": fire.e3x3, **parts}]


def random_fire_bundle(cin: int, s1x1: int, e1x1: int, e3x3: int, h: int, w: int, seed: int = 0,
                       calib_images: int = 4) -> tuple[Bundle, np.ndarray]:
    """A quantized, randomly initialised Fire module and uint8 inputs for it:
    (bundle with layers 'input' and 'fire', images (calib_images, h, w, cin)).
    The inputs are smooth random images, so activations look like real ones."""
    torch.manual_seed(seed)
    fire = Fire(cin, s1x1, e1x1, e3x3)
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (calib_images, max(1, h // 2 + 1), max(1, w // 2 + 1), cin))
    images = np.repeat(np.repeat(base, 2, 1), 2, 2)[:, :h, :w, :]
    images = np.clip(images + rng.integers(-20, 21, images.shape), 0, 255).astype(np.uint8)
    bundle = quantize(fire_graph(fire, h, w), images, f"fire-{cin}-{s1x1}-{e1x1}-{e3x3}-{h}x{w}",
                      input_scale=1 / 255)
    return bundle, images


def sub_bundle(bundle: Bundle, name: str) -> Bundle:
    """One layer of a network as a bundle of its own: an 'input' layer with
    the layer's input shape and scale, then the layer (renamed nothing)."""
    layer = bundle.layer(name)
    if len(layer["inputs"]) != 1:
        raise ValueError(f"layer {name!r} has {len(layer['inputs'])} inputs; sub_bundle takes one-input layers")
    src = bundle.layer(layer["inputs"][0])
    inp = {"name": "input", "kind": "input", "inputs": [], "shape": list(src["shape"]), "scale": src["scale"]}
    lay = dict(layer, inputs=["input"])
    arrays = {k: v for k, v in bundle.arrays.items() if k.startswith(name + "/")}
    sub = Bundle(dict(bundle.graph, name=f"{bundle.name}:{name}", layers=[inp, lay]), arrays)
    validate(sub, f"bundle {sub.name!r}")
    return sub


def main(argv=None) -> int:
    from golden import data
    from golden.models import SqueezeNet, reference_spec
    ap = argparse.ArgumentParser(prog="python -m golden.quantize", description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, default=REFERENCE_CHECKPOINT)
    ap.add_argument("--out", type=Path, default=REFERENCE_BUNDLE)
    ap.add_argument("--calibration-images", type=int, default=CALIBRATION_IMAGES)
    args = ap.parse_args(argv)
    try:
        model = load_reference_model(args.checkpoint)
        xtr, _ = data.load("train")
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    spec = model.spec
    # A fixed, seeded subset: the first images of a seeded permutation.
    idx = np.random.default_rng(0).permutation(len(xtr))[:args.calibration_images]
    bundle = quantize(fgraph.extract(model), xtr[np.sort(idx)], spec.name,
                      meta={"classes": list(spec.classes)})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    bundle.save(args.out)
    print(f"wrote {args.out}: {bundle.weight_bits()} bits of constants")
    return 0


def load_reference_model(path: Path = REFERENCE_CHECKPOINT):
    """The trained float reference network (eval mode)."""
    from golden.models import SqueezeNet, reference_spec
    if not Path(path).exists():
        raise FileNotFoundError(f"checkpoint {path} not found (train it with: python -m golden.train)")
    model = SqueezeNet(reference_spec(batchnorm=True))
    try:
        model.load_state_dict(torch.load(path, weights_only=True))
    except (RuntimeError, OSError, EOFError, ValueError) as e:
        raise ValueError(f"checkpoint {path} does not hold the reference network: {str(e).splitlines()[0]}") from None
    return model.eval()


if __name__ == "__main__":
    sys.exit(main())
