"""The matmul-only bound: the matrix products of one training window, timed alone.

These are the products model.py makes for an (N, T) window, with the same shapes, the same
views and the same order, through the config's products (charrnn/products.py), on random arrays,
with nothing in between: per layer the input
projection (none for a one-hot first layer, which is a row lookup), one product per step
and recurrent block forward and again backward (none for the cells that scan), the weight
gradients, the input gradient; and the head. Their time is what this machine's BLAS needs
for the window, so charrnn's chars/s over the bound's chars/s is the share of a step spent
in matmuls.
"""

import time

import numpy as np


def products(config, vocab_size, batch_size, seq_length, backward):
    """A function making one window's products (forward only, or forward and backward)."""
    from charrnn.cells import build_cell
    from charrnn.products import for_config

    rng = np.random.default_rng(0)
    dtype, N, T, H, V = np.dtype(config.dtype), batch_size, seq_length, config.hidden_size, vocab_size
    cell = build_cell(config)
    blocks = [(first * H, last * H) for first, last in cell.rec_blocks]  # none for the cells that scan
    width = cell.init_params(1, H, np.random.default_rng(0))["Wx"].shape[1]  # G·H (a window-2 QRNN's 2·G·H)

    def rand(*shape):
        return rng.standard_normal(shape).astype(dtype)

    Wh, Wx, head = rand(H, width), rand(config.embedding_size or H, width), rand(H, V)
    Wh_T = np.ascontiguousarray(Wh.T)  # as model.backward_params makes it
    h, dpre_t = rand(N, H), rand(N, width)  # one step's
    x, top, dpre, dlogits = rand(T * N, Wx.shape[0]), rand(T * N, H), rand(T * N, width), rand(T * N, V)
    layer_has_wx = [bool(layer or config.embedding_size) for layer in range(config.num_layers)]
    mul, weight = for_config(config).mul, for_config(config).weight

    def window():
        for has_wx in layer_has_wx:
            if has_wx:
                mul(x, Wx)
            ready = weight(Wh)  # once a window, as model.forward_params makes it
            for _ in range(T):
                for first, last in blocks:
                    mul(h, ready[:, first:last])
        mul(top, head)
        if not backward:
            return
        mul(top.T, dlogits)
        mul(dlogits, head.T)
        for has_wx in reversed(layer_has_wx):
            ready = weight(Wh_T)
            for _ in range(T):
                for first, last in blocks:
                    mul(dpre_t[:, first:last], ready[first:last])
            for first, last in blocks:
                mul(top.T, dpre[:, first:last])
            if has_wx:
                mul(x.T, dpre)
                mul(dpre, Wx.T)

    return window


def bound_seconds(config, vocab_size, batch_size, seq_length, backward=True, repeats=5):
    """Best-of-`repeats` seconds for one window's products."""
    window = products(config, vocab_size, batch_size, seq_length, backward)
    window()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        window()
        best = min(best, time.perf_counter() - start)
    return best
