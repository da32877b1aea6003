"""The importers (torch.fx and ONNX) → folded float graph → bundle: the
folded graph computes what the user's module computes, both importers give
the same bundle, and every unsupported layer is refused in one line naming
it (issue 14)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from golden import graph as fgraph, intref
from golden.importers.lowering import lower
from golden.importers.normalize import Normalization, fold_normalization
from golden.importers.ops import ImportError_
from golden.importers.torch_fx import import_module
from golden.quantize import quantize


class Fire(nn.Module):
    def __init__(self, cin, sq, e, act=nn.ReLU, swap=False):
        super().__init__()
        self.squeeze = nn.Sequential(nn.Conv2d(cin, sq, 1), act())
        self.e1 = nn.Sequential(nn.Conv2d(sq, e, 1), nn.BatchNorm2d(e), act())
        self.e3 = nn.Sequential(nn.Conv2d(sq, e, 3, padding=1), act())
        self.swap = swap

    def forward(self, x):
        x = self.squeeze(x)
        parts = [self.e1(x), self.e3(x)]
        return torch.cat(parts[::-1] if self.swap else parts, 1)


class Bypass(nn.Module):
    def __init__(self, c, complex_=False):
        super().__init__()
        self.fire = Fire(c, c // 2, c // 2)
        self.side = nn.Conv2d(c, c, 1) if complex_ else None

    def forward(self, x):
        side = self.side(x) if self.side is not None else x
        return torch.relu(self.fire(x) + side)


def _randomise_bn(model):
    gen = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
    return model.eval()


def user_net(cin=1, act=nn.ReLU, classes=10):
    torch.manual_seed(0)
    return _randomise_bn(nn.Sequential(
        nn.Conv2d(cin, 8, 3, padding=1), nn.BatchNorm2d(8), act(), nn.MaxPool2d(2),
        Fire(8, 4, 8, act), Bypass(16), nn.MaxPool2d(3, 2, ceil_mode=True), Bypass(16, complex_=True),
        nn.Dropout(0.5), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, classes)))


@pytest.mark.parametrize("act", [nn.ReLU, nn.ReLU6])
def test_folded_graph_computes_the_module(act):
    model = user_net(act=act).double()
    g = lower(import_module(model, (12, 12, 1)))
    assert [layer["kind"] for layer in g] == ["input", "conv", "maxpool", "fire", "fire", "add", "maxpool", "fire",
                                              "add", "conv", "gap"]
    x = torch.rand(4, 1, 12, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    out = fgraph.forward(g, x)[g[-1]["name"]]
    assert torch.allclose(out, model(x), rtol=0, atol=1e-12)


def test_onnx_import_gives_the_same_bundle(tmp_path):
    from golden.importers.onnx_file import import_onnx
    model = user_net()
    path = tmp_path / "net.onnx"
    torch.onnx.export(model, (torch.zeros(1, 1, 12, 12),), str(path), dynamo=False)
    images = np.random.default_rng(0).integers(0, 256, (8, 12, 12, 1), dtype=np.uint8)
    a = quantize(lower(import_module(model, (12, 12, 1))), images, "net")
    b = quantize(lower(import_onnx(path)), images, "net")
    # The exporter folds BatchNorm in float32, the importer in float64: the
    # same layers and nearly the same constants.
    assert [layer.kind for layer in a.layers] == [layer.kind for layer in b.layers]
    for la, lb in zip(a.layers, b.layers):
        for key, value in a.arrays.items():
            if key.startswith(la.name + "/"):
                value, other = value.astype(np.int64), b.arrays[lb.name + key[len(la.name):]].astype(np.int64)
                assert np.abs(value - other).max() <= max(1, np.abs(value).max() // 1000), key


def test_normalisation_folds_exactly_where_mean_is_a_pixel_value():
    """With 255·mean an integer, the folded graph on raw pixels equals the
    module on Normalize()d pixels, borders included."""
    model = user_net(cin=3).double()
    mean, std = (100 / 255, 50 / 255, 200 / 255), (0.25, 0.5, 0.2)
    g = fold_normalization(lower(import_module(model, (10, 10, 3))), Normalization(mean, std))
    assert g[0]["pad"] == [100, 50, 200]
    x = torch.rand(3, 3, 10, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    norm = (x - torch.tensor(mean, dtype=torch.float64)[:, None, None]) / torch.tensor(std, dtype=torch.float64)[:, None, None]
    out = fgraph.forward(g, x)[g[-1]["name"]]
    assert torch.allclose(out, model(norm), rtol=0, atol=1e-10)


def _refused(model, shape=(8, 8, 1)):
    with pytest.raises(ImportError_) as e:
        lower(import_module(model, shape))
    assert "\n" not in str(e.value)
    return str(e.value)


def _conv(cin=1, cout=4):
    return [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU()]


class CatWrongWay(nn.Module):
    def __init__(self):
        super().__init__()
        self.fire = Fire(4, 2, 4, swap=True)

    def forward(self, x):
        return self.fire(x)


class Flat(nn.Module):
    def forward(self, x):
        return torch.sigmoid(x)


@pytest.mark.parametrize("layers, expected", [
    (_conv() + [nn.MaxPool2d(5)], r"module '2' \(MaxPool2d\): a 5x5/5 floor-mode max pool.*only 2x2/2 and 3x3/2"),
    ([nn.Conv2d(1, 4, 3, groups=1, dilation=2), nn.ReLU()], r"module '0' \(Conv2d\): grouped or dilated"),
    (_conv() + [nn.Sigmoid()], r"module '2' \(Sigmoid\): not supported"),
    (_conv() + [nn.AvgPool2d(2)], r"module '2' \(AvgPool2d\): average pooling to \(4, 4\)"),
    (_conv() + [nn.Flatten(), nn.Linear(256, 10)], r"module '2' \(Flatten\): reshapes a \(8, 8, 4\) map"),
    ([nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 4, 1), nn.ReLU()], r"module '0' \(Conv2d\): no ReLU after it"),
    (_conv() + [CatWrongWay()], r"the 3x3 branch comes first"),
    (_conv() + [Flat()], r"function 'sigmoid'.*not supported"),
    (_conv() + [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10), nn.ReLU()],
     r"module '4' \(Linear\): an activation after the classifier Linear"),
    (_conv() + [nn.MaxPool2d(2)], r"the network ends in module '2' \(MaxPool2d\)"),
])
def test_unsupported_layers_are_refused_in_one_line_naming_them(layers, expected):
    import re
    message = _refused(nn.Sequential(*layers))
    assert re.search(expected, message), message


def test_onnx_unsupported_node_is_named(tmp_path):
    from golden.importers.onnx_file import import_onnx
    path = tmp_path / "s.onnx"
    torch.onnx.export(nn.Sequential(*_conv(), nn.Sigmoid()), (torch.zeros(1, 1, 8, 8),), str(path), dynamo=False)
    with pytest.raises(ImportError_, match=r"node '.*Sigmoid.*' \(Sigmoid\): not supported"):
        import_onnx(path)
