"""The rules of the bundle format (``docs/bundle.md``): what ``graph.json``
must say, which arrays each layer has, and what a coded weight's codebook
must hold.  ``golden.bundle`` reads and writes files; this module only
checks, so each rule lives in one place.  Every failure is one
``BundleError`` line naming the file, the layer and the array.
"""
from __future__ import annotations

from math import prod
from typing import TYPE_CHECKING

import numpy as np

from golden.codebook import MAX_BITS, MIN_BITS, Codebook, unpack_indices
from golden.layers import AddLayer, ConvLayer, FireLayer, GapLayer, InputLayer, Layer, MaxPoolLayer, parse_layer
from golden.shapes import output_size

if TYPE_CHECKING:
    from golden.bundle import Bundle

FORMAT = "squeezefire-bundle"
VERSION = 1                    # the version of a bundle whose weights are all plain int8
CODED_VERSION = 2              # ... and of one where some weight is codebook-coded
LOGITS_VERSION = 3             # ... and of one with a logits conv or an input padding value
VERSIONS = (VERSION, CODED_VERSION, LOGITS_VERSION)
ACC_LIMIT = 2**31 - 1          # accumulators are int32 (docs/int8.md §3)
M_MAX = 2**16 - 1              # multipliers are uint16
SHIFT_RANGE = (1, 48)          # acc * M < 2**47, so larger shifts always give 0
W_MAX = 127                    # |int8 weight| (-128 is refused)
X_MAX = 255                    # uint8 activation


def accumulator_bound(fan_in: int, max_bias: int = 0) -> int:
    """The largest |accumulator| of ``fan_in`` products and a bias of at
    most ``max_bias`` in magnitude: ``fan_in * 127 * 255 + max_bias``
    (docs/int8.md §3)."""
    return fan_in * W_MAX * X_MAX + max_bias


class BundleError(ValueError):
    """A bundle file or in-memory bundle that breaks the format."""


def _conv_arrays(prefix, cout, cin, k):
    return {f"{prefix}weight": (np.int8, (cout, cin, k, k)), f"{prefix}bias": (np.int32, (cout,)),
            f"{prefix}m": (np.uint16, (cout,))}


def layer_arrays(layer: Layer, in_channels: int) -> dict[str, tuple]:
    """The arrays a layer must have: ``{key: (dtype, shape)}``; keys are
    relative to the layer (``weight``, ``squeeze/weight``, ...)."""
    c = layer.shape.c
    if isinstance(layer, ConvLayer):
        arrays = _conv_arrays("", c, in_channels, layer.kernel)
        return arrays if layer.relu else {k: v for k, v in arrays.items() if k != "m"}
    if isinstance(layer, FireLayer):
        out = {}
        for part in layer.parts:
            cin, k = (in_channels, 1) if part == "squeeze" else (layer.s1x1, 3 if part == "expand3x3" else 1)
            out |= _conv_arrays(f"{part}/", layer.part_width(part), cin, k)
        return out
    if isinstance(layer, AddLayer):
        out = {"m_a": (np.uint16, (c,)), "m_b": (np.uint16, (c,))}
        if layer.bypass == "complex":
            out |= {"weight": (np.int8, (c, in_channels, 1, 1)), "bias": (np.int32, (c,))}
        return out
    return {}


def is_weight(key: str) -> bool:
    """Whether an array key (``weight``, ``fire2/squeeze/weight``, ...) names int8 weights."""
    return key.rsplit("/", 1)[-1] == "weight"


def need(cond, where: str, msg: str) -> None:
    if not cond:
        raise BundleError(f"{where}: {msg}")


def _int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def validate(bundle: Bundle, where: str = "bundle") -> None:
    """Check everything ``docs/bundle.md`` promises; raise BundleError
    naming the layer and field that is wrong."""
    layers = validate_graph(bundle.graph, where)
    expected = {f"{layer.name}/{key}" for layer, cin in layers for key in layer_arrays(layer, cin)}
    stray = sorted(key for key in bundle.codebooks if key not in expected or not is_weight(key))
    need(not stray, where, f"codebooks for arrays that are no layer's weights: {stray[:5]}")
    for layer, cin in layers:
        _validate_arrays(bundle, layer, cin, where)
    need(bundle.graph["version"] >= LOGITS_VERSION or not uses_logits_features(bundle.layers), where,
         f"graph.json 'version' {bundle.graph['version']} cannot hold a logits conv or an input 'pad' "
         f"(they need version {LOGITS_VERSION})")
    extra = set(bundle.arrays) - expected
    need(not extra, where, f"arrays that no layer uses: {sorted(extra)[:5]}")


def uses_logits_features(layers) -> bool:
    """Whether any layer uses what version 3 added: a conv without ReLU
    (logits) or an input padding value."""
    return any((isinstance(layer, ConvLayer) and layer.logits) or (isinstance(layer, InputLayer) and any(layer.pad))
               for layer in layers)


def required_version(bundle: Bundle) -> int:
    """The lowest format version that can hold ``bundle``."""
    if uses_logits_features(bundle.layers):
        return LOGITS_VERSION
    return CODED_VERSION if bundle.codebooks else VERSION


def validate_graph(graph, where: str) -> list[tuple[Layer, int | None]]:
    """Check ``graph.json``; returns each layer with its input channel count
    (None for the input layer)."""
    _validate_header(graph, where)
    seen: dict[str, Layer] = {}
    out = []
    raw_layers = graph["layers"]
    for i, raw in enumerate(raw_layers):
        layer = _validate_layer(raw, i, len(raw_layers), seen, where)
        src = seen[layer.source].shape if layer.inputs else None
        for name in layer.inputs:
            reader = seen[name]
            need(not (isinstance(reader, ConvLayer) and reader.logits) or layer.kind == "gap", where,
                 f"layer {layer.name!r}: reads the logits conv {name!r}; only the gap may")
        _KIND_CHECKS[layer.kind](layer, raw, src, seen, f"{where}: layer {layer.name!r}")
        seen[layer.name] = layer
        out.append((layer, src.c if src else None))
    return out


def _validate_source(source, where: str) -> None:
    """``source`` is optional (bundles made by hand have none)."""
    if source is None:
        return
    need(isinstance(source, dict), where, "graph.json 'source' must be an object")
    sha = source.get("checkpoint_sha256")
    need(sha is None or (isinstance(sha, str) and len(sha) == 64
                         and all(ch in "0123456789abcdef" for ch in sha)), where,
         f"graph.json 'source.checkpoint_sha256' must be 64 lowercase hex digits, got {sha!r}")
    need(isinstance(source.get("network", {}), dict), where, "graph.json 'source.network' must be an object")


def _validate_header(g, where):
    need(isinstance(g, dict), where, "graph.json must hold an object")
    need(g.get("format") == FORMAT, where, f"graph.json 'format' must be {FORMAT!r}, got {g.get('format')!r}")
    need(g.get("version") in VERSIONS, where,
         f"unsupported bundle version {g.get('version')!r} (this reader: {', '.join(map(str, VERSIONS))})")
    need(isinstance(g.get("name"), str), where, "graph.json 'name' must be a string")
    _validate_source(g.get("source"), where)
    layers = g.get("layers")
    need(isinstance(layers, list) and layers, where, "graph.json 'layers' must be a non-empty list")


# Per kind: the JSON keys (beyond name/kind/inputs/shape) and their checks.
_NUMBER = (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0, "a positive number")
_INTEGER = (_int, "an integer")
_KEYS = {
    "input": {"scale": _NUMBER,
              "pad": (lambda v: v is None or (isinstance(v, list) and all(_int(p) and 0 <= p <= 255 for p in v)),
                      "a list of pixel values 0..255 (absent: 0)")},
    "conv": {"scale": _NUMBER, "kernel": _INTEGER, "stride": _INTEGER, "padding": _INTEGER, "shift": _INTEGER,
             "relu": (lambda v: v is None or isinstance(v, bool), "true or false (absent: true)")},
    "fire": {"scale": _NUMBER, "squeeze_scale": _NUMBER, "cin": _INTEGER, "s1x1": _INTEGER, "e1x1": _INTEGER,
             "e3x3": _INTEGER, "shift": (lambda v: isinstance(v, dict), "an object")},
    "maxpool": {"scale": _NUMBER, "kernel": _INTEGER, "stride": _INTEGER,
                "ceil": (lambda v: isinstance(v, bool), "true or false")},
    "add": {"scale": _NUMBER, "bypass": (lambda v: v in ("simple", "complex"), "'simple' or 'complex'"),
            "shift": _INTEGER},
    "gap": {},
}


def _validate_layer(raw, i, count, seen, where) -> Layer:
    """The checks every layer shares, then the typed layer."""
    need(isinstance(raw, dict) and isinstance(raw.get("name"), str), where,
         f"layer #{i} must be an object with a string 'name'")
    name, kind = raw["name"], raw.get("kind")
    need(name not in seen, where, f"layer name {name!r} is used twice")
    need(kind in _KEYS, where, f"layer {name!r}: unknown kind {kind!r}")
    shape = raw.get("shape")
    need(isinstance(shape, list) and len(shape) == 3 and all(_int(s) and s >= 1 for s in shape),
         where, f"layer {name!r}: 'shape' must be [H, W, C] of positive integers, got {shape!r}")
    inputs = raw.get("inputs")
    want = {"input": 0, "add": 2}.get(kind, 1)
    need(isinstance(inputs, list) and len(inputs) == want, where,
         f"layer {name!r}: needs {want} input(s), got {inputs!r}")
    for src in inputs:
        need(src in seen, where, f"layer {name!r}: input {src!r} is not an earlier layer")
    need((kind == "input") == (i == 0), where, "the first layer, and only it, must be of kind 'input'")
    need(kind != "gap" or i == count - 1, where, f"layer {name!r}: the gap layer must be last")
    for key, (ok, what) in _KEYS[kind].items():
        need(ok(raw.get(key)), where, f"layer {name!r}: '{key}' must be {what}, got {raw.get(key)!r}")
    return parse_layer(raw)


def _shift_ok(shift, at):
    need(SHIFT_RANGE[0] <= shift <= SHIFT_RANGE[1], at, f"shift {shift} outside {SHIFT_RANGE[0]}..{SHIFT_RANGE[1]}")


def _check_conv(layer: ConvLayer, raw, src, seen, at):
    need(layer.kernel >= 1 and layer.stride >= 1 and layer.padding >= 0, at,
         "kernel/stride must be >= 1 and padding >= 0")
    try:
        oh = output_size(src.h, layer.kernel, layer.stride, layer.padding)
        ow = output_size(src.w, layer.kernel, layer.stride, layer.padding)
    except ValueError as e:
        raise BundleError(f"{at}: {e}") from None
    need((oh, ow) == layer.shape[:2], at, f"shape {list(layer.shape)} does not follow from input {list(src)} "
         f"with kernel {layer.kernel}, stride {layer.stride}, padding {layer.padding}")
    if layer.relu:
        _shift_ok(layer.shift, at)
    else:
        need(layer.shift == 0, at, f"a logits conv (relu false) has no requantisation: 'shift' must be 0, "
             f"got {layer.shift}")


def _check_input(layer: InputLayer, raw, src, seen, at):
    need(len(layer.pad) in (0, layer.shape.c), at,
         f"'pad' needs one value per channel ({layer.shape.c}), got {len(layer.pad)}")


def _check_fire(layer: FireLayer, raw, src, seen, at):
    for key in ("cin", "s1x1", "e1x1", "e3x3"):
        need(getattr(layer, key) >= 0, at, f"'{key}' must be a non-negative integer")
    need(layer.cin == src.c, at, f"cin {layer.cin} but its input has {src.c} channels")
    need(layer.s1x1 >= 1 and layer.e1x1 + layer.e3x3 >= 1, at, "s1x1 and e1x1 + e3x3 must be >= 1")
    need(layer.shape.c == layer.e1x1 + layer.e3x3 and layer.shape[:2] == src[:2], at,
         f"shape {list(layer.shape)} does not match input {list(src)} and e1x1 + e3x3")
    shifts = raw["shift"]
    need(all(_int(shifts.get(p)) for p in layer.parts), at, f"'shift' must map {list(layer.parts)} to integers")
    for part in layer.parts:
        _shift_ok(shifts[part], at)


def _check_maxpool(layer: MaxPoolLayer, raw, src, seen, at):
    need(layer.kernel >= 1 and layer.stride >= 1, at, "kernel and stride must be >= 1")
    try:
        want = (output_size(src.h, layer.kernel, layer.stride, 0, layer.ceil),
                output_size(src.w, layer.kernel, layer.stride, 0, layer.ceil), src.c)
    except ValueError as e:
        raise BundleError(f"{at}: {e}") from None
    need(tuple(layer.shape) == want, at, f"shape {list(layer.shape)} is not the {layer.kernel}x{layer.kernel}/"
         f"{layer.stride} {'ceil' if layer.ceil else 'floor'}-mode pool of {list(src)}")


def _check_add(layer: AddLayer, raw, src, seen, at):
    _shift_ok(layer.shift, at)
    need(seen[layer.fire].shape == layer.shape, at, f"shape differs from input {layer.fire!r}")
    need(src[:2] == layer.shape[:2] and (layer.bypass == "complex" or src.c == layer.shape.c), at,
         f"bypass input {layer.source!r} has shape {list(src)}, output {list(layer.shape)}")


def _check_gap(layer: GapLayer, raw, src, seen, at):
    need(layer.shape[:2] == (1, 1) and layer.shape.c == src.c, at, f"shape must be [1, 1, {src.c}]")


_KIND_CHECKS = {"input": _check_input, "conv": _check_conv, "fire": _check_fire, "maxpool": _check_maxpool,
                "add": _check_add, "gap": _check_gap}


def _validate_arrays(bundle: Bundle, layer: Layer, cin: int | None, where: str) -> None:
    """Presence, dtype, shape, codebooks and the accumulator bound."""
    name = layer.name
    at = f"{where}: layer {name!r}"
    wanted = layer_arrays(layer, cin)
    for key, (dtype, ashape) in wanted.items():
        codebook = bundle.codebooks.get(f"{name}/{key}")
        if codebook is not None:
            check_codebook(codebook, ashape, at, key[:-len("weight")])
        a = bundle.arrays.get(f"{name}/{key}")
        need(a is not None, at, f"array {key!r} is missing")
        need(a.dtype == dtype and a.shape == ashape, at,
             f"array {key!r} must be {np.dtype(dtype).name}{list(ashape)}, got {a.dtype.name}{list(a.shape)}")
        if is_weight(key):
            need(int(a.min(initial=0)) >= -127, at, f"{key} holds -128 (int8 weights are -127..127)")
            need(codebook is None or np.array_equal(a, codebook.weights()), at,
                 f"{key} differs from its codebook's expansion values[indices]")
    for prefix in (k[:-len("weight")] for k in wanted if is_weight(k)):
        wgt = bundle.arrays[f"{name}/{prefix}weight"]
        bias = bundle.arrays[f"{name}/{prefix}bias"].astype(np.int64)
        fan_in = wgt.shape[1] * wgt.shape[2] * wgt.shape[3]
        worst = accumulator_bound(fan_in, int(np.abs(bias).max(initial=0)))
        need(worst <= ACC_LIMIT, at, f"{prefix}accumulator may reach {worst} > int32 "
             f"(fan-in {fan_in}, max |bias| {int(np.abs(bias).max(initial=0))})")
        if isinstance(layer, ConvLayer) and layer.logits:
            pixels = layer.shape.h * layer.shape.w
            need(worst * pixels <= ACC_LIMIT, at, f"the gap's sum of {pixels} logits may reach {worst * pixels} "
                 f"> int32 (fan-in {fan_in}, max |bias| {int(np.abs(bias).max(initial=0))})")


# -- codebooks (docs/bundle.md, version 2) ---------------------------------
def _check_table(values, at: str, part: str) -> int:
    """A codebook's values; returns its index width b."""
    need(isinstance(values, np.ndarray) and values.dtype == np.int8 and values.ndim == 1, at,
         f"{part}codebook must be a 1-D int8 array, got {_describe(values)}")
    size = len(values)
    need(2 ** MIN_BITS <= size <= 2 ** MAX_BITS and size & (size - 1) == 0, at,
         f"{part}codebook has {size} values; it needs a power of two from {2 ** MIN_BITS} to {2 ** MAX_BITS}")
    need(int(values.min()) >= -127, at, f"{part}codebook holds -128 (int8 weights are -127..127)")
    return size.bit_length() - 1


def _describe(a) -> str:
    return f"{a.dtype.name}{list(a.shape)}" if isinstance(a, np.ndarray) else type(a).__name__


def check_codebook(codebook, shape: tuple, at: str, part: str) -> None:
    """An in-memory codebook for a weight of ``shape`` (``part``: the key's
    prefix, e.g. ``squeeze/``).  ``Codebook`` checks itself when made; this
    catches arrays changed in place since, and indices of the wrong shape."""
    need(isinstance(codebook, Codebook), at, f"{part}codebook must be a Codebook, got {type(codebook).__name__}")
    bits = _check_table(codebook.values, at, part)
    indices = codebook.indices
    need(isinstance(indices, np.ndarray) and indices.dtype == np.uint8 and indices.shape == shape, at,
         f"{part}indices must be uint8{list(shape)} (the weight's shape), got {_describe(indices)}")
    top = int(indices.max(initial=0))
    need(top < 2 ** bits, at, f"{part}indices holds index {top} >= {2 ** bits} ({bits}-bit codebook)")


def decode_codebook(values, packed, shape: tuple, at: str, part: str) -> Codebook:
    """A codebook as stored in a file: ``values`` int8 [2**b] and ``packed``
    the ``pack_indices`` bytes of the weight's C-order indices."""
    bits = _check_table(values, at, part)
    count = prod(shape)
    size = (count * bits + 7) // 8
    need(isinstance(packed, np.ndarray) and packed.dtype == np.uint8 and packed.shape == (size,), at,
         f"{part}indices must be uint8[{size}] ({count} {bits}-bit indices, packed), got {_describe(packed)}")
    spare = size * 8 - count * bits
    # Zero padding keeps the encoding unique, so load -> save gives the same bytes.
    need(spare == 0 or int(packed[-1]) >> (8 - spare) == 0, at,
         f"{part}indices has non-zero padding bits after its last index")
    return Codebook(values, unpack_indices(packed, bits, count).reshape(shape))
