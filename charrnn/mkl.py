"""Intel's MKL from the `mkl` wheel (`pip install 'charrnn[mkl]'`): its float32 GEMM and its
bfloat16 GEMM with float32 accumulation, for products.py, and bfloat16 rounding.

The wheel puts libmkl_rt into the environment's lib/, not into site-packages; it is loaded
with ctypes and set sequential before its first product. With its own threads (Intel OpenMP)
MKL ran the step's small products at 0.35-0.59x OpenBLAS's two threads on a 2-core Sapphire
Rapids (issue 35), so the cores are split here instead: a product of at least SPLIT_FROM
multiply-adds is cut into one block of C's columns a core, each a sequential MKL call, from a
numba prange (numba calls MKL by address, without the GIL). numba cannot cache that function
(the address changes from process to process), so it compiles at the first large product,
once a process, in one to four seconds (inside `--time`'s warm-up step, not its timed ones).
"""

import ctypes
import glob
import os
import sys
from functools import lru_cache

import numpy as np

from .errors import CharrnnError
from .launcher import first_int

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112
THREADING_SEQUENTIAL = 1  # mkl_set_threading_layer's MKL_THREADING_SEQUENTIAL
SPLIT_FROM = 1 << 20  # multiply-adds: a (32, 256) x (256, 1024) step product has 8.4 M
ALIGN = 16  # columns: each core's block starts on a 64-byte boundary of a float32 row


def library_path():
    """libmkl_rt in this environment's lib/, where the mkl wheel installs it, or None."""
    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix)):
        found = sorted(glob.glob(os.path.join(prefix, "lib", "libmkl_rt.so*")))
        if found:
            return found[0]
    return None


def load():
    """(the library, "MKL <version>"), MKL set sequential; CharrnnError when it is not installed."""
    path = library_path()
    if path is None:
        raise CharrnnError("Intel's MKL is not installed: pip install 'charrnn[mkl]' (the mkl wheel)")
    return _opened(path)


@lru_cache(maxsize=None)
def _opened(path):
    lib = ctypes.CDLL(path)
    lib.MKL_Set_Threading_Layer.restype = ctypes.c_int
    lib.MKL_Set_Threading_Layer(THREADING_SEQUENTIAL)  # before any product: it is read once
    text = ctypes.create_string_buffer(200)
    lib.mkl_get_version_string(text, len(text))
    words = text.value.decode(errors="replace").split()  # "Intel(R) oneAPI ... Version 2026.2-Product Build ..."
    version = words[words.index("Version") + 1].split("-")[0] if "Version" in words else "?"
    return lib, f"MKL {version}"


def cores():
    """Cores a product may be split over: this process's, or fewer under MKL_NUM_THREADS and the like."""
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(available, first_int(("MKL_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"),
                                           available)))


@lru_cache(maxsize=None)
def gemm(kind):
    """run(ta, tb, M, N, K, a, lda, b, ldb, c, ldc): C (M, N) float32 = op(A)·op(B), row-major, the
    addresses as ints; kind "sgemm" (float32 A and B) or "bf16" (bfloat16 bit patterns, uint16).
    From SPLIT_FROM multiply-adds on, C's columns are split over the cores."""
    lib, _ = load()
    name, size = {"sgemm": ("cblas_sgemm", 4), "bf16": ("cblas_gemm_bf16bf16f32", 2)}[kind]
    i, f, p = ctypes.c_int, ctypes.c_float, ctypes.c_void_p
    prototype = ctypes.CFUNCTYPE(None, i, i, i, i, i, i, f, p, i, p, i, f, p, i)
    call = prototype(ctypes.cast(getattr(lib, name), p).value)  # by address: numba calls it so too
    parts, split = cores(), None

    def run(ta, tb, M, N, K, a, lda, b, ldb, c, ldc):
        nonlocal split
        if parts == 1 or M * N * K < SPLIT_FROM:
            return call(ROW_MAJOR, ta, tb, M, N, K, 1.0, a, lda, b, ldb, 0.0, c, ldc)
        split = split or _splitter(call, size)
        split(ta, tb, M, N, K, a, lda, b, ldb, c, ldc, parts)

    return run


def _splitter(call, size):
    """A numba function making `call`'s product as `parts` blocks of C's columns, one a thread."""
    import numba

    one, zero = np.float32(1), np.float32(0)

    @numba.njit(nogil=True, parallel=True)
    def split(ta, tb, M, N, K, a, lda, b, ldb, c, ldc, parts):
        block = (N + parts - 1) // parts
        block = (block + ALIGN - 1) // ALIGN * ALIGN
        for part in numba.prange(parts):
            first = part * block
            width = min(block, N - first)
            if width > 0:  # B's block starts `first` elements into a row, or `first` rows down when transposed
                b_first = b + size * first * (ldb if tb == TRANS else 1)
                call(ROW_MAJOR, ta, tb, M, width, K, one, a, lda, b_first, ldb, zero, c + 4 * first, ldc)

    return split
