"""QRNN fo-pooling (Bradbury et al. 2016), a layer whose gates read only its input: the NumPy
reference of its scan over a window, and the cell. The fused float32 recurrences are in
scan_kernels.py, behind the same signatures."""

from functools import partial

import numpy as np

from .common import Cell, ScanCache, init_weights, scan_step, sigmoid_, tanh_


def qrnn_init(input_size, hidden_size, rng, config):
    """Wx (D, K·3H) drawn with fan-in K·D (a pre-activation sums K inputs of D), b (3H,), b_f = 1."""
    window, dtype = config.qrnn_window, np.dtype(config.dtype)
    b = np.zeros(3 * hidden_size, dtype)
    b[:hidden_size] = 1  # remember by default, as the LSTM's forget gate does
    Wx = init_weights((input_size, window * 3 * hidden_size), rng, config, dtype, fan_in=window * input_size)
    return {"Wx": Wx, "b": b}


def take_previous_tap(xw, tap):
    """K = 2: a_t = x_t·W_0 + b + x_{t−1}·W_1, in place in xw's first 3H columns, from the W_1
    columns of the step before (`tap`, (N, 3H), before the first). Returns x_{T−1}·W_1, the
    tap the next window starts from."""
    GH = xw.shape[2] // 2
    carried = xw[-1, :, GH:].copy()  # (N, 3H)
    xw[1:, :, :GH] += xw[:-1, :, GH:]
    xw[0, :, :GH] += tap
    return carried


def spread_previous_tap(dxw, dcarried):
    """Backward of take_previous_tap: x_t·W_1 fed a_{t+1}, so dxw's W_1 columns at t take
    da_{t+1} (at T − 1: the carried tap's gradient). Returns the initial tap's gradient, da_0."""
    GH = dxw.shape[2] // 2
    dtap = dxw[0, :, :GH].copy()  # (N, 3H)
    dxw[:-1, :, GH:] = dxw[1:, :, :GH]
    dxw[-1, :, GH:] = dcarried
    return dtap


def fo_pool(a, c0, tap):
    """a (T, N, K·3H): f, o, g pre-activations in its first 3H columns (for K = 2 still without
    x_{t−1}·W_1, which take_previous_tap adds from `tap`), activated in place; returns h and C
    (T, N, H) from C_0 (N, H), and the tap carried on (None for K = 1)."""
    carried = None if tap is None else take_previous_tap(a, tap)
    H = c0.shape[1]
    sigmoid_(a[..., :2 * H])  # f, o over the whole window in one call
    tanh_(a[..., 2 * H:3 * H])
    f, o, g = a[..., :H], a[..., H:2 * H], a[..., 2 * H:3 * H]
    c = np.empty(f.shape, a.dtype)  # (T, N, H)
    previous = c0
    for t in range(len(a)):  # C_t = g + f⊙(C_{t−1} − g): the one sequential part
        np.subtract(previous, g[t], out=c[t])
        c[t] *= f[t]
        c[t] += g[t]
        previous = c[t]
    return o * c, c, carried


def fo_pool_backward(dh, dc, dcarried, cache):
    """dh (T, N, H): ∂loss/∂h_t (overwritten); dc (N, H): ∂loss/∂C_T; dcarried: ∂loss/∂(carried
    tap) or None. cache.gates' f, o, g leave as df, do, dg (and for K = 2 the W_1 columns as
    spread_previous_tap says); returns ∂loss/∂C_0 and ∂loss/∂(initial tap) or None.

        do = dh ⊙ C_t ⊙ o(1 − o),  dC_t = dC_{t+1} ⊙ f_{t+1} + dh ⊙ o
        df = dC_t ⊙ (C_{t−1} − g) ⊙ f(1 − f),  dg = dC_t ⊙ (1 − f) ⊙ (1 − g²)
    """
    a, c0, c = cache
    H = c0.shape[1]
    f, o, g = a[..., :H], a[..., H:2 * H], a[..., 2 * H:3 * H]
    c_prev = np.concatenate([c0[None], c[:-1]])  # (T, N, H)
    do = dh * c * o * (1 - o)
    dcs = np.multiply(dh, o, out=dh)  # dh is not needed again: it becomes dC_t
    for t in reversed(range(len(a))):
        dcs[t] += dc
        dc = dcs[t] * f[t]
    df = dcs * (c_prev - g) * f * (1 - f)
    dg = dcs * (1 - f) * (1 - g * g)
    a[..., :H], a[..., H:2 * H], a[..., 2 * H:3 * H] = df, do, dg
    return dc, None if dcarried is None else spread_previous_tap(a, dcarried)


def qrnn_scan_forward(xw, state, params, pool):
    """A window (equations in qrnn_cell).  xw (T, N, K·3H) holds x_t·Wx with b added to its first
    3H columns, which leave with f, o, g; state (h_0, C_0[, p_0]) → (out (T, N, H) = h_1 … h_T,
    the final state, the cache)."""
    _, c0, *tap = state  # tap: [p_0] for K = 2
    out, c, carried = pool(xw, c0, tap[0] if tap else None)
    final = (out[-1].copy(), c[-1].copy()) + ((carried,) if tap else ())
    return out, final, ScanCache(xw, c0, c)


def qrnn_scan_backward(dout, dstate, cache, params, pool_backward):
    """dout (T, N, H): ∂loss/∂h_t (overwritten); dstate: ∂loss/∂(final state). Returns dpre
    (the cache's buffer, now ∂loss/∂xw), ∂loss/∂(initial state) and {} (no elementwise
    weights). h_0's gradient is 0: no step reads h_{t−1}."""
    dh, dc, *dcarried = dstate
    dout[-1] += dh
    dc0, dtap = pool_backward(dout, dc, dcarried[0] if dcarried else None, cache)
    return cache.gates, (np.zeros_like(dh), dc0) + ((dtap,) if dcarried else ()), {}


def qrnn_cell(config, pool=fo_pool, pool_backward=fo_pool_backward):
    """QRNN with fo-pooling (Bradbury et al. 2016) over a causal window of K = qrnn_window inputs,
    gate order f, o, g (the paper's F, O, Z; g as the LSTM names its candidate):

        a_t = x_t·W_0 + b [+ x_{t−1}·W_1]          (the W_1 term for K = 2)
        f = σ(a_f),  o = σ(a_o),  g = tanh(a_g)     forget gate (b_f initialised to 1), output, candidate
        C_t = f⊙C_{t−1} + (1 − f)⊙g,  h_t = o⊙C_t

    Shapes: Wx (D, K·3H) = [W_0 | W_1], b (3H,) on W_0's columns; no Wh. State (h, C), each
    (N, H), and for K = 2 also p (N, 3H) = x_{t−1}·W_1, so that a step needs no earlier input.
    W_1 sits beside W_0 (columns), not above it (rows, on [x_{t−1}, x_t]): one product x_t·Wx
    gives x_t's share of step t and of step t + 1, so a window is one (N·T, D) × (D, 2·3H)
    product and a generation step multiplies each input once; the one-hot first layer stays
    a lookup of V rows (and grows by rows when the vocab does).

    The gates read only the input, so the model computes a window's pre-activations at once and
    runs `scan_forward` (the recurrence, elementwise); `step_forward` is that scan over one step.
    |C_t| ≤ max(|C_0|, 1): C is a convex mix of C_{t−1} and g ∈ (−1, 1). fo_pool and
    fo_pool_backward are the NumPy reference; build_cell passes the fused ones.
    """
    forward = partial(qrnn_scan_forward, pool=pool)
    widths = (1, 1, 3) if config.qrnn_window == 2 else (1, 1)
    return Cell(partial(qrnn_init, config=config), scan_step(forward), None, widths, (), ("f", "o", "g"),
                forward, partial(qrnn_scan_backward, pool_backward=pool_backward))
