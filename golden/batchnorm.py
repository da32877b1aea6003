"""BatchNorm folded into the convolution before it, torch-free: numpy
float64 and elementwise IEEE operations only, so the folded parameters are
the same bits on every machine (the quantiser's constants derive from
them).  ``golden.graph`` (the family's models) and
``golden.importers.lowering`` (a user's network) both fold with it."""
from __future__ import annotations

import numpy as np


def fold_batchnorm(weight: np.ndarray, bias: np.ndarray | None, gamma: np.ndarray, beta: np.ndarray,
                   mean: np.ndarray, var: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """(weight, bias) of ``conv`` followed by ``BatchNorm(gamma, beta, mean, var, eps)``."""
    b = bias if bias is not None else np.zeros(weight.shape[0])
    g = gamma / np.sqrt(var + eps)
    return weight * g[:, None, None, None], (b - mean) * g + beta
