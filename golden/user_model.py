"""A user's network, from a Python file or an ONNX file, as the folded
float graph the quantiser takes.

    --model my_net.py:build   the file is run as a module and ``build()``
                              returns the ``nn.Module``; ``--checkpoint``
                              (a state_dict) is loaded into it
    --onnx my_net.onnx        an ONNX export (``golden.importers.onnx_file``)

``UserModel`` records where it came from (file SHA-256s, the
normalisation), which ``golden.quantize`` writes into the bundle's
``source`` so ``compare.py`` can rebuild the same float model.
"""
from __future__ import annotations

import importlib.util
import pickle
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from golden.checksum import file_sha256
from golden.importers.guard import users_code
from golden.importers.lowering import lower
from golden.importers.normalize import Normalization, fold_normalization
from golden.importers.ops import ImportError_


@dataclass(frozen=True)
class UserModel:
    """``model`` ("FILE.py:FUNCTION") or ``onnx`` (a path), with an
    optional ``checkpoint`` (``--model`` only) and ``normalization``."""
    model: str | None = None
    onnx: Path | None = None
    checkpoint: Path | None = None
    normalization: Normalization | None = None

    def check(self) -> None:
        """Every file exists and the options go together (before any work)."""
        if (self.model is None) == (self.onnx is None):
            raise ImportError_("give exactly one of --model FILE.py:FUNCTION and --onnx FILE.onnx")
        if self.onnx is not None:
            if self.checkpoint is not None:
                raise ImportError_("--checkpoint goes with --model; an ONNX file holds its weights")
            if not Path(self.onnx).is_file():
                raise ImportError_(f"--onnx {self.onnx}: file not found")
            return
        file, _, func = self.model.rpartition(":")
        if not file or not func.isidentifier():
            raise ImportError_(f"--model {self.model!r}: expected FILE.py:FUNCTION, e.g. my_net.py:build")
        if not Path(file).is_file():
            raise ImportError_(f"--model {self.model!r}: file {file} not found")
        if self.checkpoint is not None and not Path(self.checkpoint).is_file():
            raise ImportError_(f"--checkpoint {self.checkpoint}: file not found")

    def record(self) -> dict:
        """The bundle's ``source.user_model``."""
        rec: dict = {}
        if self.model is not None:
            rec["model"] = self.model
            rec["model_sha256"] = file_sha256(Path(self.model.rpartition(":")[0]))
        if self.onnx is not None:
            rec["onnx"] = str(self.onnx)
            rec["onnx_sha256"] = file_sha256(Path(self.onnx))
        if self.checkpoint is not None:
            rec["checkpoint_sha256"] = file_sha256(Path(self.checkpoint))
        if self.normalization is not None:
            rec["mean"], rec["std"] = list(self.normalization.mean), list(self.normalization.std)
        return rec

    def input_shape(self) -> tuple[int, int, int] | None:
        """The input (H, W, C) an ONNX file states; None for a Python model."""
        if self.onnx is None:
            return None
        from golden.importers.onnx_file import import_onnx
        return import_onnx(self.onnx)[0].shape

    def graph(self, input_shape: tuple[int, int, int]) -> list[dict]:
        """The folded float graph (``golden.graph`` layer dicts)."""
        if self.onnx is not None:
            from golden.importers.onnx_file import import_onnx
            ops = import_onnx(self.onnx)
            if tuple(ops[0].shape) != tuple(input_shape):
                raise ImportError_(f"--onnx {self.onnx} takes {list(ops[0].shape)} (H, W, C) images, "
                                   f"not {list(input_shape)}")
        else:
            from golden.importers.torch_fx import import_module
            ops = import_module(self.module, input_shape)
        graph = lower(ops)
        if self.normalization is not None:
            graph = fold_normalization(graph, self.normalization)
        return graph

    def input_channels(self) -> tuple[int, str] | None:
        """(channels, first layer) the network reads, when it says (see
        ``golden.importers.torch_fx.input_channels``); None for ONNX, whose
        file states its whole input shape."""
        if self.onnx is not None:
            return None
        from golden.importers.torch_fx import input_channels
        return input_channels(self.module)

    @cached_property
    def module(self):
        """``build()``, run once."""
        return self.build()

    def build(self):
        """The ``nn.Module``, with the checkpoint's weights (eval mode).
        Anything the user's file does wrong -- an exception, ``sys.exit``,
        a function that is not one or returns something else than an
        ``nn.Module`` -- is one line; Ctrl-C stays Ctrl-C."""
        from torch import nn
        file, _, func = self.model.rpartition(":")
        where = f"--model {self.model!r}"
        spec = importlib.util.spec_from_file_location(f"user_model_{Path(file).stem}", file)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        with users_code(f"{where}: running {file}"):
            spec.loader.exec_module(module)
        build = getattr(module, func, None)
        if not callable(build):
            what = "not defined" if build is None else f"{type(build).__name__}, not a function"
            raise ImportError_(f"{where}: {func} is {what} in {file}")
        with users_code(f"{where}: {func}()"):
            model = build()
        if not isinstance(model, nn.Module):
            raise ImportError_(f"{where}: {func}() returned {type(model).__name__}, not an nn.Module")
        if self.checkpoint is not None:
            _load_state(model, Path(self.checkpoint))
        return model.eval()


def _load_state(model, path: Path) -> None:
    import torch
    try:
        state = torch.load(path, weights_only=True)
    except pickle.UnpicklingError:
        raise ImportError_(f"--checkpoint {path}: holds objects torch.load(weights_only=True) refuses; save a "
                           "plain state_dict (torch.save(model.state_dict(), path))") from None
    except Exception as e:
        raise ImportError_(f"--checkpoint {path}: not a readable PyTorch file ({type(e).__name__})") from None
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    try:
        model.load_state_dict(state)
    except Exception as e:
        raise ImportError_(f"--checkpoint {path} does not fit the model: {str(e).splitlines()[0]}") from None
