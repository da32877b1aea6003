"""The bundle: one file that carries a quantized network from ``golden`` to
``rtl_gen``.  The format is specified in ``docs/bundle.md``; this module is
its only reader and writer (its rules are checked in ``golden.bundle_rules``).

A bundle is a ZIP archive (readable by ``numpy.load`` too) holding
``graph.json`` and one ``.npy`` file per integer array; a codebook-coded
weight (version 2) is stored as its codebook and packed indices instead.
Writing is deterministic (fixed member order and timestamps), so the same
network gives the same bytes.
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
from golden.bundle_rules import (ACC_LIMIT, CODED_VERSION, FORMAT, M_MAX, SHIFT_RANGE, VERSION, VERSIONS,
                                 BundleError, decode_codebook, is_weight, layer_arrays, need, required_version, validate,
                                 validate_graph)
from golden.codebook import Codebook, pack_indices
from golden.layers import InputLayer, Layer, Shape, parse_layer

__all__ = ["ACC_LIMIT", "CODED_VERSION", "FORMAT", "M_MAX", "SHIFT_RANGE", "VERSION", "VERSIONS", "Bundle",
           "BundleError", "is_bundle_file", "layer_arrays", "validate"]

_CODED_MEMBERS = ("codebook", "indices")     # stand for "weight" in a coded weight's key
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError)


@dataclass
class Bundle:
    """A quantized network: ``graph`` (the JSON document), ``arrays``
    (``"<layer>/<key>"`` → numpy array) and ``codebooks`` (weight key, e.g.
    ``"fire2/squeeze/weight"`` → ``Codebook``) for the weights stored coded.
    ``arrays`` always holds every weight expanded to int8, equal to its
    codebook's ``weights()``, so consumers never need the codebooks."""

    graph: dict
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    codebooks: dict[str, Codebook] = field(default_factory=dict)
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
    def version(self) -> int:
        """The format version ``save`` writes: the lowest that holds this
        network (3 with a logits conv or an input padding value, 2 if any
        weight is coded, else 1)."""
        return required_version(self)

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

    def codebook(self, layer: str, part: str | None = None) -> Codebook | None:
        """The codebook of a conv layer's, a fire part's or a complex
        bypass's weight, or None when that weight is stored as plain int8."""
        self.layer(layer)                   # an unknown layer is an error, not "uncoded"
        pre = f"{part}/" if part else ""
        return self.codebooks.get(f"{layer}/{pre}weight")

    def with_codebooks(self, codebooks: dict[str, Codebook]) -> "Bundle":
        """A new bundle in which each listed weight is coded by its codebook
        (and so replaced by the codebook's expansion); validated."""
        merged = {**self.codebooks, **codebooks}
        # Whatever is not a Codebook is left unexpanded for validate to name.
        arrays = {**self.arrays, **{key: codebook.weights() for key, codebook in codebooks.items()
                                    if isinstance(codebook, Codebook)}}
        bundle = Bundle(dict(self.graph), arrays, merged)
        bundle.graph["version"] = bundle.version
        validate(bundle, f"bundle {self.name!r}")
        return bundle

    def in_shape(self, layer: Layer) -> Shape:
        """The shape of the activation ``layer`` reads (an add: its bypass input)."""
        return self.layer(layer.source).shape

    def in_channels(self, layer: Layer) -> int:
        return self.in_shape(layer).c

    # -- what is stored, in bits ---------------------------------------------
    def weight_bits(self) -> int:
        """Bits of all stored constants: weights as stored (8 bits each, or a
        coded weight's indices and codebook table), biases and multipliers."""
        return (self.uncoded_weight_bits() + self.index_bits() + self.codebook_bits()
                + self.bias_and_multiplier_bits())

    def uncoded_weight_bits(self) -> int:
        """8 bits per weight of the weights stored as plain int8."""
        return sum(8 * a.size for key, a in self.arrays.items() if is_weight(key) and key not in self.codebooks)

    def index_bits(self) -> int:
        """b bits per weight of the coded weights (b: its codebook's width)."""
        return sum(codebook.index_bits() for codebook in self.codebooks.values())

    def codebook_bits(self) -> int:
        """8 bits per codebook entry, over all codebooks."""
        return sum(codebook.table_bits() for codebook in self.codebooks.values())

    def bias_and_multiplier_bits(self) -> int:
        return sum(a.size * a.dtype.itemsize * 8 for key, a in self.arrays.items() if not is_weight(key))

    # -- I/O ---------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        validate(self, str(path))
        with replacing(Path(path)) as tmp:
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
                def put(name, payload):
                    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                    info.compress_type = zipfile.ZIP_DEFLATED
                    info.external_attr = 0o644 << 16
                    zf.writestr(info, payload)
                graph = dict(self.graph, version=self.version)
                put("graph.json", json.dumps(graph, indent=1, sort_keys=True).encode())
                for key, array in self._members():
                    buf = io.BytesIO()
                    np.lib.format.write_array(buf, np.ascontiguousarray(array), allow_pickle=False)
                    put(key + ".npy", buf.getvalue())

    def _members(self) -> list[tuple[str, np.ndarray]]:
        """(key, array) per ``.npy`` member, sorted by key; a coded weight
        ``<layer>/<prefix>weight`` becomes ``<prefix>codebook`` and ``<prefix>indices``."""
        members = []
        for key, array in self.arrays.items():
            codebook = self.codebooks.get(key)
            if codebook is None:
                members.append((key, array))
                continue
            base = key[:-len("weight")]
            members += [(base + "codebook", codebook.values),
                        (base + "indices", pack_indices(codebook.indices, codebook.bits))]
        return sorted(members, key=lambda member: member[0])

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Bundle":
        where = str(path)
        graph, members = _read_members(path, where)
        layers = validate_graph(graph, where)
        coded = sorted(key for key in members if key.rsplit("/", 1)[-1] in _CODED_MEMBERS)
        if coded and graph["version"] == VERSION:
            raise BundleError(f"{where}: a version {VERSION} bundle cannot hold {coded[0]}.npy "
                              f"(codebook-coded weights need version {CODED_VERSION})")
        arrays, codebooks = _decode_coded_weights(layers, members, where)
        bundle = cls(graph, arrays, codebooks)
        validate(bundle, where)
        return bundle


def _read_members(path, where: str) -> tuple[object, dict[str, np.ndarray]]:
    """graph.json (parsed) and the ``.npy`` members by key (name without ``.npy``)."""
    try:
        zf = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise BundleError(f"{where}: bundle file not found") from None
    except (zipfile.BadZipFile, OSError) as e:
        raise BundleError(f"{where}: not a bundle (not a readable ZIP archive: {e})") from None
    with zf:
        names = set(zf.namelist())
        need("graph.json" in names, where, "graph.json is missing")
        try:
            graph = json.loads(zf.read("graph.json"))
        except _READ_ERRORS as e:
            raise BundleError(f"{where}: graph.json is unreadable ({e})") from None
        members = {}
        for member in sorted(names - {"graph.json"}):
            need(member.endswith(".npy"), where, f"unexpected member {member!r}")
            try:
                members[member[:-4]] = np.lib.format.read_array(io.BytesIO(zf.read(member)), allow_pickle=False)
            except _READ_ERRORS as e:
                raise BundleError(f"{where}: array {member[:-4]!r} is unreadable ({e})") from None
    return graph, members


def _decode_coded_weights(layers, members: dict, where: str) -> tuple[dict, dict]:
    """(arrays, codebooks): each weight stored as codebook + indices decoded
    and expanded into ``arrays``; other members are left as they are (the
    validation names any that no layer uses)."""
    arrays, codebooks = dict(members), {}
    for layer, cin in layers:
        at = f"{where}: layer {layer.name!r}"
        for key, (_, shape) in layer_arrays(layer, cin).items():
            if not is_weight(key):
                continue
            part = key[:-len("weight")]
            base = f"{layer.name}/{part}"
            values, packed = arrays.pop(base + "codebook", None), arrays.pop(base + "indices", None)
            if values is None and packed is None:
                continue
            need(base + "weight" not in arrays, at, f"has both {part}weight and {part}codebook/indices")
            need(values is not None, at, f"{part}indices without {part}codebook")
            need(packed is not None, at, f"{part}codebook without {part}indices")
            codebook = decode_codebook(values, packed, shape, at, part)
            codebooks[base + "weight"] = codebook
            arrays[base + "weight"] = codebook.weights()
    return arrays, codebooks


def is_bundle_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a file that says it is a bundle (a ZIP whose
    graph.json names this format), so a writer may replace it."""
    try:
        with zipfile.ZipFile(path) as zf:
            return json.loads(zf.read("graph.json")).get("format") == FORMAT
    except Exception:
        return False
