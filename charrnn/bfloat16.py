"""bfloat16, float32's sign, exponent and top 7 mantissa bits, held as uint16 bit patterns: the
inputs of the bf16 products (products.py), rounded to the nearest, ties to even, as PyTorch and
MKL's own conversions round. A NaN stays a NaN (quiet), so a diverged run still reaches the loss
guard; a finite float32 above bfloat16's largest rounds to infinity, as IEEE rounding does."""

import numpy as np
from numba import njit, uint16, uint32, void

LAYOUTS = (uint32[:, ::1], uint32[:, :])  # C-contiguous (vectorised), or any strides (a block of columns)


@njit(inline="always")
def _rounded(u):
    if (u & 0x7FFFFFFF) > 0x7F800000:  # NaN: keep its sign and top bits, and make it quiet
        return uint16((u >> 16) | 0x40)
    return uint16((u + 0x7FFF + ((u >> 16) & 1)) >> 16)  # + half an ulp, and the lsb: ties go to even


@njit([void(layout, uint16[:, ::1]) for layout in LAYOUTS], cache=True, nogil=True)
def _round_into(bits, out):
    for i in range(bits.shape[0]):
        for j in range(bits.shape[1]):
            out[i, j] = _rounded(bits[i, j])


def to_bf16(x):
    """A 2-D float32 array rounded to bfloat16: uint16 bit patterns, laid out as `x` is (a
    transposed view gives a transposed view, so BLAS reads it as it would have read `x`)."""
    if x.shape[0] > 1 and x.strides[0] == x.itemsize and x.strides[1] != x.itemsize:
        return to_bf16(x.T).T
    out = np.empty(x.shape, np.uint16)
    _round_into(x.view(np.uint32), out)
    return out


def to_float32(bits):
    """bfloat16 bit patterns (uint16) as the float32 values they stand for, exactly."""
    return (bits.astype(np.uint32) << 16).view(np.float32)
