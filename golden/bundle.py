"""The bundle: one file that carries a quantized network from ``golden`` to
``rtl_gen``.  The format is specified in ``docs/bundle.md``; this module is
its only reader and writer.

A bundle is a ZIP archive (readable by ``numpy.load`` too) holding
``graph.json`` and one ``.npy`` file per integer array.  Writing is
deterministic (fixed member order and timestamps), so the same network gives
the same bytes.
"""
from __future__ import annotations

import io
import json
import os
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from golden.atomic import replacing
from golden.layers import (AddLayer, ConvLayer, FireLayer, GapLayer, InputLayer, Layer, MaxPoolLayer, Shape,
                           parse_layer)
from golden.shapes import output_size

FORMAT = "squeezefire-bundle"
VERSION = 1
ACC_LIMIT = 2**31 - 1          # accumulators are int32 (docs/int8.md §3)
M_MAX = 2**16 - 1              # multipliers are uint16
SHIFT_RANGE = (1, 48)          # acc * M < 2**47, so larger shifts always give 0


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
        return _conv_arrays("", c, in_channels, layer.kernel)
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


@dataclass
class Bundle:
    """A quantized network: ``graph`` (the JSON document) and ``arrays``
    (``"<layer>/<key>"`` → numpy array)."""

    graph: dict
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    _parsed: tuple | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def layers(self) -> tuple[Layer, ...]:
        """The layers as typed, frozen dataclasses (``golden.layers``), in
        topological order; parsed from ``graph`` (validate it first)."""
        raw = self.graph["layers"]
        if self._parsed is None or self._parsed[0] is not raw:
            self._parsed = (raw, tuple(parse_layer(layer) for layer in raw))
        return self._parsed[1]

    @property
    def name(self) -> str:
        return self.graph["name"]

    @property
    def classes(self) -> list[str] | None:
        """Class names, if the bundle lists them."""
        return self.graph.get("classes")

    @property
    def input(self) -> InputLayer:
        return self.layers[0]

    @property
    def output(self) -> Layer:
        return self.layers[-1]

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"bundle {self.name!r} has no layer {name!r}")

    def array(self, layer: str, key: str) -> np.ndarray:
        return self.arrays[f"{layer}/{key}"]

    def conv(self, layer: str, part: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """(weight, bias, m, shift) of a conv layer or of a fire part."""
        lay = self.layer(layer)
        pre = f"{part}/" if part else ""
        shift = getattr(lay.shift, part) if part else lay.shift
        return (self.array(layer, pre + "weight"), self.array(layer, pre + "bias"),
                self.array(layer, pre + "m"), shift)

    def in_shape(self, layer: Layer) -> Shape:
        """The shape of the activation ``layer`` reads (an add: its bypass input)."""
        return self.layer(layer.source).shape

    def in_channels(self, layer: Layer) -> int:
        return self.in_shape(layer).c

    def weight_bits(self) -> int:
        """Bits of all stored constants (weights, biases, multipliers)."""
        return sum(a.size * a.dtype.itemsize * 8 for a in self.arrays.values())

    # -- I/O ---------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        validate(self, str(path))
        path = Path(path)
        with replacing(path) as tmp:
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
                def put(name, payload):
                    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                    info.compress_type = zipfile.ZIP_DEFLATED
                    info.external_attr = 0o644 << 16
                    zf.writestr(info, payload)
                put("graph.json", json.dumps(self.graph, indent=1, sort_keys=True).encode())
                for key in sorted(self.arrays):
                    buf = io.BytesIO()
                    np.lib.format.write_array(buf, np.ascontiguousarray(self.arrays[key]), allow_pickle=False)
                    put(key + ".npy", buf.getvalue())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Bundle":
        where = str(path)
        try:
            zf = zipfile.ZipFile(path)
        except FileNotFoundError:
            raise BundleError(f"{where}: bundle file not found") from None
        except (zipfile.BadZipFile, OSError) as e:
            raise BundleError(f"{where}: not a bundle (not a readable ZIP archive: {e})") from None
        with zf:
            names = set(zf.namelist())
            if "graph.json" not in names:
                raise BundleError(f"{where}: graph.json is missing")
            try:
                graph = json.loads(zf.read("graph.json"))
            except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as e:
                raise BundleError(f"{where}: graph.json is unreadable ({e})") from None
            arrays = {}
            for member in sorted(names - {"graph.json"}):
                if not member.endswith(".npy"):
                    raise BundleError(f"{where}: unexpected member {member!r}")
                try:
                    arrays[member[:-4]] = np.lib.format.read_array(io.BytesIO(zf.read(member)),
                                                                   allow_pickle=False)
                except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as e:
                    raise BundleError(f"{where}: array {member[:-4]!r} is unreadable ({e})") from None
        bundle = cls(graph, arrays)
        validate(bundle, where)
        return bundle


def is_bundle_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a file that says it is a bundle (a ZIP whose
    graph.json names this format), so a writer may replace it."""
    try:
        with zipfile.ZipFile(path) as zf:
            return json.loads(zf.read("graph.json")).get("format") == FORMAT
    except Exception:
        return False


def _need(cond, where, msg):
    if not cond:
        raise BundleError(f"{where}: {msg}")


def _int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def validate(bundle: Bundle, where: str = "bundle") -> None:
    """Check everything ``docs/bundle.md`` promises; raise BundleError
    naming the layer and field that is wrong."""
    g = bundle.graph
    _validate_header(g, where)
    seen: dict[str, Layer] = {}
    expected_arrays: set[str] = set()
    raw_layers = g["layers"]
    for i, raw in enumerate(raw_layers):
        layer = _validate_layer(raw, i, len(raw_layers), seen, where)
        src = seen[layer.source].shape if layer.inputs else None
        _KIND_CHECKS[layer.kind](layer, raw, src, seen, f"{where}: layer {layer.name!r}")
        expected_arrays |= _validate_arrays(bundle, layer, src.c if src else None, where)
        seen[layer.name] = layer
    extra = set(bundle.arrays) - expected_arrays
    _need(not extra, where, f"arrays that no layer uses: {sorted(extra)[:5]}")


def _validate_source(source, where: str) -> None:
    """``source`` is optional (bundles made by hand have none)."""
    if source is None:
        return
    _need(isinstance(source, dict), where, "graph.json 'source' must be an object")
    sha = source.get("checkpoint_sha256")
    _need(sha is None or (isinstance(sha, str) and len(sha) == 64
                          and all(ch in "0123456789abcdef" for ch in sha)), where,
          f"graph.json 'source.checkpoint_sha256' must be 64 lowercase hex digits, got {sha!r}")
    _need(isinstance(source.get("network", {}), dict), where, "graph.json 'source.network' must be an object")


def _validate_header(g, where):
    _need(isinstance(g, dict), where, "graph.json must hold an object")
    _need(g.get("format") == FORMAT, where, f"graph.json 'format' must be {FORMAT!r}, got {g.get('format')!r}")
    _need(g.get("version") == VERSION, where, f"unsupported bundle version {g.get('version')!r} (this reader: {VERSION})")
    _need(isinstance(g.get("name"), str), where, "graph.json 'name' must be a string")
    _validate_source(g.get("source"), where)
    layers = g.get("layers")
    _need(isinstance(layers, list) and layers, where, "graph.json 'layers' must be a non-empty list")


# Per kind: the JSON keys (beyond name/kind/inputs/shape) and their checks.
_NUMBER = (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0, "a positive number")
_INTEGER = (_int, "an integer")
_KEYS = {
    "input": {"scale": _NUMBER},
    "conv": {"scale": _NUMBER, "kernel": _INTEGER, "stride": _INTEGER, "padding": _INTEGER, "shift": _INTEGER},
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
    _need(isinstance(raw, dict) and isinstance(raw.get("name"), str), where,
          f"layer #{i} must be an object with a string 'name'")
    name, kind = raw["name"], raw.get("kind")
    _need(name not in seen, where, f"layer name {name!r} is used twice")
    _need(kind in _KEYS, where, f"layer {name!r}: unknown kind {kind!r}")
    shape = raw.get("shape")
    _need(isinstance(shape, list) and len(shape) == 3 and all(_int(s) and s >= 1 for s in shape),
          where, f"layer {name!r}: 'shape' must be [H, W, C] of positive integers, got {shape!r}")
    inputs = raw.get("inputs")
    want = {"input": 0, "add": 2}.get(kind, 1)
    _need(isinstance(inputs, list) and len(inputs) == want, where,
          f"layer {name!r}: needs {want} input(s), got {inputs!r}")
    for src in inputs:
        _need(src in seen, where, f"layer {name!r}: input {src!r} is not an earlier layer")
    _need((kind == "input") == (i == 0), where, "the first layer, and only it, must be of kind 'input'")
    _need(kind != "gap" or i == count - 1, where, f"layer {name!r}: the gap layer must be last")
    for key, (ok, what) in _KEYS[kind].items():
        _need(ok(raw.get(key)), where, f"layer {name!r}: '{key}' must be {what}, got {raw.get(key)!r}")
    return parse_layer(raw)


def _shift_ok(shift, at):
    _need(SHIFT_RANGE[0] <= shift <= SHIFT_RANGE[1], at, f"shift {shift} outside {SHIFT_RANGE[0]}..{SHIFT_RANGE[1]}")


def _check_conv(layer: ConvLayer, raw, src, seen, at):
    _need(layer.kernel >= 1 and layer.stride >= 1 and layer.padding >= 0, at,
          "kernel/stride must be >= 1 and padding >= 0")
    try:
        oh = output_size(src.h, layer.kernel, layer.stride, layer.padding)
        ow = output_size(src.w, layer.kernel, layer.stride, layer.padding)
    except ValueError as e:
        raise BundleError(f"{at}: {e}") from None
    _need((oh, ow) == layer.shape[:2], at, f"shape {list(layer.shape)} does not follow from input {list(src)} "
          f"with kernel {layer.kernel}, stride {layer.stride}, padding {layer.padding}")
    _shift_ok(layer.shift, at)


def _check_fire(layer: FireLayer, raw, src, seen, at):
    for key in ("cin", "s1x1", "e1x1", "e3x3"):
        _need(getattr(layer, key) >= 0, at, f"'{key}' must be a non-negative integer")
    _need(layer.cin == src.c, at, f"cin {layer.cin} but its input has {src.c} channels")
    _need(layer.s1x1 >= 1 and layer.e1x1 + layer.e3x3 >= 1, at, "s1x1 and e1x1 + e3x3 must be >= 1")
    _need(layer.shape.c == layer.e1x1 + layer.e3x3 and layer.shape[:2] == src[:2], at,
          f"shape {list(layer.shape)} does not match input {list(src)} and e1x1 + e3x3")
    shifts = raw["shift"]
    _need(all(_int(shifts.get(p)) for p in layer.parts), at, f"'shift' must map {list(layer.parts)} to integers")
    for part in layer.parts:
        _shift_ok(shifts[part], at)


def _check_maxpool(layer: MaxPoolLayer, raw, src, seen, at):
    _need(layer.kernel >= 1 and layer.stride >= 1, at, "kernel and stride must be >= 1")
    try:
        want = (output_size(src.h, layer.kernel, layer.stride, 0, layer.ceil),
                output_size(src.w, layer.kernel, layer.stride, 0, layer.ceil), src.c)
    except ValueError as e:
        raise BundleError(f"{at}: {e}") from None
    _need(tuple(layer.shape) == want, at, f"shape {list(layer.shape)} is not the {layer.kernel}x{layer.kernel}/"
          f"{layer.stride} {'ceil' if layer.ceil else 'floor'}-mode pool of {list(src)}")


def _check_add(layer: AddLayer, raw, src, seen, at):
    _shift_ok(layer.shift, at)
    _need(seen[layer.fire].shape == layer.shape, at, f"shape differs from input {layer.fire!r}")
    _need(src[:2] == layer.shape[:2] and (layer.bypass == "complex" or src.c == layer.shape.c), at,
          f"bypass input {layer.source!r} has shape {list(src)}, output {list(layer.shape)}")


def _check_gap(layer: GapLayer, raw, src, seen, at):
    _need(layer.shape[:2] == (1, 1) and layer.shape.c == src.c, at, f"shape must be [1, 1, {src.c}]")


_KIND_CHECKS = {"input": lambda *a: None, "conv": _check_conv, "fire": _check_fire, "maxpool": _check_maxpool,
                "add": _check_add, "gap": _check_gap}


def _validate_arrays(bundle: Bundle, layer: Layer, cin: int | None, where: str) -> set[str]:
    """Presence, dtype, shape and the accumulator bound; returns the keys."""
    name = layer.name
    wanted = layer_arrays(layer, cin)
    for key, (dtype, ashape) in wanted.items():
        a = bundle.arrays.get(f"{name}/{key}")
        _need(a is not None, where, f"layer {name!r}: array {key!r} is missing")
        _need(a.dtype == dtype and a.shape == ashape, where,
              f"layer {name!r}: array {key!r} must be {np.dtype(dtype).name}{list(ashape)}, "
              f"got {a.dtype.name}{list(a.shape)}")
        if key.endswith("weight"):
            _need(int(a.min(initial=0)) >= -127, where, f"layer {name!r}: {key} holds -128 (int8 weights are -127..127)")
    for prefix in (k[:-len("weight")] for k in wanted if k.endswith("weight")):
        wgt = bundle.arrays[f"{name}/{prefix}weight"]
        bias = bundle.arrays[f"{name}/{prefix}bias"].astype(np.int64)
        fan_in = wgt.shape[1] * wgt.shape[2] * wgt.shape[3]
        worst = fan_in * 127 * 255 + int(np.abs(bias).max(initial=0))
        _need(worst <= ACC_LIMIT, where, f"layer {name!r}: {prefix}accumulator may reach {worst} > int32 "
              f"(fan-in {fan_in}, max |bias| {int(np.abs(bias).max(initial=0))})")
    return {f"{name}/{key}" for key in wanted}
