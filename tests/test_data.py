"""Fashion-MNIST loader: shapes and clear errors."""
import gzip

import numpy as np
import pytest

from golden import data


def test_test_split_shape():
    x, y = data.load("test")
    assert x.shape == (10000, 28, 28, 1) and x.dtype == np.uint8
    assert y.shape == (10000,) and set(np.unique(y)) == set(range(10))


def test_missing_files_name_the_debian_package(tmp_path, monkeypatch):
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path))
    with pytest.raises(data.DatasetMissing, match="dataset-fashion-mnist"):
        data.load("test")


def test_truncated_file_is_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path))
    header = bytes([0, 0, 8, 1]) + (100).to_bytes(4, "big")
    with gzip.open(tmp_path / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(header + bytes(10))
    with gzip.open(tmp_path / "t10k-images-idx3-ubyte.gz", "wb") as f:
        f.write(bytes([0, 0, 8, 3]) + b"".join(n.to_bytes(4, "big") for n in (1, 2, 2)) + bytes(4))
    with pytest.raises(ValueError, match="truncated idx file \\(10 of 100"):
        data.load("test")


def test_bad_split():
    with pytest.raises(ValueError, match="split"):
        data.load("validation")
