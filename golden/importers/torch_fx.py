"""A user's ``nn.Module`` as ``Op``s, traced with ``torch.fx``.

``symbolic_trace`` records the module calls and functions ``forward``
runs; ``_Shapes`` (a ``torch.fx.Interpreter``) runs it once on a zero image
to learn every output shape -- not torch's ``ShapeProp``, which prints a
traceback of its own before raising.  The user's code runs inside
``golden.importers.guard.users_code``: whatever it raises is one line.  Each call becomes one ``Op`` (``golden.importers.ops``) or is
refused in one line naming the module or function, its type and why.
Non-tensor values (``x.size(0)``, ``x.shape``) are skipped: they only feed
a reshape, which is checked on its tensor input.
"""
from __future__ import annotations

import operator

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn

from golden.importers.guard import users_code
from golden.importers.ops import ImportError_, Op, layer_name, square

_IDENTITY_MODULES = (nn.Dropout, nn.Dropout2d, nn.Dropout1d, nn.AlphaDropout, nn.Identity, nn.Flatten)
_CAT = (torch.cat, torch.concat, torch.concatenate)
_ADD = (operator.add, torch.add, operator.iadd)
_RELU = (torch.relu, F.relu, torch.relu_)
_RESHAPE_METHODS = ("flatten", "view", "reshape", "squeeze", "contiguous")
_RESHAPE_FUNCTIONS = (torch.flatten, torch.reshape, torch.squeeze)


def _f64(t: torch.Tensor | None) -> np.ndarray | None:
    return None if t is None else t.detach().cpu().numpy().astype(np.float64)


class _Shapes(fx.Interpreter):
    """Runs the traced module, keeping each node's output shape in ``node.meta["shape"]``."""

    def run_node(self, n: fx.Node):
        result = super().run_node(n)
        if isinstance(result, torch.Tensor):
            n.meta["shape"] = tuple(result.shape)
        return result


def _shape(node: fx.Node) -> tuple[int, int, int] | None:
    s = node.meta.get("shape")
    if s is None:
        return None
    if len(s) == 4:
        return (s[2], s[3], s[1])
    if len(s) == 2:
        return (1, 1, s[1])
    return None


class _Tracer:
    def __init__(self, model: nn.Module, input_shape: tuple[int, int, int]):
        name = type(model).__name__
        with users_code(f"{name}.eval()"):
            model = model.eval()
        with users_code(f"torch.fx cannot trace {name}"):      # torch.fx raises many types
            self.gm = fx.symbolic_trace(model)
        inputs = [n.name for n in self.gm.graph.nodes if n.op == "placeholder"]
        if len(inputs) != 1:
            raise ImportError_(f"{name}.forward takes {len(inputs)} inputs ({', '.join(inputs)}); "
                               "the network must take one image")
        h, w, c = input_shape
        with users_code(f"{name} does not run on a {h}x{w}x{c} image"), torch.no_grad():
            dtype = next((p.dtype for p in model.parameters()), torch.float32)
            _Shapes(self.gm).run(torch.zeros(1, c, h, w, dtype=dtype))
        self.modules = dict(self.gm.named_modules())
        self.taken: set[str] = set()
        self.names: dict[str, str] = {}      # fx node name -> op name
        self.ops: list[Op] = []

    def run(self) -> list[Op]:
        for node in self.gm.graph.nodes:
            self.visit(node)
        if not any(op.kind == "input" for op in self.ops):
            raise ImportError_("the network has no tensor input")
        return self.ops

    def emit(self, node: fx.Node, raw_name: str, kind: str, inputs, origin: str, **kw) -> None:
        shape = _shape(node)
        if shape is None:
            raise ImportError_(f"{origin}: its output is not an image or a vector")
        op = Op(layer_name(raw_name, self.taken), kind, [self.names[i.name] for i in inputs], shape, origin, **kw)
        self.names[node.name] = op.name
        self.ops.append(op)

    def tensor_args(self, node: fx.Node) -> list[fx.Node]:
        return [a for a in node.args if isinstance(a, fx.Node) and a.name in self.names]

    def visit(self, node: fx.Node) -> None:
        if node.op == "placeholder":
            if any(op.kind == "input" for op in self.ops):
                raise ImportError_(f"input {node.name!r}: the network must take one image")
            self.emit(node, "input", "input", [], f"input {node.name!r}")
        elif node.op == "output":
            out = node.args[0]
            if not isinstance(out, fx.Node) or out.name not in self.names:
                raise ImportError_("the network must return one tensor (the class scores)")
            self.ops.append(Op("output", "output", [self.names[out.name]], self.ops[-1].shape, "output"))
        elif node.op == "call_module":
            self.module(node, self.modules[node.target])
        elif node.op in ("call_function", "call_method"):
            if _shape(node) is None:          # x.size(0), x.shape: not a tensor
                return
            self.function(node)
        elif node.op == "get_attr":
            raise ImportError_(f"tensor attribute {node.target!r} used in forward: constants are not supported")

    def module(self, node: fx.Node, mod: nn.Module) -> None:
        origin = f"module {node.target!r} ({type(mod).__name__})"
        args = self.tensor_args(node)
        if isinstance(mod, nn.Conv2d):
            self.emit(node, node.target, "conv", args, origin, **_conv_params(mod, origin))
        elif isinstance(mod, nn.BatchNorm2d):
            bn = {"gamma": _f64(mod.weight) if mod.weight is not None else np.ones(mod.num_features),
                  "beta": _f64(mod.bias) if mod.bias is not None else np.zeros(mod.num_features),
                  "mean": _f64(mod.running_mean), "var": _f64(mod.running_var), "eps": np.float64(mod.eps)}
            self.emit(node, node.target, "batchnorm", args, origin, bn=bn)
        elif isinstance(mod, (nn.ReLU, nn.ReLU6)):
            self.emit(node, node.target, "relu6" if isinstance(mod, nn.ReLU6) else "relu", args, origin)
        elif isinstance(mod, nn.MaxPool2d):
            self.maxpool(node, mod.kernel_size, mod.stride, mod.padding, mod.dilation, mod.ceil_mode, origin)
        elif isinstance(mod, (nn.AdaptiveAvgPool2d, nn.AvgPool2d)):
            self.global_pool(node, args, origin)
        elif isinstance(mod, nn.Linear):
            self.emit(node, node.target, "linear", args, origin, weight=_f64(mod.weight), bias=_f64(mod.bias))
        elif isinstance(mod, _IDENTITY_MODULES):
            self.identity(node, args, origin)
        else:
            raise ImportError_(f"{origin}: not supported (supported: Conv2d, BatchNorm2d, ReLU, ReLU6, MaxPool2d, "
                               "AvgPool2d/AdaptiveAvgPool2d to 1x1, Linear, Flatten, Dropout, Identity)")

    def function(self, node: fx.Node) -> None:
        target = node.target
        what = target if isinstance(target, str) else getattr(target, "__name__", str(target))
        origin = f"{'method' if node.op == 'call_method' else 'function'} {what!r} (node {node.name!r})"
        args = self.tensor_args(node)
        if target in _CAT:
            tensors = node.args[0]
            dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
            if dim not in (1, -3):
                raise ImportError_(f"{origin}: concatenation along dim {dim}; only channels (dim 1) are supported")
            self.emit(node, node.name, "cat", [t for t in tensors], origin)
        elif target in _ADD or (node.op == "call_method" and target in ("add", "add_", "__add__")):
            if len(args) != 2:
                raise ImportError_(f"{origin}: only the sum of two feature maps is supported (no constants)")
            self.emit(node, node.name, "add", args, origin)
        elif target in _RELU or target == "relu" or target == "relu_":
            self.emit(node, node.name, "relu", args, origin)
        elif target is F.relu6:
            self.emit(node, node.name, "relu6", args, origin)
        elif target is F.max_pool2d:
            a = list(node.args[1:]) + [None] * 5
            kw = node.kwargs
            k = kw.get("kernel_size", a[0])
            self.maxpool(node, k, kw.get("stride", a[1]) or k, kw.get("padding", a[2] or 0),
                         kw.get("dilation", a[3] or 1), kw.get("ceil_mode", a[4] or False), origin)
        elif target in (F.adaptive_avg_pool2d, F.avg_pool2d) or target in ("mean",) or target is torch.mean:
            self.global_pool(node, args, origin)
        elif target in (F.dropout, F.dropout2d) or target in _RESHAPE_FUNCTIONS or target in _RESHAPE_METHODS:
            self.identity(node, args, origin)
        else:
            raise ImportError_(f"{origin}: not supported")

    def maxpool(self, node, kernel, stride, padding, dilation, ceil, origin) -> None:
        k = square(kernel, "kernel", origin)
        s = square(stride if stride is not None else kernel, "stride", origin)
        if square(padding, "padding", origin) != 0 or square(dilation, "dilation", origin) != 1:
            raise ImportError_(f"{origin}: padded or dilated max pools are not supported")
        self.emit(node, node.target if node.op == "call_module" else node.name, "maxpool",
                  self.tensor_args(node), origin, kernel=k, stride=s, ceil=bool(ceil))

    def global_pool(self, node, args, origin) -> None:
        shape = _shape(node)
        if shape is None or shape[:2] != (1, 1):
            raise ImportError_(f"{origin}: average pooling to {shape[:2] if shape else '?'}; only global "
                               "average pooling (to 1x1) is supported")
        self.emit(node, node.target if node.op == "call_module" else node.name, "gap", args, origin)

    def identity(self, node, args, origin) -> None:
        src = _shape(args[0]) if args else None
        out = _shape(node)
        if src != out and not (src and out and src[:2] == (1, 1) and out[:2] == (1, 1)):
            raise ImportError_(f"{origin}: reshapes a {src} map to {out}; a Linear layer is supported only "
                               "after global average pooling")
        self.names[node.name] = self.names[args[0].name]


def _conv_params(mod: nn.Conv2d, origin: str) -> dict:
    if mod.groups != 1 or square(mod.dilation, "dilation", origin) != 1:
        raise ImportError_(f"{origin}: grouped or dilated convolutions are not supported")
    if mod.padding_mode != "zeros":
        raise ImportError_(f"{origin}: padding_mode {mod.padding_mode!r}; only zero padding is supported")
    k = square(mod.kernel_size, "kernel", origin)
    padding = mod.padding
    if padding == "same":
        if k % 2 == 0:
            raise ImportError_(f"{origin}: padding='same' with an even kernel is not supported")
        padding = k // 2
    elif padding == "valid":
        padding = 0
    return {"weight": _f64(mod.weight), "bias": _f64(mod.bias), "kernel": k,
            "stride": square(mod.stride, "stride", origin), "padding": square(padding, "padding", origin)}


def input_channels(model: nn.Module) -> tuple[int, str] | None:
    """(channels, "'name' (Conv2d)") of the first layer that reads the
    image, when it is a module that says how many it takes; else None.
    Cheap (a trace, no run): asked before any image is resized."""
    with users_code(f"torch.fx cannot trace {type(model).__name__}"):
        gm = fx.symbolic_trace(model)
    modules = dict(gm.named_modules())
    for node in gm.graph.nodes:
        if node.op == "call_module" and any(a.op == "placeholder" for a in node.all_input_nodes):
            mod = modules[node.target]
            channels = getattr(mod, "in_channels", None) or getattr(mod, "num_features", None)
            return (channels, f"{node.target!r} ({type(mod).__name__})") if channels else None
    return None


def import_module(model: nn.Module, input_shape: tuple[int, int, int]) -> list[Op]:
    """``model`` on images of ``input_shape`` (H, W, C) as ``Op``s."""
    return _Tracer(model, input_shape).run()
