"""The scanning cells' recurrences (QRNN fo-pooling, minGRU), fused in float32 with numba: drop-ins
for the NumPy references in qrnn.py and mingru.py, with the same signatures, held to them and to a
plain per-step loop at float32 tolerance (tests/test_scan.py).

A window's pre-activations arrive as one (T, N, C) buffer, computed by one matrix product. Each
kernel makes one pass over it: sequential over time, since step t needs step t − 1's value, and
within a step a loop over the H units of every row, which LLVM vectorises. Forward, it activates
the gates in place (kernels.py's rational tanh and σ, within 3e-7) and runs the recurrence; the
recurrence itself is the plain products and sums of the equations (FMA contraction allowed, no
reassociation, no log-space scan), so it is as exact as the reference. Backward, it runs back
from the end and leaves each step's pre-activation gradient in the buffer.
"""

import numpy as np
from numba import float32, void

from .kernels import MATRIX, jit, sigmoid, tanh

WINDOW = float32[:, :, ::1]  # C-contiguous (T, N, ·)
ONE, HALF = np.float32(1), np.float32(0.5)  # float32 constants keep the arithmetic in float32
NO_TAP = np.empty((0, 0), np.float32)  # a window-1 QRNN's tap: none


# ---------------------------------------------------------------- QRNN fo-pooling


@jit(void(WINDOW, MATRIX, MATRIX, WINDOW, WINDOW))
def fo_pool_forward(a, c0, tap, c, h):
    """a (T, N, K·3H) ← f, o, g = σ, σ, tanh of its first 3H columns, after adding (K = 2) the
    W_1 columns of the step before, which `tap` (N, 3H) holds: it enters as p_0 and leaves as
    x_{T−1}·W_1 ((0, 0) for K = 1); C_t = g + f⊙(C_{t−1} − g) into c and h_t = o⊙C_t into h
    (T, N, H), from C_0 = c0 (N, H)."""
    T, N, H = c.shape
    for t in range(T):
        for n in range(N):
            row = a[t, n]
            if tap.shape[1]:  # through a small buffer, not a[t − 1], which is out of cache by now
                gates, share, carried = row[:3 * H], row[3 * H:], tap[n]
                for k in range(3 * H):
                    gates[k] += carried[k]
                    carried[k] = share[k]
            f, o, g = row[:H], row[H:2 * H], row[2 * H:3 * H]
            c_prev = c0[n] if t == 0 else c[t - 1, n]
            c_row, h_row = c[t, n], h[t, n]
            for j in range(H):
                f_j, o_j, g_j = sigmoid(f[j]), sigmoid(o[j]), tanh(g[j])
                f[j], o[j], g[j] = f_j, o_j, g_j
                c_j = g_j + f_j * (c_prev[j] - g_j)
                c_row[j] = c_j
                h_row[j] = o_j * c_j


@jit(void(WINDOW, MATRIX, WINDOW, WINDOW, MATRIX, MATRIX))
def fo_pool_gradient(a, c0, c, dh, dc, dtap):
    """a (T, N, K·3H) ← df, do, dg from the f, o, g it holds (qrnn.fo_pool_backward's equations),
    and for K = 2 its W_1 columns at t ← da_{t+1} (qrnn.spread_previous_tap); dh (T, N, H) is
    ∂loss/∂h_t; dc (N, H) and dtap (N, 3H; (0, 0) for K = 1) enter as ∂loss/∂(C_T, carried tap)
    and leave as ∂loss/∂(C_0, initial tap)."""
    T, N, H = c.shape
    for t in range(T - 1, -1, -1):
        for n in range(N):
            row = a[t, n]
            f, o, g = row[:H], row[H:2 * H], row[2 * H:3 * H]
            c_prev = c0[n] if t == 0 else c[t - 1, n]
            c_row, dh_row, dc_row = c[t, n], dh[t, n], dc[n]
            for j in range(H):
                f_j, o_j, g_j = f[j], o[j], g[j]
                dc_j = dc_row[j] + dh_row[j] * o_j
                o[j] = dh_row[j] * c_row[j] * o_j * (ONE - o_j)
                f[j] = dc_j * (c_prev[j] - g_j) * f_j * (ONE - f_j)
                g[j] = dc_j * (ONE - f_j) * (ONE - g_j * g_j)
                dc_row[j] = dc_j * f_j
            if dtap.shape[1]:  # x_t·W_1 fed a_{t+1}: its gradient is da_{t+1}, held in dtap since step t + 1
                gates, share, pending = row[:3 * H], row[3 * H:], dtap[n]
                for k in range(3 * H):
                    share[k] = pending[k]
                    pending[k] = gates[k]


def fo_pool(a, c0, tap):
    """qrnn.fo_pool, fused: returns h and C (T, N, H) and the carried tap (None for K = 1)."""
    c, h = (np.empty(a.shape[:2] + c0.shape[1:], np.float32) for _ in range(2))
    carried = NO_TAP if tap is None else np.array(tap, np.float32)  # a copy: the kernel carries it through
    fo_pool_forward(a, np.ascontiguousarray(c0), carried, c, h)
    return h, c, None if tap is None else carried


def fo_pool_backward(dh, dc, dcarried, cache):
    """qrnn.fo_pool_backward, fused: returns ∂loss/∂C_0 and ∂loss/∂(initial tap) (None for K = 1)."""
    dc0 = np.array(dc, np.float32)  # copies: the kernel runs them back through the window
    dtap = NO_TAP if dcarried is None else np.array(dcarried, np.float32)
    fo_pool_gradient(cache.gates, np.ascontiguousarray(cache.start), cache.states, np.ascontiguousarray(dh), dc0,
                     dtap)
    return dc0, None if dcarried is None else dtap


# ---------------------------------------------------------------- minGRU


@jit(void(WINDOW, MATRIX, WINDOW))
def min_gru_forward(a, h0, h):
    """a (T, N, 2H) ← z = σ(·), n = g(·) of its two blocks; h_t = h_{t−1} + z⊙(n − h_{t−1}) into
    h (T, N, H), from h0 (N, H)."""
    T, N, H = h.shape
    for t in range(T):
        for n in range(N):
            row = a[t, n]
            z, candidate = row[:H], row[H:2 * H]
            h_prev = h0[n] if t == 0 else h[t - 1, n]
            h_row = h[t, n]
            for j in range(H):
                z_j, a_j = sigmoid(z[j]), candidate[j]
                n_j = a_j + HALF if a_j >= 0 else sigmoid(a_j)
                z[j], candidate[j] = z_j, n_j
                h_row[j] = h_prev[j] + z_j * (n_j - h_prev[j])


@jit(void(WINDOW, MATRIX, WINDOW, WINDOW, MATRIX))
def min_gru_gradient(a, h0, h, dout, dh):
    """a (T, N, 2H) ← dz, dn from the z, n it holds (mingru.min_gru_pool_backward's equations);
    dout (T, N, H) is ∂loss/∂h_t from above; dh (N, H) enters as ∂loss/∂h_T from beyond the
    window and leaves as ∂loss/∂h_0."""
    T, N, H = h.shape
    for t in range(T - 1, -1, -1):
        for n in range(N):
            row = a[t, n]
            z, candidate = row[:H], row[H:2 * H]
            h_prev = h0[n] if t == 0 else h[t - 1, n]
            dout_row, dh_row = dout[t, n], dh[n]
            for j in range(H):
                d = dh_row[j] + dout_row[j]
                z_j, n_j = z[j], candidate[j]
                z[j] = d * (n_j - h_prev[j]) * z_j * (ONE - z_j)
                candidate[j] = d * z_j * (ONE if n_j >= HALF else n_j * (ONE - n_j))
                dh_row[j] = d * (ONE - z_j)


def min_gru_pool(a, h0):
    """mingru.min_gru_pool, fused: returns h (T, N, H)."""
    h = np.empty(a.shape[:2] + h0.shape[1:], np.float32)
    min_gru_forward(a, np.ascontiguousarray(h0), h)
    return h


def min_gru_pool_backward(dh, dh_next, cache):
    """mingru.min_gru_pool_backward, fused: returns ∂loss/∂h_0."""
    dh0 = np.array(dh_next, np.float32)  # a copy: the kernel runs it back through the window
    min_gru_gradient(cache.gates, np.ascontiguousarray(cache.start), cache.states, np.ascontiguousarray(dh), dh0)
    return dh0


POOLS = {"qrnn": (fo_pool, fo_pool_backward), "mingru": (min_gru_pool, min_gru_pool_backward)}
