"""make bench-products: one product's GF/s at the step's and the window's shapes, on each path of
charrnn/products.py (OpenBLAS, MKL's sgemm, MKL's bf16 GEMM), at one thread and on every core (each
library's own threads, and the seam's split of a product's columns), with MKL's dispatch on this CPU.

Each variant runs in its own process: thread counts and MKL's threading layer are read once, when
the library loads. Wall-clock, best of --repeats, for an idle machine; --cpu times process CPU
seconds instead (what a shared machine can still compare at one thread).
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

SHAPES = [(32, 256, 1024), (64, 256, 1024), (32, 512, 2048), (3200, 256, 1024)]  # rows × in × out
ONE = {"OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
DISPATCH = "libmkl_"  # the libraries MKL loaded show its code path (def: generic; avx2, avx512, ...) and threads
SHOWN = ("def", "mc3", "avx2", "avx512", "avx10", "sequential", "intel_thread", "gnu_thread", "tbb_thread")
VARIANTS = {  # name: (what multiplies, environment)
    "openblas, 1 thread": ("openblas", ONE),
    "openblas, its threads": ("openblas", {}),
    "mkl, 1 thread": ("mkl", ONE),
    "mkl, split by the seam": ("mkl", {}),
    "mkl, its own threads (Intel OpenMP)": ("mkl-threads", {"MKL_THREADING_LAYER": "INTEL"}),
    "mkl, its own threads (GNU OpenMP)": ("mkl-threads", {"MKL_THREADING_LAYER": "GNU"}),
    "bf16, 1 thread": ("bf16", ONE),
    "bf16, split by the seam": ("bf16", {}),
}


def multiplier(kind):
    """mul(a, b) for a variant: a path of the seam, or MKL called with its own threads."""
    from charrnn import mkl, products

    if kind != "mkl-threads":
        path = products.choose(kind)
        return path.mul, path.weight
    import ctypes

    lib = ctypes.CDLL(mkl.library_path())  # not through mkl.load, which makes MKL sequential
    lib.MKL_Set_Num_Threads(mkl.cores())
    i, f, p = ctypes.c_int, ctypes.c_float, ctypes.c_void_p
    lib.cblas_sgemm.argtypes = [i, i, i, i, i, i, f, p, i, p, i, f, p, i]

    def mul(a, b):
        c = np.empty((a.shape[0], b.shape[1]), np.float32)
        lib.cblas_sgemm(101, 111, 111, a.shape[0], b.shape[1], a.shape[1], 1.0, a.ctypes.data, a.shape[1],
                        b.ctypes.data, b.shape[1], 0.0, c.ctypes.data, c.shape[1])
        return c

    return mul, lambda w: w


def gflops(kind, repeats, clock):
    mul, weight = multiplier(kind)
    rng, results = np.random.default_rng(0), {}
    for M, K, N in SHAPES:
        a, b = rng.standard_normal((M, K)).astype(np.float32), weight(rng.standard_normal((K, N)).astype(np.float32))
        calls = max(3, int(2e8 / (M * N * K)))
        mul(a, b)
        best = np.inf
        for _ in range(repeats):
            start = clock()
            for _ in range(calls):
                mul(a, b)
            best = min(best, (clock() - start) / calls)
        results[f"{M}x{K}x{N}"] = 2 * M * N * K / best / 1e9
    results["mkl_libraries"] = sorted({line.split()[-1].rsplit("/", 1)[-1].split(".so")[0][7:]  # libmkl_NAME.so.3
                                       for line in open("/proc/self/maps") if DISPATCH in line})
    return results


def run_variant(name, args):
    kind, env = VARIANTS[name]
    command = [sys.executable, __file__, "--one", kind, "--repeats", str(args.repeats)] + (["--cpu"] if args.cpu else [])
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **env})
    try:
        return json.loads(done.stdout.splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}


def header():
    from charrnn import mkl, products

    vendor, flags = products.cpu()
    wanted = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile") if f in flags]
    mkl_text = mkl.load()[1] if mkl.library_path() else "not installed (pip install 'charrnn[mkl]')"
    return (f"{time.strftime('%Y-%m-%d %H:%M')}, {vendor or 'unknown CPU'} ({', '.join(wanted)}), "
            f"{len(os.sched_getaffinity(0))} cores, load average {os.getloadavg()[0]:.2f}; numpy {np.__version__}, "
            f"OpenBLAS {products.openblas_version()}, {mkl_text}\nauto takes: {products.choose('auto').line}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cpu", action="store_true", help="process CPU seconds instead of wall-clock")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(gflops(args.one, args.repeats, time.process_time if args.cpu else time.perf_counter)))
        return
    print(header(), flush=True)
    print(f"GF/s ({'CPU time' if args.cpu else 'wall-clock'}, best of {args.repeats}), rows x in x out:")
    print(f"{'variant':<38}" + "".join(f"{'x'.join(map(str, s)):>16}" for s in SHAPES) + "  MKL's code path")
    baseline = None
    for name in VARIANTS:
        r = run_variant(name, args)
        if "error" in r:
            print(f"{name:<38} {r['error']}", flush=True)
            continue
        baseline = baseline or r
        cells = [f"{r[k]:7.0f} ({r[k] / baseline[k]:4.2f}x)" for k in r if k != "mkl_libraries"]
        print(f"{name:<38}" + "".join(f"{c:>16}" for c in cells) + f"  {', '.join(n for n in r['mkl_libraries'] if n in SHOWN) or '-'}",
              flush=True)
    print(f"(x: against '{next(iter(VARIANTS))}'; load average now {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
