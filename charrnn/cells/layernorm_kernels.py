"""The layer-normalised LSTM's step, fused in float32 with numba: a drop-in for its NumPy
reference in layernorm.py, held to it at float32 tolerance (tests/test_kernels.py), on the
machinery and the vectorisable tanh and σ of kernels.py."""

import numpy as np
from numba import njit, void

from .kernels import MATRIX, jit, sigmoid, tanh
from .layernorm import LN_EPS, LayerNormLSTMCache

# Means over a row are sums; "reassoc" lets LLVM split them over vector lanes (a NaN still
# propagates). EPS as a float32, so that no sum is promoted to float64.
REDUCE = dict(error_model="numpy", fastmath={"contract", "arcp", "reassoc"})
EPS32 = np.float32(LN_EPS)


@njit(inline="always", **REDUCE)
def centre(values, centred):
    """centred ← values − mean(values); returns 1/σ(values).  Both (H,)."""
    total = np.float32(0)
    for j in range(values.shape[0]):
        total += values[j]
    mean = total / values.shape[0]
    squares = np.float32(0)
    for j in range(values.shape[0]):
        centred[j] = values[j] - mean
        squares += centred[j] * centred[j]
    return 1 / np.sqrt(squares / values.shape[0] + EPS32)


@njit(inline="always", **REDUCE)
def normalise_back(d, normed, rstd):
    """d (H,) ← (d − mean d − normed·mean(d⊙normed))·rstd, in place."""
    total, dot = np.float32(0), np.float32(0)
    for j in range(d.shape[0]):
        total += d[j]
        dot += d[j] * normed[j]
    mean, mean_dot = total / d.shape[0], dot / d.shape[0]
    for j in range(d.shape[0]):
        d[j] = (d[j] - mean - normed[j] * mean_dot) * rstd


@jit(void(MATRIX, MATRIX, MATRIX, MATRIX, MATRIX, MATRIX, MATRIX, MATRIX, MATRIX, MATRIX, MATRIX, MATRIX), REDUCE)
def ln_lstm_activate(a, rec, gain, shift, normed, rstd, c_prev, c, c_normed, c_rstd, tanh_c, h):
    """a (N, 4H) ← the gates i, f, o, g of LN(a + rec) per block, keeping â in normed (N, 4H)
    and 1/σ in rstd (N, 4); then C, Ĉ (c_normed), its 1/σ (c_rstd (N, 1)), tanh(γ_C⊙Ĉ + β_C)
    and h.  gain, shift (5, H)."""
    H = c.shape[1]
    for n in range(a.shape[0]):
        row, rec_row = a[n], rec[n]
        for k in range(4):
            block, normed_block = row[k * H:(k + 1) * H], normed[n, k * H:(k + 1) * H]
            rec_block, gain_k, shift_k = rec_row[k * H:(k + 1) * H], gain[k], shift[k]
            for j in range(H):
                block[j] += rec_block[j]
            r = centre(block, normed_block)
            rstd[n, k] = r
            for j in range(H):
                normed_block[j] *= r
                block[j] = normed_block[j] * gain_k[j] + shift_k[j]
            if k == 3:  # separate loops, so that each vectorises
                for j in range(H):
                    block[j] = tanh(block[j])
            else:
                for j in range(H):
                    block[j] = sigmoid(block[j])
        i, f, o, g = row[:H], row[H:2 * H], row[2 * H:3 * H], row[3 * H:]
        c_row, c_normed_row, c_prev_row, tanh_c_row, h_row = c[n], c_normed[n], c_prev[n], tanh_c[n], h[n]
        for j in range(H):
            c_row[j] = f[j] * c_prev_row[j] + i[j] * g[j]
        r = centre(c_row, c_normed_row)
        c_rstd[n, 0] = r
        for j in range(H):
            c_normed_row[j] *= r
            tanh_c_row[j] = tanh(c_normed_row[j] * gain[4, j] + shift[4, j])
            h_row[j] = o[j] * tanh_c_row[j]


@jit(void(MATRIX, MATRIX, MATRIX, MATRIX, MATRIX, MATRIX, MATRIX, MATRIX, MATRIX, MATRIX, MATRIX, MATRIX,
          MATRIX), REDUCE)
def ln_lstm_gradient(a, normed, rstd, gain, c_prev, c_normed, c_rstd, tanh_c, dh, dc, dc_prev, dgain, dshift):
    """a (N, 4H) ← dpre from the gates it holds; dc (N, H) enters as dC_{t+1} and leaves as
    dC_t; dC_{t-1} into dc_prev; the step's gain and shift gradients added into dgain, dshift."""
    H = dc.shape[1]
    for n in range(a.shape[0]):
        row, dh_row, dc_row, dc_prev_row = a[n], dh[n], dc[n], dc_prev[n]
        tanh_c_row, c_normed_row, c_prev_row = tanh_c[n], c_normed[n], c_prev[n]
        i, f, o, g = row[:H], row[H:2 * H], row[2 * H:3 * H], row[3 * H:]
        for j in range(H):  # through h = o⊙tanh(LN_C(C)): dĈ, held in dc_prev until dC is known
            dz = dh_row[j] * o[j] * (1 - tanh_c_row[j] * tanh_c_row[j])
            dshift[4, j] += dz
            dgain[4, j] += dz * c_normed_row[j]
            dc_prev_row[j] = dz * gain[4, j]
        normalise_back(dc_prev_row, c_normed_row, c_rstd[n, 0])
        for j in range(H):
            dc_row[j] += dc_prev_row[j]
            i_j, f_j, g_j, o_j = i[j], f[j], g[j], o[j]
            o[j] = dh_row[j] * tanh_c_row[j] * o_j * (1 - o_j)
            dc_prev_row[j] = dc_row[j] * f_j
            f[j] = dc_row[j] * c_prev_row[j] * f_j * (1 - f_j)
            i[j] = dc_row[j] * g_j * i_j * (1 - i_j)
            g[j] = dc_row[j] * i_j * (1 - g_j * g_j)
        for k in range(4):  # through each block's LN
            block, normed_block = row[k * H:(k + 1) * H], normed[n, k * H:(k + 1) * H]
            for j in range(H):
                dshift[k, j] += block[j]
                dgain[k, j] += block[j] * normed_block[j]
                block[j] *= gain[k, j]
            normalise_back(block, normed_block, rstd[n, k])


def ln_lstm_forward(xw, state, params, mul=np.matmul):
    """layernorm.ln_lstm_forward; elementwise work and the norms in ln_lstm_activate."""
    h_prev, c_prev = state
    N, H = h_prev.shape
    normed, rstd = np.empty((N, 4, H), np.float32), np.empty((N, 4, 1), np.float32)
    c, c_normed, tanh_c, h = (np.empty_like(c_prev) for _ in range(4))  # (N, H) each
    c_rstd = np.empty((N, 1), np.float32)
    ln_lstm_activate(xw, mul(h_prev, params["Wh"]), params["ln_gain"], params["ln_shift"], normed.reshape(N, 4 * H),
                     rstd.reshape(N, 4), c_prev, c, c_normed, c_rstd, tanh_c, h)
    return (h, c), LayerNormLSTMCache(xw, normed, rstd, c_prev, c_normed, c_rstd, tanh_c, (h_prev,))


def ln_lstm_backward(dnext_state, cache, params, mul=np.matmul):
    """layernorm.ln_lstm_backward; elementwise work and the norms' gradients in ln_lstm_gradient."""
    dh, dc_next = dnext_state
    N, H = dh.shape
    dc, dc_prev = dc_next.copy(), np.empty_like(dc_next)
    dgain, dshift = np.zeros((5, H), np.float32), np.zeros((5, H), np.float32)
    ln_lstm_gradient(cache.gates, cache.normed.reshape(N, 4 * H), cache.rstd.reshape(N, 4), params["ln_gain"],
                     cache.c_prev, cache.c_normed, cache.c_rstd, cache.tanh_c, dh, dc, dc_prev, dgain, dshift)
    return cache.gates, (mul(cache.gates, params["Wh_T"]), dc_prev), {"ln_gain": dgain, "ln_shift": dshift}
