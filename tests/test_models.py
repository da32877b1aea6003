"""Float golden models: the paper's parameter counts, the family generator,
Fire parameter checks and the ceil-mode size rule."""
import warnings

import pytest
import torch

from golden.models import (Fire, SqueezeNet, count_parameters, family, fire1_spec, output_size, reference_spec,
                           squeezenet_v1_0, squeezenet_v1_1)


@pytest.mark.parametrize("spec, params", [(squeezenet_v1_0(), 1_248_424), (squeezenet_v1_1(), 1_235_496)])
def test_paper_parameter_counts(spec, params):
    assert count_parameters(SqueezeNet(spec)) == params


def test_v1_1_output_shape_and_sizes():
    torch.manual_seed(0)
    net = SqueezeNet(squeezenet_v1_1()).eval()
    with torch.no_grad():
        assert net(torch.rand(1, 3, 224, 224)).shape == (1, 1000)


@pytest.mark.parametrize("bypass", ["simple", "complex"])
def test_bypass_variants(bypass):
    spec = squeezenet_v1_0(bypass=bypass)
    kinds = [e[1].bypass for e in spec.layers if e[0] == "fire"]
    # Paper section 6: simple bypass around fire3, 5, 7, 9; complex adds fire2, 4, 6, 8.
    if bypass == "simple":
        assert kinds == [None, "simple"] * 4
        assert count_parameters(SqueezeNet(spec)) == 1_248_424
    else:
        assert kinds == ["complex", "simple"] * 4
        assert count_parameters(SqueezeNet(spec)) > 1_248_424
    torch.manual_seed(0)
    with torch.no_grad():
        assert SqueezeNet(spec).eval()(torch.rand(1, 3, 111, 111)).shape == (1, 1000)


def test_family_metaparameters():
    spec = family(base_e=64, incr_e=32, freq=3, sr=0.25, pct3x3=0.75, num_fire=6)
    fires = [e[1] for e in spec.layers if e[0] == "fire"]
    e = [f.e1x1 + f.e3x3 for f in fires]
    assert e == [64, 64, 64, 96, 96, 96]
    assert [f.s1x1 for f in fires] == [16, 16, 16, 24, 24, 24]
    assert [f.e3x3 for f in fires] == [48, 48, 48, 72, 72, 72]


@pytest.mark.parametrize("kwargs, word", [
    (dict(cin=0, s1x1=1, e1x1=1, e3x3=1), "cin"),
    (dict(cin=4, s1x1=-1, e1x1=1, e3x3=1), "s1x1"),
    (dict(cin=4, s1x1=2, e1x1=-3, e3x3=1), "e1x1"),
    (dict(cin=4, s1x1=2, e1x1=0, e3x3=0), "e1x1 + e3x3"),
    (dict(cin=4, s1x1=2.5, e1x1=4, e3x3=4), "s1x1"),
])
def test_fire_rejects_bad_sizes(kwargs, word):
    with pytest.raises(ValueError, match=word.replace("+", r"\+")):
        Fire(**kwargs)


def test_fire_warns_when_squeeze_does_not_squeeze():
    with pytest.warns(UserWarning, match="s1x1 >= e1x1 \\+ e3x3"):
        Fire(8, 16, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Fire(8, 15, 8, 8)


def test_fire_concat_order_e1x1_first():
    torch.manual_seed(0)
    f = Fire(3, 2, 4, 5).eval()
    x = torch.rand(1, 3, 6, 7)
    with torch.no_grad():
        y = f(x)
        s = f.squeeze(x)
        assert torch.equal(y[:, :4], f.expand1x1(s))
        assert torch.equal(y[:, 4:], f.expand3x3(s))


@pytest.mark.parametrize("size", range(3, 40))
def test_output_size_matches_torch_ceil_mode(size):
    x = torch.zeros(1, 1, size, size)
    ref = torch.nn.functional.max_pool2d(x, 3, 2, ceil_mode=True).shape[-1]
    assert output_size(size, 3, 2, 0, ceil=True) == ref


def test_reference_network_is_small():
    assert count_parameters(SqueezeNet(reference_spec(batchnorm=False))) == 15770
    assert count_parameters(SqueezeNet(fire1_spec(batchnorm=False))) == 6682
