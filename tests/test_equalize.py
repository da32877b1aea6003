"""Cross-layer equalisation (golden.equalize): the float function is kept,
the consumers' input columns are balanced, non-homogeneous producers are
left alone."""
import numpy as np
import pytest
import torch

from golden import graph as fgraph
from golden.equalize import equalize
from golden.models import SqueezeNet, reference_spec, tiny_spec
from golden.weight_sharing import weight_params


def _graph(spec):
    """A seeded random network with non-trivial BatchNorm statistics, folded."""
    torch.manual_seed(0)
    model = SqueezeNet(spec)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.2, 3.0)
            m.weight.data.uniform_(0.2, 2.0)
    return fgraph.extract(model.eval())


@pytest.mark.parametrize("spec", [tiny_spec(), reference_spec()], ids=lambda s: s.name)
def test_the_float_function_is_kept(spec):
    graph = _graph(spec)
    x = torch.from_numpy(np.random.default_rng(0).random((4, 1, 28, 28))).float()
    before, after = fgraph.forward(graph, x), fgraph.forward(equalize(graph), x)
    # the same function up to float rounding (the graph runs in float32)
    assert torch.allclose(before["gap"], after["gap"], rtol=1e-4, atol=1e-6)
    assert not torch.equal(before["conv1"], after["conv1"])        # the hidden channels did move


def test_the_consumers_columns_reach_one_maximum():
    original = _graph(reference_spec())
    graph = equalize(original)
    by_name, was = {layer["name"]: layer for layer in graph}, {layer["name"]: layer for layer in original}
    for name in ("fire2", "fire3", "fire4", "fire5"):
        fire = by_name[name]
        colmax = np.max([np.abs(fire[p]["weight"]).max(axis=(0, 2, 3)) for p in ("expand1x1", "expand3x3")], axis=0)
        assert np.allclose(colmax, colmax.max(), rtol=1e-12), name
    # conv1 -> pool -> fire2's squeeze, balanced on the squeeze as trained (before fire2's own step)
    columns = np.abs(was["fire2"]["squeeze"]["weight"]).max(axis=(0, 2, 3))
    t = by_name["conv1"]["bias"] / was["conv1"]["bias"]
    assert np.allclose(t, columns / columns.max(), rtol=1e-12)
    assert np.allclose(by_name["conv1"]["weight"], was["conv1"]["weight"] * t[:, None, None, None], rtol=1e-12)


def test_a_relu6_producer_and_the_classifier_are_left_alone():
    graph = _graph(tiny_spec())
    graph[1] = dict(graph[1], act="relu6")                       # conv1
    out = equalize(graph)
    assert np.array_equal(out[1]["weight"], graph[1]["weight"])
    keys = dict(weight_params(out))
    assert np.array_equal(keys["conv10/weight"]["weight"], dict(weight_params(graph))["conv10/weight"]["weight"])


def test_the_input_graph_is_not_changed():
    graph = _graph(tiny_spec())
    copies = [p["weight"].copy() for _, p in weight_params(graph)]
    equalize(graph)
    assert all(np.array_equal(c, p["weight"]) for c, (_, p) in zip(copies, weight_params(graph)))
