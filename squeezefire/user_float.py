"""The float model of a bundle made from the user's own network
(``python -m golden.quantize --model/--onnx``), for ``compare.py``'s float
column: the same import, folding and normalisation as the quantiser, run
in float (``golden.graph.forward``), from the files the bundle's
``source.user_model`` records -- checked by their SHA-256.
"""
from __future__ import annotations

from pathlib import Path

from golden.checksum import file_sha256
from golden.importers.normalize import Normalization
from golden.importers.ops import ImportError_
from golden.user_model import UserModel


class FloatGraph:
    """Callable like an ``nn.Module`` on float NCHW images in [0, 1]:
    the class scores of the folded float graph."""

    def __init__(self, graph: list[dict]):
        self.graph = graph

    def __call__(self, x):
        from golden.graph import forward
        return forward(self.graph, x)[self.graph[-1]["name"]]


def _check_sha(path: Path, recorded: str | None, what: str) -> None:
    actual = file_sha256(path)
    if recorded is not None and actual != recorded:
        raise ImportError_(f"{what} {path} (sha256 {actual[:16]}...) is not the one the bundle was made from "
                           f"(sha256 {recorded[:16]}...)")


def user_float_model(record: dict, shape, model: str | None, onnx: Path | None, checkpoint: Path | None):
    """(FloatGraph, None), or (None, notice) when the files are not at hand."""
    model = model or record.get("model")
    onnx = onnx or (Path(record["onnx"]) if "onnx" in record else None)
    if "checkpoint_sha256" in record and checkpoint is None:
        return None, "float columns skipped: pass the model's state_dict with --checkpoint"
    norm = Normalization(tuple(record["mean"]), tuple(record["std"])) if "mean" in record else None
    user = UserModel(model if "model" in record else None, onnx if "onnx" in record else None,
                     checkpoint if "checkpoint_sha256" in record else None, norm)
    try:
        user.check()
    except ImportError_ as e:
        return None, f"float columns skipped: {e}"
    if user.model is not None:
        _check_sha(Path(user.model.rpartition(":")[0]), record.get("model_sha256"), "--model file")
    if user.onnx is not None:
        _check_sha(user.onnx, record.get("onnx_sha256"), "--onnx file")
    if user.checkpoint is not None:
        _check_sha(user.checkpoint, record.get("checkpoint_sha256"), "--checkpoint")
    return FloatGraph(user.graph(tuple(shape))), None
