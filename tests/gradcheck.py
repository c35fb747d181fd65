"""Central-difference gradient checks in float64."""

import numpy as np


def numerical_grad(f, x, h=1e-5):
    """∂f/∂x by central differences, perturbing x in place one element at a time."""
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        plus = f()
        flat[i] = old - h
        minus = f()
        flat[i] = old
        gflat[i] = (plus - minus) / (2 * h)
    return grad


def max_relative_error(analytic, numeric):
    """max |a − n| / (|a| + |n|); gradients below 1e-4 are held to an absolute error of
    1e-10 instead, the round-off floor of a central difference on an O(10) loss."""
    scale = np.maximum(np.abs(analytic) + np.abs(numeric), 1e-4)
    return float(np.max(np.abs(analytic - numeric) / scale))
