"""Issue 23's property test: every validation layer, fed random values of
the right and of wrong types, either accepts them or raises ``BadInput``
with one line -- never anything else (no TypeError, KeyError, OverflowError,
UnicodeDecodeError, ValueError from the OS...).  Seeded (``derandomize``),
so a failure is the same on every run; ~100 examples per layer."""
from __future__ import annotations

import json
import pickle
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from golden import datasets
from golden.bad_input import BadInput
from golden.command import UsageError
from golden.counts import check_count
from golden.importers.normalize import Normalization
from golden.input_shape import InputShape
from golden.user_model import UserModel
from golden.writable import check_file_out
from squeezefire.dse.grid import grid_from_file
from squeezefire.dse.grid_schema import KEYS, check_document

SETTINGS = settings(max_examples=100, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20),
                    st.binary(max_size=10))
anything = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                        max_leaves=8)


def refused_in_one_line(call, *args):
    """``call(*args)``'s result, or None when it raised BadInput with one line."""
    try:
        return call(*args)
    except BadInput as e:
        assert "\n" not in str(e) and str(e), repr(str(e))
        return None


@SETTINGS
@given(value=st.one_of(anything, st.integers().map(str), st.floats().map(str)),
       low=st.integers(-5, 5), span=st.one_of(st.none(), st.integers(0, 100)))
def test_counts(value, low, span):
    high = None if span is None else low + span
    got = refused_in_one_line(check_count, value, "--n", low, high, "the data has that many")
    assert got is None or (isinstance(got, int) and low <= got and (high is None or got <= high))


def _shape_text(parts):
    return ",".join(str(p) for p in parts)


@SETTINGS
@given(text=st.one_of(anything, st.lists(st.one_of(st.integers(-10, 5000), st.text(max_size=4)), max_size=5)
                      .map(_shape_text)))
def test_input_shapes(text):
    got = refused_in_one_line(InputShape.parse, text)
    assert got is None or (1 <= got.h <= 1024 and 1 <= got.w <= 1024 and got.c in (1, 3))


numbers = st.one_of(st.floats(), st.integers(-10, 10), st.text(max_size=6))


@SETTINGS
@given(mean=st.one_of(st.none(), st.lists(numbers, max_size=4).map(_shape_text)),
       std=st.one_of(st.none(), st.lists(numbers, max_size=4).map(_shape_text)),
       channels=st.sampled_from((1, 3)))
def test_normalisation_values(mean, std, channels):
    norm = refused_in_one_line(Normalization.parse, mean, std)
    if norm is not None:
        refused_in_one_line(norm.check, channels)
        assert all(0 <= m <= 1 for m in norm.mean) and all(1e-4 <= s <= 1e4 for s in norm.std)


def _point_values():
    good = {"sr": st.floats(0.01, 1), "pct3x3": st.floats(0, 1), "base_e": st.integers(1, 64),
            "incr_e": st.integers(0, 64), "freq": st.integers(1, 4), "bypass": st.sampled_from(("none", "simple")),
            "conv1": st.integers(1, 32), "bits": st.lists(st.integers(2, 8), min_size=1, max_size=3)}
    return st.dictionaries(st.sampled_from(sorted(KEYS) + ["squeeze"]),
                           st.one_of(anything, *good.values()), max_size=4)


@SETTINGS
@given(doc=st.one_of(anything, st.fixed_dictionaries({"points": st.lists(st.one_of(_point_values(), anything),
                                                                           max_size=3)},
                                                      optional={"base": st.one_of(_point_values(), anything)})))
def test_grid_documents(doc):
    got = refused_in_one_line(check_document, doc, "--grid g.json")
    if got is not None:
        from squeezefire.dse.grid import DsePoint
        base, points = got
        for p in points:
            point = DsePoint(**{k: tuple(v) if k == "bits" else v for k, v in {**base, **p}.items()})
            refused_in_one_line(point.check, "point")


@SETTINGS
@given(content=st.one_of(st.binary(max_size=40), anything.map(lambda v: json.dumps(v, default=repr).encode())),
       suffix=st.sampled_from((".json", ".toml")))
def test_grid_files(content, suffix):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"g{suffix}"
        path.write_bytes(content)
        refused_in_one_line(grid_from_file, path)


dtypes = st.sampled_from(("uint8", "int64", "float32", "bool", "complex64", "U3", "uint16"))


@SETTINGS
@given(dtype=dtypes, shape=st.lists(st.integers(0, 5), max_size=5), with_labels=st.booleans(),
       raw_bytes=st.one_of(st.none(), st.binary(max_size=30)))
def test_data_sets(dtype, shape, with_labels, raw_bytes):
    with tempfile.TemporaryDirectory() as d:
        images = Path(d) / "x.npy"
        if raw_bytes is not None:
            images.write_bytes(raw_bytes)
        else:
            np.save(images, np.zeros(shape, dtype=dtype))
        labels = None
        if with_labels:
            labels = Path(d) / "y.npy"
            np.save(labels, np.arange(shape[0] if shape else 1) - 1)
        raw = refused_in_one_line(datasets.read, str(images), labels)
        if raw is not None:
            assert len(raw) >= 1
            refused_in_one_line(lambda: raw.chosen(1).fitted((4, 4, 1)))


exceptions = st.sampled_from(("SystemExit(0)", "SystemExit('bye')", "ValueError('a\\nb')", "StopIteration()",
                              "RecursionError()", "MemoryError()", "GeneratorExit()", "Exception()",
                              "type('Odd', (BaseException,), {})()"))


@settings(max_examples=40, deadline=None, derandomize=True)
@given(value=anything, raises=st.one_of(st.none(), exceptions), where=st.sampled_from(("build", "module")))
def test_user_models(value, raises, where):
    """A model file whose function returns a random value, or whose
    function or module body raises a random exception."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "net.py"
        body = f"import pickle\nVALUE = pickle.loads({pickle.dumps(value)!r})\n"
        if raises and where == "module":
            body += f"raise {raises}\n"
        body += f"def build():\n    raise {raises}\n" if raises and where == "build" else \
            "def build():\n    return VALUE\n"
        path.write_text(body)
        refused_in_one_line(lambda: UserModel(model=f"{path}:build").module)


@SETTINGS
@given(name=st.text(max_size=12))
def test_output_files(name):
    with tempfile.TemporaryDirectory() as d:
        refused_in_one_line(check_file_out, Path(d) / name, "--out")
        assert list(Path(d).iterdir()) == []            # the probe file is gone


def _no_help(argv: list[str]) -> bool:
    return not any(a.startswith(("-h", "--h")) for a in argv)


argvs = st.lists(st.one_of(st.sampled_from(("--images", "--bundle", "--arch", "--long", "--bits", "--grid",
                                            "--workers", "--epochs", "--out", "--prune", "-x", "--")),
                           st.text(max_size=6)), max_size=5).filter(_no_help)


@SETTINGS
@given(argv=argvs)
def test_command_lines(argv):
    from golden.compress import parser
    from squeezefire.compare import parse_args as compare_args
    from squeezefire.dse.cli import parse_args as dse_args
    for parse in (compare_args, parser().parse_args, dse_args):
        try:
            parse(argv)
        except UsageError as e:
            assert "\n" not in str(e)


@pytest.mark.parametrize("bad", [float("nan"), "1e3", True])
def test_a_count_negative_control(bad):
    """Not vacuous: these values are refused, 3 and "3" accepted."""
    with pytest.raises(BadInput):
        check_count(bad, "--n")
    assert check_count(3, "--n") == check_count("3", "--n") == 3
