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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FORMAT = "squeezefire-bundle"
VERSION = 1
ACC_LIMIT = 2**31 - 1          # accumulators are int32 (docs/int8.md §3)
M_MAX = 2**16 - 1              # multipliers are uint16
SHIFT_RANGE = (1, 48)          # acc * M < 2**47, so larger shifts always give 0


class BundleError(ValueError):
    """A bundle file or in-memory bundle that breaks the format."""


# kind -> {array key: (dtype, shape from layer)}; shapes use the helpers below.
def _conv_arrays(prefix, cout, cin, k):
    return {f"{prefix}weight": (np.int8, (cout, cin, k, k)), f"{prefix}bias": (np.int32, (cout,)),
            f"{prefix}m": (np.uint16, (cout,))}


def layer_arrays(layer: dict, in_channels: int) -> dict[str, tuple]:
    """The arrays a layer must have: ``{key: (dtype, shape)}``; keys are
    relative to the layer (``weight``, ``squeeze/weight``, ...)."""
    kind = layer["kind"]
    c = layer["shape"][2]
    if kind == "conv":
        return _conv_arrays("", c, in_channels, layer["kernel"])
    if kind == "fire":
        s = layer["s1x1"]
        out = _conv_arrays("squeeze/", s, in_channels, 1)
        if layer["e1x1"]:
            out |= _conv_arrays("expand1x1/", layer["e1x1"], s, 1)
        if layer["e3x3"]:
            out |= _conv_arrays("expand3x3/", layer["e3x3"], s, 3)
        return out
    if kind == "add":
        out = {"m_a": (np.uint16, (c,)), "m_b": (np.uint16, (c,))}
        if layer["bypass"] == "complex":
            out |= {"weight": (np.int8, (c, in_channels, 1, 1)), "bias": (np.int32, (c,))}
        return out
    return {}


def fire_parts(layer: dict) -> list[str]:
    """The convolutions of a fire layer that exist, in order."""
    return ["squeeze"] + [part for part, width in (("expand1x1", layer["e1x1"]), ("expand3x3", layer["e3x3"]))
                          if width]


@dataclass
class Bundle:
    """A quantized network: ``graph`` (the JSON document) and ``arrays``
    (``"<layer>/<key>"`` → numpy array)."""

    graph: dict
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def layers(self) -> list[dict]:
        return self.graph["layers"]

    @property
    def name(self) -> str:
        return self.graph["name"]

    def layer(self, name: str) -> dict:
        for layer in self.layers:
            if layer["name"] == name:
                return layer
        raise KeyError(f"bundle {self.name!r} has no layer {name!r}")

    def array(self, layer: str, key: str) -> np.ndarray:
        return self.arrays[f"{layer}/{key}"]

    def conv(self, layer: str, part: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """(weight, bias, m, shift) of a conv layer or of a fire part."""
        lay = self.layer(layer)
        pre = f"{part}/" if part else ""
        shift = lay["shift"][part] if part else lay["shift"]
        return (self.array(layer, pre + "weight"), self.array(layer, pre + "bias"),
                self.array(layer, pre + "m"), shift)

    def in_channels(self, layer: dict) -> int:
        src = layer["inputs"][-1]
        return self.layer(src)["shape"][2]

    def weight_bits(self) -> int:
        """Bits of all stored constants (weights, biases, multipliers)."""
        return sum(a.size * a.dtype.itemsize * 8 for a in self.arrays.values())

    # -- I/O ---------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        validate(self, str(path))
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        try:
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
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)

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
            except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
                raise BundleError(f"{where}: graph.json is unreadable ({e})") from None
            arrays = {}
            for member in sorted(names - {"graph.json"}):
                if not member.endswith(".npy"):
                    raise BundleError(f"{where}: unexpected member {member!r}")
                try:
                    arrays[member[:-4]] = np.lib.format.read_array(io.BytesIO(zf.read(member)),
                                                                   allow_pickle=False)
                except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
                    raise BundleError(f"{where}: array {member[:-4]!r} is unreadable ({e})") from None
        bundle = cls(graph, arrays)
        validate(bundle, where)
        return bundle


def _need(cond, where, msg):
    if not cond:
        raise BundleError(f"{where}: {msg}")


def _int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def validate(bundle: Bundle, where: str = "bundle") -> None:
    """Check everything ``docs/bundle.md`` promises; raise BundleError
    naming the layer and field that is wrong."""
    g = bundle.graph
    _need(isinstance(g, dict), where, "graph.json must hold an object")
    _need(g.get("format") == FORMAT, where, f"graph.json 'format' must be {FORMAT!r}, got {g.get('format')!r}")
    _need(g.get("version") == VERSION, where, f"unsupported bundle version {g.get('version')!r} (this reader: {VERSION})")
    _need(isinstance(g.get("name"), str), where, "graph.json 'name' must be a string")
    layers = g.get("layers")
    _need(isinstance(layers, list) and layers, where, "graph.json 'layers' must be a non-empty list")
    seen: dict[str, dict] = {}
    expected_arrays = set()
    for i, layer in enumerate(layers):
        _need(isinstance(layer, dict) and isinstance(layer.get("name"), str), where,
              f"layer #{i} must be an object with a string 'name'")
        name = layer["name"]
        at = f"{where}: layer {name!r}"
        _need(name not in seen, where, f"layer name {name!r} is used twice")
        kind = layer.get("kind")
        _need(kind in ("input", "conv", "fire", "maxpool", "add", "gap"), at.split(": ", 1)[0],
              f"layer {name!r}: unknown kind {kind!r}")
        shape = layer.get("shape")
        _need(isinstance(shape, list) and len(shape) == 3 and all(_int(s) and s >= 1 for s in shape),
              where, f"layer {name!r}: 'shape' must be [H, W, C] of positive integers, got {shape!r}")
        inputs = layer.get("inputs")
        want_inputs = {"input": 0, "add": 2}.get(kind, 1)
        _need(isinstance(inputs, list) and len(inputs) == want_inputs, where,
              f"layer {name!r}: needs {want_inputs} input(s), got {inputs!r}")
        for src in inputs:
            _need(src in seen, where, f"layer {name!r}: input {src!r} is not an earlier layer")
        if kind == "input":
            _need(i == 0, where, f"layer {name!r}: the input layer must come first")
            _need(isinstance(layer.get("scale"), (int, float)) and layer["scale"] > 0, where,
                  f"layer {name!r}: 'scale' must be a positive number")
        else:
            _need(layers[0].get("kind") == "input", where, "the first layer must be of kind 'input'")
        src_shape = seen[inputs[-1]]["shape"] if inputs else None
        cin = src_shape[2] if src_shape else None
        h, w, c = shape
        if kind == "conv":
            for key in ("kernel", "stride", "padding", "shift"):
                _need(_int(layer.get(key)), where, f"layer {name!r}: '{key}' must be an integer")
            _need(layer["kernel"] >= 1 and layer["stride"] >= 1 and layer["padding"] >= 0, where,
                  f"layer {name!r}: kernel/stride must be >= 1 and padding >= 0")
            from golden.models import output_size
            try:
                oh = output_size(src_shape[0], layer["kernel"], layer["stride"], layer["padding"])
                ow = output_size(src_shape[1], layer["kernel"], layer["stride"], layer["padding"])
            except ValueError as e:
                raise BundleError(f"{where}: layer {name!r}: {e}") from None
            _need([oh, ow] == [h, w], where, f"layer {name!r}: shape {shape} does not follow from input "
                  f"{src_shape} with kernel {layer['kernel']}, stride {layer['stride']}, padding {layer['padding']}")
        elif kind == "fire":
            for key in ("cin", "s1x1", "e1x1", "e3x3"):
                _need(_int(layer.get(key)) and layer[key] >= 0, where, f"layer {name!r}: '{key}' must be a non-negative integer")
            _need(layer["cin"] == cin, where, f"layer {name!r}: cin {layer['cin']} but its input has {cin} channels")
            _need(layer["s1x1"] >= 1 and layer["e1x1"] + layer["e3x3"] >= 1, where,
                  f"layer {name!r}: s1x1 and e1x1 + e3x3 must be >= 1")
            _need(c == layer["e1x1"] + layer["e3x3"] and [h, w] == src_shape[:2], where,
                  f"layer {name!r}: shape {shape} does not match input {src_shape} and e1x1 + e3x3")
            sh = layer.get("shift")
            _need(isinstance(sh, dict) and all(_int(sh.get(p)) for p in fire_parts(layer)), where,
                  f"layer {name!r}: 'shift' must map {fire_parts(layer)} to integers")
        elif kind == "maxpool":
            from golden.models import output_size
            _need([output_size(src_shape[0], 3, 2, 0, True), output_size(src_shape[1], 3, 2, 0, True), cin]
                  == shape, where, f"layer {name!r}: shape {shape} is not the 3x3/2 ceil-mode pool of {src_shape}")
        elif kind == "add":
            _need(layer.get("bypass") in ("simple", "complex"), where,
                  f"layer {name!r}: 'bypass' must be 'simple' or 'complex'")
            _need(_int(layer.get("shift")), where, f"layer {name!r}: 'shift' must be an integer")
            _need(seen[inputs[0]]["shape"] == shape, where, f"layer {name!r}: shape differs from input {inputs[0]!r}")
            _need(src_shape[:2] == shape[:2] and (layer["bypass"] == "complex" or cin == c), where,
                  f"layer {name!r}: bypass input {inputs[1]!r} has shape {src_shape}, output {shape}")
        elif kind == "gap":
            _need(shape[:2] == [1, 1] and c == cin, where, f"layer {name!r}: shape must be [1, 1, {cin}]")
            _need(i == len(layers) - 1, where, f"layer {name!r}: the gap layer must be last")
        # shifts in range
        shifts = []
        if kind in ("conv", "add"):
            shifts = [layer["shift"]]
        elif kind == "fire":
            shifts = [layer["shift"][p] for p in fire_parts(layer)]
        for s in shifts:
            _need(SHIFT_RANGE[0] <= s <= SHIFT_RANGE[1], where,
                  f"layer {name!r}: shift {s} outside {SHIFT_RANGE[0]}..{SHIFT_RANGE[1]}")
        # arrays: presence, dtype, shape, accumulator bound
        for key, (dtype, ashape) in layer_arrays(layer, cin).items():
            full = f"{name}/{key}"
            expected_arrays.add(full)
            _need(full in bundle.arrays, where, f"layer {name!r}: array {key!r} is missing")
            a = bundle.arrays[full]
            _need(a.dtype == dtype and a.shape == ashape, where,
                  f"layer {name!r}: array {key!r} must be {np.dtype(dtype).name}{list(ashape)}, "
                  f"got {a.dtype.name}{list(a.shape)}")
            if key.endswith("weight"):
                _need(int(a.min(initial=0)) >= -127, where, f"layer {name!r}: {key} holds -128 (int8 weights are -127..127)")
        for prefix in {k.rsplit("weight", 1)[0] for k in layer_arrays(layer, cin) if k.endswith("weight")}:
            wgt = bundle.arrays[f"{name}/{prefix}weight"]
            bias = bundle.arrays[f"{name}/{prefix}bias"].astype(np.int64)
            fan_in = wgt.shape[1] * wgt.shape[2] * wgt.shape[3]
            worst = fan_in * 127 * 255 + int(np.abs(bias).max(initial=0))
            _need(worst <= ACC_LIMIT, where, f"layer {name!r}: {prefix}accumulator may reach {worst} > int32 "
                  f"(fan-in {fan_in}, max |bias| {int(np.abs(bias).max(initial=0))})")
        seen[name] = layer
    extra = set(bundle.arrays) - expected_arrays
    _need(not extra, where, f"arrays that no layer uses: {sorted(extra)[:5]}")
