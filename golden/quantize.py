"""Post-training quantiser: folded float graph + calibration images → bundle.

Per-output-channel symmetric int8 weights, int32 biases, per-tensor uint8
activation scales from the largest activation seen on the calibration images
(``docs/int8.md`` §6).  The same checkpoint and calibration images give the
same bundle bytes on every machine (``golden.calibration``), and the bundle
records what it was made from (``source``: network spec, checkpoint SHA-256,
calibration set).  Also small helpers that make bundles for tests:
``fire_graph`` (a lone Fire module) and ``sub_bundle`` (one layer of a
network with its real input scale).

    python -m golden.quantize [--net NAME --checkpoint FILE] --out FILE [--calibration-images N]
    python -m golden.quantize --model my_net.py:build --checkpoint my.pt --calib images/ --out my.bundle
    python -m golden.quantize --onnx my_net.onnx --calib images/ --out my.bundle

Without ``--net`` it quantises the reference checkpoint to plain int8 (the
committed reference bundle has codebook weights: ``golden.compress``, so
``--out`` has no default).  Bad input exits 2 with one line and writes nothing.
"""
from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np
import torch

from golden import graph as fgraph
from golden.calibration import activation_maxima, seeded_choice
from golden import data, quantize_user
from golden.bad_input import first_line
from golden.checksum import file_sha256
from golden.command import ArgumentParser, command_main
from golden.counts import check_count
from golden.bundle_rules import accumulator_bound
from golden.bundle import ACC_LIMIT, FORMAT, M_MAX, SHIFT_RANGE, VERSION, Bundle, is_bundle_file, validate
from golden.int8_weights import quantize_weights
from golden.models import NETWORKS, Fire, SqueezeNet, network_spec, spec_to_json
from golden.writable import check_file_out

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"
REFERENCE_BUNDLE = REFERENCE_DIR / "reference.bundle"
REFERENCE_CHECKPOINT = REFERENCE_DIR / "float.pt"
# the first reference network (one Fire module), kept as a small example
FIRE1_BUNDLE = REFERENCE_DIR / "fire1.bundle"
FIRE1_CHECKPOINT = REFERENCE_DIR / "fire1.pt"
CALIBRATION_IMAGES = 2000
REFERENCE_NET = "reference-fmnist"


def multipliers(ratios: list[np.ndarray], where: str, m_bits: int = 16) -> tuple[list[np.ndarray], int]:
    """Fixed-point M (uint16) and one shared shift for real ratios r:
    M = rint(r * 2**shift) with the largest shift that keeps every M below
    ``2**m_bits`` (16 by default; fewer make the hardware's requantisation
    multipliers smaller, at a relative precision of ``2**-m_bits``).
    Scaling by a power of two is exact, so the search is the same on every
    machine (no ``log2`` rounding)."""
    rmax = max(float(np.max(r)) for r in ratios)
    if not rmax > 0:
        raise ValueError(f"{where}: requantisation ratio is not positive ({rmax})")
    for shift in range(SHIFT_RANGE[1], SHIFT_RANGE[0] - 1, -1):
        ms = [np.rint(r * 2.0**shift) for r in ratios]
        if max(float(np.max(m)) for m in ms) <= min(M_MAX, 2 ** m_bits - 1):
            return [m.astype(np.uint16) for m in ms], shift
    raise ValueError(f"{where}: requantisation ratio {rmax:.3g} too large for a uint16 multiplier")


def quantize_conv(p: dict, s_in: float, s_out: float, where: str, m_bits: int = 16) -> tuple[dict, int, np.ndarray]:
    """(arrays {weight, bias, m}, shift, per-channel accumulator scale)."""
    wq, s_acc, bq = _weights_and_bias(p, s_in, ACC_LIMIT)
    (m,), shift = multipliers([s_acc / s_out], where, m_bits)
    return {"weight": wq, "bias": bq, "m": m}, shift, s_acc


def quantize_logits(p: dict, s_in: float, pixels: int) -> tuple[dict, float]:
    """A conv without ReLU read by the gap (``docs/int8.md`` §5): one
    weight scale for all channels, so the class sums share one scale, and
    biases clamped so the sum over ``pixels`` stays int32.  (arrays
    {weight, bias}, the logits' float scale per accumulator unit)."""
    wq, s_acc, bq = _weights_and_bias(p, s_in, ACC_LIMIT // pixels, per_tensor=True)
    return {"weight": wq, "bias": bq}, float(s_acc[0])


def _weights_and_bias(p: dict, s_in: float, acc_limit: int, per_tensor: bool = False):
    # A codebook layer brings its int8 weights (golden.weight_sharing.codebook_graph).
    wq, s_w = p["int8_weight"] if "int8_weight" in p else quantize_weights(p["weight"], per_tensor)
    s_acc = s_in * s_w
    fan_in = int(np.prod(wq.shape[1:]))
    bmax = acc_limit - accumulator_bound(fan_in)
    bq = np.clip(np.rint(p["bias"] / s_acc), -bmax, bmax).astype(np.int32)
    return wq, s_acc, bq


RELU6_SCALE = 6 / 255     # a ReLU6 output: the requantisation's clamp at 255 is the clamp at 6


def _scale(top: float, act: str = "relu") -> float:
    if act == "relu6":
        return RELU6_SCALE
    return top / 255.0 if top > 0 else 1.0 / 255.0


def quantize(graph: list[dict], calib: np.ndarray, name: str, input_scale: float = 1 / 255,
             meta: dict | None = None, m_bits: int = 16) -> Bundle:
    """Quantise a folded float graph (``golden.graph``) calibrated on uint8
    NHWC images ``calib`` (the float model sees ``calib * input_scale``).
    The activation maxima come from ``golden.calibration``, whose fixed-order
    arithmetic makes the bundle the same bytes on every machine."""
    top = activation_maxima(graph, calib, input_scale)
    scale: dict[str, float] = {}
    layers, arrays = [], {}
    for layer in graph:
        lname, kind = layer["name"], layer["kind"]
        out = {k: layer[k] for k in ("name", "kind", "inputs", "shape")}
        s_in = scale[layer["inputs"][-1]] if layer["inputs"] else input_scale
        if kind == "input":
            scale[lname] = input_scale
            if any(layer.get("pad", ())):
                out["pad"] = [int(v) for v in layer["pad"]]
        elif kind == "maxpool":
            scale[lname] = s_in
            out.update(kernel=layer["kernel"], stride=layer["stride"], ceil=layer["ceil"])
        elif kind == "gap":
            scale[lname] = scale[layer["inputs"][0]]
        elif kind == "conv" and layer.get("act", "relu") == "none":
            arr, scale[lname] = quantize_logits(layer, s_in, layer["shape"][0] * layer["shape"][1])
            arrays |= {f"{lname}/{k}": v for k, v in arr.items()}
            out.update(kernel=layer["kernel"], stride=layer["stride"], padding=layer["padding"], shift=0, relu=False)
        elif kind == "conv":
            scale[lname] = _scale(top[lname], layer.get("act", "relu"))
            arr, out["shift"], _ = quantize_conv(layer, s_in, scale[lname], f"layer {lname!r}", m_bits)
            arrays |= {f"{lname}/{k}": v for k, v in arr.items()}
            out.update(kernel=layer["kernel"], stride=layer["stride"], padding=layer["padding"])
        elif kind == "fire":
            s_sq = _scale(top[f"{lname}.squeeze"], layer["squeeze"].get("act", "relu"))
            scale[lname] = _scale(top[lname], layer.get("act", "relu"))
            out.update({k: layer[k] for k in ("cin", "s1x1", "e1x1", "e3x3")}, shift={},
                       squeeze_scale=s_sq)
            for part, s_a, s_b in (("squeeze", s_in, s_sq), ("expand1x1", s_sq, scale[lname]),
                                   ("expand3x3", s_sq, scale[lname])):
                if layer[part] is None:
                    continue
                arr, out["shift"][part], _ = quantize_conv(layer[part], s_a, s_b, f"layer {lname!r} {part}", m_bits)
                arrays |= {f"{lname}/{part}/{k}": v for k, v in arr.items()}
        elif kind == "add":
            s_fire = scale[layer["inputs"][0]]
            scale[lname] = _scale(top[lname], layer.get("act", "relu"))
            out["bypass"] = layer["bypass"]
            c = layer["shape"][2]
            if layer["bypass"] == "complex":
                arr, _, s_side = quantize_conv(layer, s_in, scale[lname], f"layer {lname!r} bypass conv", m_bits)
                arrays |= {f"{lname}/weight": arr["weight"], f"{lname}/bias": arr["bias"]}
            else:
                s_side = np.full(c, s_in)
            (m_a, m_b), out["shift"] = multipliers(
                [np.full(c, s_fire / scale[lname]), s_side / scale[lname]], f"layer {lname!r}", m_bits)
            arrays |= {f"{lname}/m_a": m_a, f"{lname}/m_b": m_b}
        else:
            raise ValueError(f"layer {lname!r}: cannot quantise kind {kind!r}")
        if kind not in ("gap",):
            out["scale"] = scale[lname]
        layers.append(out)
    bundle = Bundle({"format": FORMAT, "version": VERSION, "name": name, **(meta or {}), "layers": layers},
                    arrays)
    bundle.graph["version"] = bundle.version
    validate(bundle, f"bundle {name!r}")
    return bundle


def fire_graph(fire: Fire, h: int, w: int) -> list[dict]:
    """The float graph of a lone Fire module on an H x W input."""
    parts = {p: (fgraph.conv_params(getattr(fire, p)) if getattr(fire, p) is not None else None)
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
    raw = {lay["name"]: lay for lay in bundle.graph["layers"]}
    layer = raw[name]
    if len(layer["inputs"]) != 1:
        raise ValueError(f"layer {name!r} has {len(layer['inputs'])} inputs; sub_bundle takes one-input layers")
    src = raw[layer["inputs"][0]]
    inp = {"name": "input", "kind": "input", "inputs": [], "shape": list(src["shape"]), "scale": src["scale"]}
    lay = dict(layer, inputs=["input"])
    arrays = {k: v for k, v in bundle.arrays.items() if k.startswith(name + "/")}
    codebooks = {k: v for k, v in bundle.codebooks.items() if k.startswith(name + "/")}
    sub = Bundle(dict(bundle.graph, name=f"{bundle.name}:{name}", layers=[inp, lay]), arrays, codebooks)
    validate(sub, f"bundle {sub.name!r}")
    return sub


def source_record(spec, checkpoint: Path, calibration: dict) -> dict:
    """What a bundle was made from (``docs/bundle.md``, ``source``): the
    float network's spec, its checkpoint's SHA-256 and the calibration set."""
    return {"network": spec_to_json(spec), "checkpoint_sha256": file_sha256(checkpoint),
            "calibration": calibration}


def load_model(path: Path, spec):
    """The float network ``spec`` with the state_dict in checkpoint ``path``
    (eval mode).  Raises ValueError / FileNotFoundError with one line."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"checkpoint {path} not found (train it with: python -m golden.train)")
    try:
        state = torch.load(path, weights_only=True)
    except pickle.UnpicklingError:
        raise ValueError(f"checkpoint {path} holds objects that torch.load(weights_only=True) refuses to "
                         "unpickle; save a plain state_dict (torch.save(model.state_dict(), path))") from None
    except Exception as e:            # torch raises many kinds for a broken file
        raise ValueError(f"checkpoint {path} is not a readable PyTorch file: {first_line(e)}") from None
    model = SqueezeNet(spec)
    if not isinstance(state, dict):
        raise ValueError(f"checkpoint {path} holds a {type(state).__name__}, not a state_dict")
    try:
        model.load_state_dict(state)
    except Exception as e:
        raise ValueError(f"checkpoint {path} does not hold network {spec.name!r}: {first_line(e)}") from None
    return model.eval()


def calibration_images(count: int) -> np.ndarray:
    """A fixed, seeded choice of ``count`` Fashion-MNIST training images
    (the first of a seeded permutation, in file order)."""
    xtr, _ = data.load("train")
    count = check_count(count, "--calibration-images", 1, len(xtr), f"fashion-mnist/train has {len(xtr)} images")
    return seeded_choice(xtr, count)


def check_bundle_out(path: Path) -> None:
    """Refuse, before any work, an output we may not (over)write."""
    if path.is_dir():
        raise ValueError(f"--out {path} is a folder; give a bundle file name")
    if not path.parent.is_dir():
        raise ValueError(f"--out {path}: folder {path.parent} does not exist")
    if path.exists() and not is_bundle_file(path):
        raise ValueError(f"--out {path} exists and is not a bundle; refusing to overwrite it")
    check_file_out(path, "--out")


@command_main
def main(argv=None) -> int:
    ap = ArgumentParser(prog="python -m golden.quantize", description=__doc__.splitlines()[0])
    ap.add_argument("--net", default=REFERENCE_NET, help=f"network by name: {', '.join(NETWORKS)} "
                    f"(default {REFERENCE_NET})")
    ap.add_argument("--checkpoint", type=Path, default=None,
                    help="float state_dict (default: the reference network's golden/reference/float.pt)")
    ap.add_argument("--out", type=Path, default=None, help="bundle to write")
    ap.add_argument("--calibration-images", type=int, default=None,
                    help=f"training images that set the activation scales (default {CALIBRATION_IMAGES}, "
                         "or all of a smaller --calib set)")
    ap.add_argument("--multiplier-bits", type=int, default=16,
                    help="width of the requantisation multipliers M, 8..16 (default 16; the UP5K engine's "
                         "reference uses 12: its multiplier in logic is the engine's largest block)")
    quantize_user.add_arguments(ap)
    args = ap.parse_args(argv)
    if not 8 <= args.multiplier_bits <= 16:
        print(f"error: --multiplier-bits must be 8..16, got {args.multiplier_bits}", file=sys.stderr)
        return 2
    if args.model is not None or args.onnx is not None:
        return quantize_user.run(args, quantize, check_bundle_out)
    reference = args.net == REFERENCE_NET
    if not reference and (args.checkpoint is None or args.out is None):
        print(f"error: --net {args.net} needs --checkpoint and --out", file=sys.stderr)
        return 2
    if args.out is None:
        # the committed reference bundle has codebook weights (golden.compress, ``make train``); a plain
        # int8 one in its place would not fit the UP5K
        print(f"error: --out is missing (the reference bundle {REFERENCE_BUNDLE.relative_to(REFERENCE_DIR.parent.parent)} "
              "is made by python -m golden.compress: make train)", file=sys.stderr)
        return 2
    checkpoint = args.checkpoint or REFERENCE_CHECKPOINT
    out = args.out
    try:
        check_bundle_out(out)
        spec = network_spec(args.net)
        model = load_model(checkpoint, spec)
        calib = calibration_images(CALIBRATION_IMAGES if args.calibration_images is None
                                   else args.calibration_images)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    source = source_record(spec, checkpoint, {"data": "fashion-mnist/train", "images": len(calib),
                                              "choice": "first of numpy default_rng(0).permutation, in file order"})
    bundle = quantize(fgraph.extract(model), calib, spec.name,
                      meta={"classes": list(spec.classes), "source": source}, m_bits=args.multiplier_bits)
    bundle.save(out)
    print(f"wrote {out}: {bundle.weight_bits()} bits of constants")
    return 0


if __name__ == "__main__":
    sys.exit(main())
