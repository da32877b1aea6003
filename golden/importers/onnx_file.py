"""An ``.onnx`` file as ``Op``s (the ``onnx`` package; shapes from ONNX
shape inference), so networks from Keras, TensorFlow and other frameworks
come in through their ONNX export.

Supported nodes: Conv, BatchNormalization, Relu, Clip(0, 6), MaxPool,
GlobalAveragePool / AveragePool / ReduceMean to 1x1, Concat on channels,
Add of two maps, Gemm / MatMul (+ Add of a constant bias), Flatten /
Reshape / Squeeze after pooling, Dropout, Identity.  Anything else is
refused in one line naming the node, its op type and why.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from golden.importers.ops import ImportError_, Op, layer_name, square

_IDENTITY = ("Dropout", "Identity", "Flatten", "Reshape", "Squeeze")
_GLOBAL_POOLS = ("GlobalAveragePool", "AveragePool", "ReduceMean")


def _attrs(node) -> dict:
    from onnx import helper
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


class _Reader:
    def __init__(self, path: Path):
        import onnx
        from onnx import numpy_helper, shape_inference
        try:
            model = onnx.load(str(path))
            model = shape_inference.infer_shapes(model)
        except Exception as e:     # protobuf and onnx raise several types for a bad file
            raise ImportError_(f"{path}: not a readable ONNX model ({str(e).splitlines()[0]})") from None
        if not model.graph.node:        # protobuf reads most bytes as an empty model
            raise ImportError_(f"{path}: not a readable ONNX model (no graph nodes)")
        self.graph = model.graph
        self.consts = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in self.graph.initializer}
        self.shapes = {}
        for vi in list(self.graph.value_info) + list(self.graph.input) + list(self.graph.output):
            dims = [d.dim_value if d.HasField("dim_value") else None for d in vi.type.tensor_type.shape.dim]
            self.shapes[vi.name] = dims
        self.taken: set[str] = set()
        self.names: dict[str, str] = {}       # tensor name -> op name
        self.ops: list[Op] = []

    def shape(self, tensor: str, origin: str) -> tuple[int, int, int]:
        dims = self.shapes.get(tensor)
        if dims and len(dims) == 4 and None not in dims[1:]:
            return (dims[2], dims[3], dims[1])
        if dims and len(dims) == 2 and dims[1] is not None:
            return (1, 1, dims[1])
        raise ImportError_(f"{origin}: output {tensor!r} has no known image or vector shape ({dims})")

    def emit(self, node, kind: str, inputs: list[str], origin: str, **kw) -> Op:
        op = Op(layer_name(node.name or node.output[0], self.taken), kind, [self.names[i] for i in inputs],
                self.shape(node.output[0], origin), origin, **kw)
        self.names[node.output[0]] = op.name
        self.ops.append(op)
        return op

    def run(self) -> list[Op]:
        inputs = [i for i in self.graph.input if i.name not in self.consts]
        if len(inputs) != 1:
            raise ImportError_(f"the ONNX graph has {len(inputs)} inputs; the network must take one image")
        name = inputs[0].name
        self.ops.append(Op(layer_name("input", self.taken), "input", [], self.shape(name, f"input {name!r}"),
                           f"input {name!r}"))
        self.names[name] = self.ops[-1].name
        for node in self.graph.node:
            self.visit(node)
        outputs = list(self.graph.output)
        if len(outputs) != 1 or outputs[0].name not in self.names:
            raise ImportError_("the ONNX graph must have one output (the class scores)")
        self.ops.append(Op("output", "output", [self.names[outputs[0].name]], self.ops[-1].shape, "output"))
        return self.ops

    def maps(self, node) -> list[str]:
        """The node's inputs that are feature maps (not constants)."""
        return [i for i in node.input if i and i not in self.consts]

    def visit(self, node) -> None:
        origin = f"node {node.name or node.output[0]!r} ({node.op_type})"
        t, a = node.op_type, _attrs(node)
        if t == "Constant":
            from onnx import numpy_helper
            self.consts[node.output[0]] = numpy_helper.to_array(a["value"]).astype(np.float64)
            return
        handler = getattr(self, "op_" + t, None)
        if handler is not None:
            handler(node, a, origin)
        elif t in _IDENTITY:
            self.identity(node, origin)
        elif t in _GLOBAL_POOLS:
            if self.shape(node.output[0], origin)[:2] != (1, 1):
                raise ImportError_(f"{origin}: average pooling that does not reach 1x1; only global average "
                                   "pooling is supported")
            self.emit(node, "gap", self.maps(node)[:1], origin)
        else:
            raise ImportError_(f"{origin}: not supported")

    def identity(self, node, origin) -> None:
        src = self.maps(node)[0]
        before, after = self.shape(src, origin), self.shape(node.output[0], origin)
        if before != after and not (before[:2] == (1, 1) and after[:2] == (1, 1)):
            raise ImportError_(f"{origin}: reshapes a {before} map to {after}; a Linear layer is supported only "
                               "after global average pooling")
        self.names[node.output[0]] = self.names[src]

    def op_Conv(self, node, a, origin) -> None:
        if a.get("group", 1) != 1 or set(a.get("dilations", [1])) != {1}:
            raise ImportError_(f"{origin}: grouped or dilated convolutions are not supported")
        if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise ImportError_(f"{origin}: auto_pad is not supported; export with explicit pads")
        w = self.consts.get(node.input[1])
        if w is None:
            raise ImportError_(f"{origin}: the weights must be a constant")
        bias = self.consts.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        self.emit(node, "conv", self.maps(node)[:1], origin, weight=w, bias=bias,
                  kernel=square(list(w.shape[2:]), "kernel", origin), stride=square(a.get("strides", [1, 1]), "stride", origin),
                  padding=square(a.get("pads", [0, 0, 0, 0]), "padding", origin))

    def op_BatchNormalization(self, node, a, origin) -> None:
        gamma, beta, mean, var = (self.consts[i] for i in node.input[1:5])
        self.emit(node, "batchnorm", self.maps(node)[:1], origin,
                  bn={"gamma": gamma, "beta": beta, "mean": mean, "var": var, "eps": np.float64(a.get("epsilon", 1e-5))})

    def op_Relu(self, node, a, origin) -> None:
        self.emit(node, "relu", self.maps(node), origin)

    def op_Clip(self, node, a, origin) -> None:
        lo = a.get("min", self.consts.get(node.input[1]) if len(node.input) > 1 and node.input[1] else None)
        hi = a.get("max", self.consts.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None)
        if lo is None or hi is None or float(lo) != 0.0 or float(hi) not in (6.0,):
            raise ImportError_(f"{origin}: only Clip(0, 6) (ReLU6) is supported")
        self.emit(node, "relu6", self.maps(node)[:1], origin)

    def op_MaxPool(self, node, a, origin) -> None:
        if set(a.get("pads", [0])) != {0} or set(a.get("dilations", [1])) != {1}:
            raise ImportError_(f"{origin}: padded or dilated max pools are not supported")
        k = square(a["kernel_shape"], "kernel", origin)
        self.emit(node, "maxpool", self.maps(node)[:1], origin, kernel=k,
                  stride=square(a.get("strides", [k, k]), "stride", origin), ceil=bool(a.get("ceil_mode", 0)))

    def op_Concat(self, node, a, origin) -> None:
        if a.get("axis") not in (1, -3):
            raise ImportError_(f"{origin}: concatenation along axis {a.get('axis')}; only channels (axis 1)")
        self.emit(node, "cat", self.maps(node), origin)

    def op_Add(self, node, a, origin) -> None:
        maps = self.maps(node)
        if len(maps) == 1 and self.ops[-1].kind == "linear" and self.names[maps[0]] == self.ops[-1].name:
            const = next(self.consts[i] for i in node.input if i in self.consts)
            lin = self.ops[-1]
            lin.bias = (lin.bias if lin.bias is not None else 0) + np.broadcast_to(const, lin.weight.shape[:1])
            self.names[node.output[0]] = lin.name
            return
        if len(maps) != 2:
            raise ImportError_(f"{origin}: only the sum of two feature maps is supported (no constants)")
        self.emit(node, "add", maps, origin)

    def op_Gemm(self, node, a, origin) -> None:
        if a.get("transA", 0):
            raise ImportError_(f"{origin}: transA is not supported")
        w = self.consts[node.input[1]] * a.get("alpha", 1.0)
        w = w if a.get("transB", 0) else w.T
        bias = self.consts[node.input[2]] * a.get("beta", 1.0) if len(node.input) > 2 and node.input[2] else None
        self.emit(node, "linear", self.maps(node)[:1], origin, weight=w, bias=bias)

    def op_MatMul(self, node, a, origin) -> None:
        w = self.consts.get(node.input[1])
        if w is None:
            raise ImportError_(f"{origin}: only a product with constant weights is supported")
        self.emit(node, "linear", self.maps(node)[:1], origin, weight=w.T, bias=None)


def import_onnx(path: str | Path) -> list[Op]:
    """The network in the ONNX file ``path`` as ``Op``s."""
    path = Path(path)
    if not path.is_file():
        raise ImportError_(f"{path}: ONNX file not found")
    return _Reader(path).run()
