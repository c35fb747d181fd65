"""The matrix products, through one seam: every product of training and generation (the step's
h·Wh forward and back, the window's input projections, dWx, dWh and the head) is `mul(a, b)` of
the Products that `for_config` picks once a process for the `products` setting:

    openblas  NumPy's matmul on its bundled OpenBLAS and its threads: always there, and the
              reference (float64, so every gradient check, always takes it)
    mkl       MKL's cblas_sgemm (`pip install 'charrnn[mkl]'`), sequential, a large product's
              columns split over the cores (mkl.py); the same results within float32 round-off
    bf16      MKL's cblas_gemm_bf16bf16f32: both inputs rounded to bfloat16 (nearest, ties to
              even), the products accumulated and returned in float32; the weights, optimizer
              state and carried state stay float32. Needs MKL and a CPU with AVX512-BF16 or AMX

`auto` takes MKL's sgemm where it is installed and the CPU is Intel's; elsewhere OpenBLAS. On
AMD, MKL takes its generic code path whatever the CPU has (libmkl_def: AVX2 kernels, and its
bf16 GEMM converts to float32 and runs the same sgemm), and measured no faster than OpenBLAS
(docs/performance.md); bf16 is never automatic: it changes the numbers, so it is asked for.
A weight that several products read (Wh over a window's steps) is prepared once: `weight(W)`,
for bf16 its rounded copy, whose slices `mul` takes as they are.
"""

from functools import lru_cache
from typing import Callable, NamedTuple

import numpy as np

from .errors import CharrnnError

SETTINGS = ("auto", "openblas", "mkl", "bf16")
BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo's names; llvmlite's are avx512bf16, amx-bf16


class Products(NamedTuple):
    name: str  # openblas, mkl or bf16: the path taken
    reason: str  # what it is and why it was taken, for the plan line, config.yaml and info
    mul: Callable  # mul(a, b) -> a @ b, 2-D float32 (b may come from weight)
    weight: Callable  # weight(W) -> W ready for mul, made once for a window's many products

    @property
    def line(self):
        return f"products {self.name} ({self.reason})"


def for_config(config):
    """The products of a config: its `products` setting in float32, NumPy's in float64."""
    return choose(config.products if config.dtype == "float32" else "float64")


@lru_cache(maxsize=None)
def choose(setting):
    """The Products for a setting on this machine; CharrnnError, one line, when it asks for a
    path this machine lacks."""
    if setting == "float64":
        return _openblas("float64 takes NumPy's, the reference")
    vendor, flags = cpu()
    if setting == "auto":
        from .mkl import library_path

        if library_path() is None:
            return _openblas("auto: no MKL installed; pip install 'charrnn[mkl]' adds it")
        if vendor != "GenuineIntel":
            return _openblas(f"auto: MKL takes its generic path on this {vendor or 'unknown'} CPU, measured no "
                             "faster than OpenBLAS")
        return _mkl("auto: MKL installed, Intel CPU")
    if setting == "openblas":
        return _openblas("asked for")
    if setting == "bf16" and not flags.intersection(BF16_FLAGS):
        raise CharrnnError(f"products bf16 needs a CPU with AVX512-BF16 or AMX, and this {vendor or 'unknown'} CPU "
                           "has neither; use products auto or openblas")
    generic = "" if vendor == "GenuineIntel" else f"; MKL takes its generic path on this {vendor or 'unknown'} CPU"
    if setting == "bf16":
        return _bf16("asked for" + generic + (" (its bf16 GEMM multiplies in float32)" if generic else ""))
    return _mkl("asked for" + generic)


def cpu():
    """(vendor, flags): /proc/cpuinfo's vendor_id (GenuineIntel, AuthenticAMD) and flags; elsewhere
    ("", LLVM's host features under cpuinfo's names)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            lines = dict(line.split(":", 1) for line in f.read().split("\n\n")[0].splitlines() if ":" in line)
        return lines.get("vendor_id\t", "").strip(), frozenset(lines.get("flags\t\t", "").split())
    except OSError:
        from llvmlite.binding import get_host_cpu_features

        features = {name.replace("avx512bf16", "avx512_bf16").replace("-", "_")
                    for name, on in get_host_cpu_features().items() if on}
        return "", frozenset(features)


def openblas_version():
    try:
        return np.show_config(mode="dicts")["Build Dependencies"]["blas"]["version"]
    except (KeyError, TypeError, ValueError):
        return "?"


def _openblas(why):
    return Products("openblas", f"NumPy's OpenBLAS {openblas_version()}; {why}", np.matmul, _same)


def _mkl(why):
    from . import mkl

    run = _loaded(mkl, "mkl").gemm("sgemm")
    return Products("mkl", f"{mkl.load()[1]} sgemm, {_split(mkl)}; {why}", partial_gemm(run, _same), _same)


def _bf16(why):
    from . import mkl
    from .bfloat16 import to_bf16

    run = _loaded(mkl, "bf16").gemm("bf16")
    return Products("bf16", f"{mkl.load()[1]} gemm_bf16bf16f32, float32 accumulation, {_split(mkl)}; {why}",
                    partial_gemm(run, _rounded(to_bf16)), _rounded(to_bf16))


def _loaded(mkl, setting):
    """The mkl module once its library loads; CharrnnError naming the setting and the extra when not."""
    try:
        mkl.load()
    except CharrnnError:
        raise CharrnnError(f"products {setting} needs Intel's MKL: pip install 'charrnn[mkl]' (the mkl wheel); "
                           "products auto takes NumPy's OpenBLAS without it") from None
    return mkl


def _split(mkl):
    cores = mkl.cores()
    return f"split over {cores} cores" if cores > 1 else "one core"


def _same(weight):
    return weight


def _rounded(to_bf16):
    """weight() of the bf16 path: float32 rounded once; bit patterns (uint16) kept as they are."""
    return lambda x: x if x.dtype == np.uint16 else to_bf16(x)


def partial_gemm(run, operand):
    """mul(a, b) on MKL's `run` (mkl.gemm), its operands made by `operand`; float64 goes to NumPy."""
    from .mkl import NO_TRANS, TRANS

    def layout(x):
        """(x, trans, ld): x as BLAS reads it, rows contiguous or columns contiguous, else a copy."""
        rows, cols = x.shape
        step = [s // x.itemsize if s % x.itemsize == 0 else 0 for s in x.strides]
        if step[1] == 1 or cols == 1:
            ld = step[0] if rows > 1 else cols
            if ld >= max(cols, 1):
                return x, NO_TRANS, ld
        if step[0] == 1 or rows == 1:
            ld = step[1] if cols > 1 else rows
            if ld >= max(rows, 1):
                return x, TRANS, ld
        return np.ascontiguousarray(x), NO_TRANS, max(cols, 1)

    def mul(a, b):
        if np.float64 in (a.dtype, b.dtype):
            return np.matmul(a, b)
        (M, K), N = a.shape, b.shape[1]
        c = np.zeros((M, N), np.float32) if K == 0 else np.empty((M, N), np.float32)
        if M and N and K:
            (a, ta, lda), (b, tb, ldb) = layout(operand(a)), layout(operand(b))
            run(ta, tb, M, N, K, a.ctypes.data, lda, b.ctypes.data, ldb, c.ctypes.data, N)
        return c

    return mul

