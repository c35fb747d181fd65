"""Fused float32 kernels for the cells' elementwise work, compiled with numba.

The NumPy reference cells make about fifteen passes over memory per step, one ufunc
call each; at the sizes a CPU trains (N·G·H of 10⁴ to 10⁵) those calls, not the arithmetic,
are most of a step outside its matmuls. Here each step's elementwise work is one or two
compiled loops, and the matmuls go through the products' seam (`mul`, products.py). Each `*_forward`/`*_backward` below
is a drop-in for its reference (rnn.py, lstm.py, gru.py), with the same equations, the same
signature and the same buffer contract (stated in __init__.py); tests hold the two to float32
tolerance. The layer-normalised LSTM's kernels, built on these, are in layernorm_kernels.py.

numba cannot vectorise math.exp or math.tanh here (that needs Intel's SVML), and a scalar
libm call per element is ten times slower than NumPy. So tanh is the rational
approximation Eigen uses for float32 (and PyTorch through it), and σ(x) = (1 + tanh(x/2))/2:
only multiplies, adds and one divide, which LLVM vectorises. Both are within 3e-7 of the
exact values (tests/test_kernels.py). Kernels compile once and are cached on disk.
"""

import numpy as np
from numba import float32, njit, void

from .common import GateCache
from .lstm import LSTMCache

# No fastmath "nnan"/"ninf": a NaN from a diverging run must reach the loss guard, not be
# clamped into a plausible number. "contract" allows FMAs, "arcp" a reciprocal for the divide.
FAST = dict(error_model="numpy", fastmath={"contract", "arcp"})
MATRIX = float32[:, ::1]  # C-contiguous (N, ·)
KERNELS = []  # every compiled kernel, so compiled_here() can ask numba about each


def jit(signature, fast=FAST):
    """Compile for `signature` now (or load from numba's disk cache), not at the first step."""
    def decorate(function):
        kernel = njit(signature, cache=True, nogil=True, **fast)(function)
        KERNELS.append(kernel)
        return kernel
    return decorate


def compiled_here():
    """Whether this process compiled the kernels, rather than loading them from the disk cache."""
    return any(kernel.stats.cache_misses for kernel in KERNELS)

TANH_LIMIT = np.float32(7.90531110763549805)  # tanh rounds to ±1 in float32 beyond this
TANH_P = tuple(np.float32(v) for v in (-2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11,
                                       5.12229709037114e-08, 1.48572235717979e-05, 6.37261928875436e-04,
                                       4.89352455891786e-03))
TANH_Q = tuple(np.float32(v) for v in (1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03,
                                       4.89352518554385e-03))
HALF = np.float32(0.5)


@njit(inline="always", **FAST)
def tanh(x):
    """tanh(x) ≈ x·P(x²)/Q(x²) on [−7.9, 7.9] (Eigen's generic_fast_tanh_float)."""
    x = -TANH_LIMIT if x < -TANH_LIMIT else (TANH_LIMIT if x > TANH_LIMIT else x)  # NaN passes through
    x2 = x * x
    p = TANH_P[0]
    for coefficient in TANH_P[1:]:
        p = p * x2 + coefficient
    q = TANH_Q[0]
    for coefficient in TANH_Q[1:]:
        q = q * x2 + coefficient
    return x * p / q


@njit(inline="always", **FAST)
def sigmoid(x):
    return HALF + HALF * tanh(HALF * x)


@njit(inline="always", **FAST)
def activate(sigmoid_gates, sigmoid_rec, tanh_gates, tanh_rec):
    """σ(gates + rec) and tanh(gates + rec) in place, each over one contiguous run of a row.

    Kept as two loops that start at 0 over slices: LLVM vectorises those, and not a loop
    over range(3H, 4H) of the whole row (measured 9× slower)."""
    for k in range(sigmoid_gates.shape[0]):
        sigmoid_gates[k] = sigmoid(sigmoid_gates[k] + sigmoid_rec[k])
    for k in range(tanh_gates.shape[0]):
        tanh_gates[k] = tanh(tanh_gates[k] + tanh_rec[k])


# ---------------------------------------------------------------- vanilla RNN


@jit(void(MATRIX, MATRIX, MATRIX))
def rnn_activate(a, rec, h):
    """a ← tanh(a + rec), h ← a.  All (N, H)."""
    for n in range(a.shape[0]):
        row, rec_row, h_row = a[n], rec[n], h[n]
        for k in range(row.shape[0]):
            row[k] = tanh(row[k] + rec_row[k])
            h_row[k] = row[k]


@jit(void(MATRIX, MATRIX))
def rnn_gradient(a, dh):
    """a ← dh ⊙ (1 − a²): h in, dpre out.  Both (N, H)."""
    for n in range(a.shape[0]):
        row, dh_row = a[n], dh[n]
        for k in range(row.shape[0]):
            row[k] = dh_row[k] * (1 - row[k] * row[k])


def rnn_forward(xw, state, params, mul=np.matmul):
    """rnn.rnn_forward, its tanh fused in rnn_activate."""
    (h_prev,) = state
    h = np.empty_like(h_prev)  # (N, H)
    rnn_activate(xw, mul(h_prev, params["Wh"]), h)
    return (h,), GateCache(xw, (h_prev,))


def rnn_backward(dnext_state, cache, params, mul=np.matmul):
    """rnn.rnn_backward, dpre fused in rnn_gradient."""
    (dh,) = dnext_state
    rnn_gradient(cache.gates, dh)
    return cache.gates, (mul(cache.gates, params["Wh_T"]),), {}


# ---------------------------------------------------------------- LSTM


@jit(void(MATRIX, MATRIX, MATRIX, MATRIX, MATRIX, MATRIX))
def lstm_activate(a, rec, c_prev, c, tanh_c, h):
    """a (N, 4H) ← [σ σ σ tanh](a + rec) = i, f, o, g; then C = f⊙C_prev + i⊙g, tanh(C) and
    h = o⊙tanh(C) into c, tanh_c, h (N, H)."""
    H = c.shape[1]
    for n in range(a.shape[0]):
        row, rec_row = a[n], rec[n]
        activate(row[:3 * H], rec_row[:3 * H], row[3 * H:], rec_row[3 * H:])
        i, f, o, g = row[:H], row[H:2 * H], row[2 * H:3 * H], row[3 * H:]
        c_prev_row, c_row, tanh_c_row, h_row = c_prev[n], c[n], tanh_c[n], h[n]
        for j in range(H):
            c_row[j] = f[j] * c_prev_row[j] + i[j] * g[j]
            tanh_c_row[j] = tanh(c_row[j])
            h_row[j] = o[j] * tanh_c_row[j]


@jit(void(MATRIX, MATRIX, MATRIX, MATRIX, MATRIX, MATRIX))
def lstm_gradient(a, c_prev, tanh_c, dh, dc, dc_prev):
    """a (N, 4H) ← dpre = [di df do dg] from the activations i, f, o, g it holds; dc (N, H)
    enters as dC_{t+1} and leaves as dC_t; dC_{t-1} = dC_t ⊙ f into dc_prev."""
    H = dc.shape[1]
    for n in range(a.shape[0]):
        row, tanh_c_row, dh_row, dc_row = a[n], tanh_c[n], dh[n], dc[n]
        i, f, o, g = row[:H], row[H:2 * H], row[2 * H:3 * H], row[3 * H:]
        for j in range(H):
            dc_row[j] += dh_row[j] * o[j] * (1 - tanh_c_row[j] * tanh_c_row[j])
            o[j] = dh_row[j] * tanh_c_row[j] * o[j] * (1 - o[j])
        c_prev_row, dc_prev_row = c_prev[n], dc_prev[n]
        for j in range(H):
            dc_prev_row[j] = dc_row[j] * f[j]
            f[j] = dc_row[j] * c_prev_row[j] * f[j] * (1 - f[j])
        for j in range(H):
            i_j = i[j]
            i[j] = dc_row[j] * g[j] * i_j * (1 - i_j)
            g[j] = dc_row[j] * i_j * (1 - g[j] * g[j])


def lstm_forward(xw, state, params, mul=np.matmul):
    """lstm.lstm_forward without peepholes or coupling; elementwise work in lstm_activate."""
    h_prev, c_prev = state
    c, tanh_c, h = (np.empty_like(c_prev) for _ in range(3))  # (N, H) each
    lstm_activate(xw, mul(h_prev, params["Wh"]), c_prev, c, tanh_c, h)
    return (h, c), LSTMCache(xw, c_prev, c, tanh_c, (h_prev,))


def lstm_forward_columns(a, h_prev, c_prev, Wh_T, mul=np.matmul):
    """lstm_forward for a batch held by columns (inference.column_stepper): a (4H, N) holds
    x·Wx + b, h_prev and c_prev are (H, N) and Wh_T is Whᵀ (4H, H); returns (h, c), each (H, N).
    The gates' work is elementwise over units and streams alike, so lstm_activate takes the
    whole batch as one row of four gate blocks of H·N values."""
    c, tanh_c, h = (np.empty_like(c_prev) for _ in range(3))  # (H, N) each
    lstm_activate(a.reshape(1, -1), mul(Wh_T, h_prev).reshape(1, -1),
                  *(s.reshape(1, -1) for s in (c_prev, c, tanh_c, h)))
    return h, c


def lstm_backward(dnext_state, cache, params, mul=np.matmul):
    """lstm.lstm_backward without peepholes or coupling; elementwise work in lstm_gradient."""
    dh, dc_next = dnext_state
    dc, dc_prev = dc_next.copy(), np.empty_like(dc_next)
    lstm_gradient(cache.gates, cache.c_prev, cache.tanh_c, dh, dc, dc_prev)
    return cache.gates, (mul(cache.gates, params["Wh_T"]), dc_prev), {}


# ---------------------------------------------------------------- GRU


@jit(void(MATRIX, MATRIX, MATRIX, MATRIX))
def gru_activate_gates(a, rec, h_prev, rh):
    """a[:, :2H] ← σ(a[:, :2H] + rec) = z, r;  rh = r ⊙ h_prev.  a (N, 3H), rec (N, 2H)."""
    H = h_prev.shape[1]
    for n in range(a.shape[0]):
        row, rec_row = a[n], rec[n]
        for k in range(2 * H):
            row[k] = sigmoid(row[k] + rec_row[k])
        r, h_prev_row, rh_row = row[H:2 * H], h_prev[n], rh[n]
        for j in range(H):
            rh_row[j] = r[j] * h_prev_row[j]


@jit(void(MATRIX, MATRIX, MATRIX, MATRIX))
def gru_activate_state(a, rec_n, h_prev, h):
    """n = tanh(a[:, 2H:] + rec_n) in place;  h = h_prev + z ⊙ (n − h_prev)."""
    H = h_prev.shape[1]
    for n in range(a.shape[0]):
        row, rec_row, h_prev_row, h_row = a[n], rec_n[n], h_prev[n], h[n]
        z, candidate = row[:H], row[2 * H:]
        for j in range(H):
            candidate[j] = tanh(candidate[j] + rec_row[j])
            h_row[j] = h_prev_row[j] + z[j] * (candidate[j] - h_prev_row[j])


@jit(void(MATRIX, MATRIX, MATRIX, MATRIX))
def gru_gradient_zn(a, h_prev, dh, dh_prev):
    """a's z and n blocks ← dz, dn;  dh_prev = dh ⊙ (1 − z)."""
    H = h_prev.shape[1]
    for n in range(a.shape[0]):
        row, h_prev_row, dh_row, dh_prev_row = a[n], h_prev[n], dh[n], dh_prev[n]
        z, candidate = row[:H], row[2 * H:]
        for j in range(H):
            z_j, n_j = z[j], candidate[j]
            candidate[j] = dh_row[j] * z_j * (1 - n_j * n_j)
            z[j] = dh_row[j] * (n_j - h_prev_row[j]) * z_j * (1 - z_j)
            dh_prev_row[j] = dh_row[j] * (1 - z_j)


@jit(void(MATRIX, MATRIX, MATRIX, MATRIX))
def gru_gradient_r(a, h_prev, drh, dh_prev):
    """a's r block ← dr = drh ⊙ h_prev ⊙ r(1 − r);  dh_prev += drh ⊙ r."""
    H = h_prev.shape[1]
    for n in range(a.shape[0]):
        r, h_prev_row, drh_row, dh_prev_row = a[n, H:2 * H], h_prev[n], drh[n], dh_prev[n]
        for j in range(H):
            r_j = r[j]
            r[j] = drh_row[j] * h_prev_row[j] * r_j * (1 - r_j)
            dh_prev_row[j] += drh_row[j] * r_j


def gru_forward(xw, state, params, mul=np.matmul):
    """gru.gru_forward; elementwise work in gru_activate_gates and gru_activate_state."""
    (h_prev,) = state
    H = h_prev.shape[1]
    Wh = params["Wh"]
    rh, h = np.empty_like(h_prev), np.empty_like(h_prev)  # (N, H)
    gru_activate_gates(xw, mul(h_prev, Wh[:, :2 * H]), h_prev, rh)
    gru_activate_state(xw, mul(rh, Wh[:, 2 * H:]), h_prev, h)
    return (h,), GateCache(xw, (h_prev, rh))


def gru_backward(dnext_state, cache, params, mul=np.matmul):
    """gru.gru_backward; elementwise work in gru_gradient_zn and gru_gradient_r."""
    (dh,) = dnext_state
    H = dh.shape[1]
    Wh_T, dpre, h_prev = params["Wh_T"], cache.gates, cache.rec_in[0]
    dh_prev = np.empty_like(dh)
    gru_gradient_zn(dpre, h_prev, dh, dh_prev)
    gru_gradient_r(dpre, h_prev, mul(dpre[:, 2 * H:], Wh_T[2 * H:]), dh_prev)
    dh_prev += mul(dpre[:, :2 * H], Wh_T[:2 * H])
    return dpre, (dh_prev,), {}


# ---------------------------------------------------------------- the fused steps of each cell


FUSED = {"rnn": (rnn_forward, rnn_backward), "lstm": (lstm_forward, lstm_backward), "gru": (gru_forward, gru_backward)}
