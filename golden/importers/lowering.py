"""Imported ``Op``s → the folded float graph of ``golden.graph`` (the
quantiser's input): BatchNorm folded, activations fused into what they
follow, Fire modules and bypasses recognised, a ``Linear`` after global
pooling turned into the logits conv before it (``docs/int8.md`` §5).

Whatever has no exact integer form on the hardware is refused in one line
naming the op (its module or node), its type and why.
"""
from __future__ import annotations

import os
from dataclasses import replace

import numpy as np

from golden.batchnorm import fold_batchnorm
from golden.importers.ops import ImportError_, Op
from golden.layers import POOL_KINDS
from golden.shapes import output_size


class _Graph:
    def __init__(self, ops: list[Op]):
        self.ops = {op.name: op for op in ops}
        self.order = [op.name for op in ops]
        self.act: dict[str, str] = {}         # conv / add -> its activation

    def readers(self, name: str) -> list[Op]:
        return [self.ops[n] for n in self.order if name in self.ops[n].inputs]

    def sole_reader(self, name: str) -> Op | None:
        r = self.readers(name)
        return r[0] if len(r) == 1 else None

    def remove(self, op: Op) -> None:
        """Drop a one-input ``op``: its readers read its input instead."""
        src = op.inputs[0]
        for other in self.ops.values():
            other.inputs = [src if i == op.name else i for i in other.inputs]
        self.order.remove(op.name)
        del self.ops[op.name]


def _fold_batchnorm(g: _Graph) -> None:
    for name in list(g.order):
        op = g.ops[name]
        if op.kind != "batchnorm":
            continue
        conv = g.ops[op.inputs[0]]
        if conv.kind != "conv" or g.sole_reader(conv.name) is not op:
            raise ImportError_(f"{op.origin}: a BatchNorm must follow a convolution that nothing else reads")
        bn = op.bn
        conv.weight, conv.bias = fold_batchnorm(conv.weight, conv.bias, bn["gamma"], bn["beta"], bn["mean"],
                                                bn["var"], bn["eps"])
        g.remove(op)


def _fuse_activations(g: _Graph) -> None:
    for name in list(g.order):
        op = g.ops[name]
        if op.kind not in ("relu", "relu6"):
            continue
        targets = _activation_targets(g, g.ops[op.inputs[0]], op)
        for t in targets:
            if t.name in g.act:
                raise ImportError_(f"{op.origin}: a second activation after {t.origin}")
            g.act[t.name] = op.kind
        g.remove(op)


def _activation_targets(g: _Graph, src: Op, act: Op) -> list[Op]:
    """The convs / sums an activation belongs to: what it follows, or the
    convs a concatenation or a max pool (which commute with ReLU) reads."""
    only_reader = g.sole_reader(src.name) is act
    if src.kind == "linear":
        raise ImportError_(f"{src.origin}: an activation after the classifier Linear; the network must end in "
                           "its logits")
    if src.kind in ("conv", "add") and only_reader:
        return [src]
    if src.kind == "maxpool" and only_reader and g.ops[src.inputs[0]].kind == "conv" \
            and g.sole_reader(src.inputs[0]) is src:
        return [g.ops[src.inputs[0]]]
    if src.kind == "cat" and only_reader and all(g.ops[i].kind == "conv" and g.sole_reader(i) is src
                                                 for i in src.inputs):
        return [g.ops[i] for i in src.inputs]
    raise ImportError_(f"{act.origin}: an activation must follow a convolution, a sum or a concatenation of "
                       f"convolutions that nothing else reads (it follows {src.origin})")


def lower(ops: list[Op]) -> list[dict]:
    """The folded float graph (``golden.graph`` layer dicts) of ``ops``."""
    g = _Graph([replace(op) for op in ops])
    _fold_batchnorm(g)
    _fuse_activations(g)
    _classifier(g)
    layers = _Emitter(g).run()
    if layers[-1]["kind"] != "gap":
        out = g.ops[g.ops["output"].inputs[0]]
        raise ImportError_(f"the network ends in {out.origin}; it must end in global average pooling, "
                           "optionally followed by one Linear classifier")
    return layers


def _classifier(g: _Graph) -> None:
    """The network must end in global average pooling, optionally followed
    by one Linear (the logits conv moves before the pool)."""
    out = g.ops[g.ops["output"].inputs[0]]
    if out.kind == "linear":
        gap = g.ops[out.inputs[0]]
        if gap.kind != "gap" or g.sole_reader(gap.name) is not out:
            raise ImportError_(f"{out.origin}: a Linear layer is supported only right after global average "
                               "pooling, as the classifier")
        if out.name in g.act:
            raise ImportError_(f"{out.origin}: an activation after the classifier Linear; the network must end "
                               "in its logits")
        h, w, _ = g.ops[gap.inputs[0]].shape
        cout = out.weight.shape[0]
        out.kind, out.weight, out.kernel = "conv", out.weight[:, :, None, None], 1
        out.inputs, out.shape = [gap.inputs[0]], (h, w, cout)
        g.act[out.name] = "none"
        gap.inputs, gap.shape = [out.name], (1, 1, cout)
        g.order.remove(gap.name)
        g.order.insert(g.order.index(out.name) + 1, gap.name)
        g.ops["output"].inputs = [gap.name]
    for op in g.ops.values():
        if op.kind == "linear" and op is not out:
            raise ImportError_(f"{op.origin}: a Linear layer is supported only as the classifier after global "
                               "average pooling")


def _conv_dict(op: Op, act: str) -> dict:
    bias = op.bias if op.bias is not None else np.zeros(op.weight.shape[0])
    return {"weight": op.weight, "bias": bias, "kernel": op.kernel, "stride": op.stride, "padding": op.padding,
            "act": act}


class _Emitter:
    """Layer dicts in topological order; Fire modules and bypass convs are
    recognised first, so their member convs are emitted as one layer."""

    def __init__(self, g: _Graph):
        self.g = g
        self.fires: dict[str, tuple[Op, Op, Op]] = {}     # cat name -> (squeeze, expand1x1, expand3x3)
        self.member: set[str] = set()                     # convs inside a fire or a complex bypass
        self.layer_of: dict[str, str] = {}                # op name -> the layer holding its output
        self.layers: list[dict] = []

    def act(self, op: Op) -> str:
        return self.g.act.get(op.name, "none")

    def run(self) -> list[dict]:
        for name in self.g.order:
            op = self.g.ops[name]
            if op.kind == "cat":
                self.match_fire(op)
        for name in self.g.order:
            op = self.g.ops[name]
            if op.name in self.member or op.kind == "output":
                continue
            getattr(self, "emit_" + op.kind)(op)
        return self.layers

    def match_fire(self, cat: Op) -> None:
        g = self.g
        branches = [g.ops[i] for i in cat.inputs]
        why = ("only a Fire module's concatenation is supported: a 1x1 and a 3x3 (padding 1) conv, each with a "
               "ReLU, both reading one ReLU'd 1x1 squeeze conv, the 1x1 branch first")
        if len(branches) != 2 or any(b.kind != "conv" or g.sole_reader(b.name) is not cat for b in branches):
            raise ImportError_(f"{cat.origin}: {why}")
        e1, e3 = branches
        squeeze = g.ops[e1.inputs[0]]
        ok = (squeeze.kind == "conv" and e3.inputs == e1.inputs and squeeze.kernel == 1 and squeeze.stride == 1
              and squeeze.padding == 0 and (e1.kernel, e1.stride, e1.padding) == (1, 1, 0)
              and (e3.kernel, e3.stride, e3.padding) == (3, 1, 1) and self.act(squeeze) in ("relu", "relu6")
              and self.act(e1) == self.act(e3) != "none" and {r.name for r in g.readers(squeeze.name)} ==
              {e1.name, e3.name})
        if not ok:
            if (e1.kernel, e3.kernel) == (3, 1):
                why = "the 3x3 branch comes first; concatenate the 1x1 branch first"
            raise ImportError_(f"{cat.origin}: {why}")
        self.fires[cat.name] = (squeeze, e1, e3)
        self.member |= {squeeze.name, e1.name, e3.name}

    def add_layer(self, op: Op, layer: dict) -> None:
        layer.setdefault("name", op.name)
        layer.setdefault("shape", list(op.shape))
        self.layer_of[op.name] = layer["name"]
        self.layers.append(layer)

    def src(self, op: Op, i: int = 0) -> str:
        return self.layer_of[op.inputs[i]]

    def emit_input(self, op: Op) -> None:
        self.add_layer(op, {"kind": "input", "inputs": []})

    def emit_conv(self, op: Op) -> None:
        act = self.act(op)
        readers = self.g.readers(op.name)
        if act == "none" and [r.kind for r in readers] == ["add"]:
            return          # a complex bypass's conv: the add takes it (or refuses the sum)
        if act == "none" and not (len(readers) == 1 and readers[0].kind == "gap"):
            raise ImportError_(f"{op.origin}: no ReLU after it; only the classifier (read by the global pooling) "
                               "may end without one")
        self.add_layer(op, {"kind": "conv", "inputs": [self.src(op)], **_conv_dict(op, act)})

    def emit_cat(self, op: Op) -> None:
        squeeze, e1, e3 = self.fires[op.name]
        name = os.path.commonprefix([squeeze.name, e1.name, e3.name]).rstrip("_") or op.name
        if name in self.layer_of.values() or name in self.g.ops and name != op.name:
            name = op.name
        self.add_layer(op, {"name": name, "kind": "fire", "inputs": [self.src(squeeze)],
                            "cin": self.g.ops[squeeze.inputs[0]].shape[2], "s1x1": squeeze.weight.shape[0],
                            "e1x1": e1.weight.shape[0], "e3x3": e3.weight.shape[0],
                            "squeeze": _conv_dict(squeeze, self.act(squeeze)),
                            "expand1x1": _conv_dict(e1, self.act(e1)), "expand3x3": _conv_dict(e3, self.act(e3)),
                            "act": self.act(e1)})

    def emit_maxpool(self, op: Op) -> None:
        h, w, _ = self.g.ops[op.inputs[0]].shape
        for k, s, ceil in POOL_KINDS:
            if (op.kernel, op.stride) == (k, s) and all(
                    output_size(n, k, s, 0, ceil) == output_size(n, k, s, 0, op.ceil) for n in (h, w)):
                self.add_layer(op, {"kind": "maxpool", "inputs": [self.src(op)], "kernel": k, "stride": s,
                                    "ceil": ceil})
                return
        mode = "ceil" if op.ceil else "floor"
        raise ImportError_(f"{op.origin}: a {op.kernel}x{op.kernel}/{op.stride} {mode}-mode max pool on a {h}x{w} "
                           "map; only 2x2/2 and 3x3/2 pools are supported (3x3/2 in floor mode only where it "
                           "equals ceil mode)")

    def emit_add(self, op: Op) -> None:
        act = self.act(op)
        if act == "none":
            raise ImportError_(f"{op.origin}: a sum without a ReLU after it is not supported")
        why = ("only a Fire module's output plus its input (simple bypass) or plus a 1x1 conv of its input "
               "(complex bypass), then a ReLU, is supported")
        x, y = (self.g.ops[i] for i in op.inputs)
        for fire, side in ((x, y), (y, x)):
            layer = self.bypass(op, fire, side)
            if layer is not None:
                self.add_layer(op, layer | {"act": act})
                return
        raise ImportError_(f"{op.origin}: {why}")

    def bypass(self, op: Op, fire: Op, side: Op) -> dict | None:
        """The add layer if ``fire`` is a Fire and ``side`` its bypass."""
        if fire.name not in self.fires:
            return None
        fire_input = self.fires[fire.name][0].inputs[0]
        inputs = [self.layer_of[fire.name], self.layer_of[fire_input]]
        if side.name == fire_input:
            return {"kind": "add", "inputs": inputs, "bypass": "simple"}
        if side.kind == "conv" and side.inputs == [fire_input] and side.kernel == 1 and self.act(side) == "none" \
                and self.g.sole_reader(side.name) is op:
            self.member.add(side.name)
            bias = side.bias if side.bias is not None else np.zeros(side.weight.shape[0])
            return {"kind": "add", "inputs": inputs, "bypass": "complex", "weight": side.weight, "bias": bias}
        return None

    def emit_gap(self, op: Op) -> None:
        self.add_layer(op, {"kind": "gap", "inputs": [self.src(op)]})

    def emit_linear(self, op: Op) -> None:      # _classifier has moved the only one allowed
        raise ImportError_(f"{op.origin}: a Linear layer is supported only as the classifier")
