"""The character model: input → stacked recurrent cells → linear head → softmax.

Parameters live in one flat dict of arrays; gradients and optimizer state use the same keys:

    "embed"      (V, E)      only when embedding_size > 0
    "rnn.L.Wx"   (D, G·H)    D = V (one-hot), E (embedding) or H (layers above the first);
                             a window-2 QRNN's is (D, 2·G·H), its next step's share beside
    "rnn.L.Wh"   (H, G·H)    only for the cells that step (rnn, lstm, gru)
    "rnn.L.b"    (G·H,)      on Wx's first G·H columns
    "rnn.L.peep" (P, H)      only for a peephole LSTM
    "head.W"     (H, V)
    "head.b"     (V,)

Shapes: N batch, T seq_length, V vocab, E embedding, H hidden, G gates. Ids and windows
are batch-major (N, T) at the interface; inside, arrays are time-major (T, N, ·) so each
step reads one contiguous (N, ·) slice.

A layer's window starts from its input projection, one product; a cell that steps runs it step
by step (h_{t-1}·Wh waits for the last), a cell that scans (qrnn, mingru) in one elementwise scan.
Every product is `mul` of the config's products (products.py: NumPy's OpenBLAS, MKL or bfloat16),
chosen once a process; Wh is made ready for it once a window (`weight`: bf16 rounds it there).

`forward` (behind training and every forward-only use in inference.py) takes an optional
`hook(layer, state, cache) -> state`, called after every step of every layer with the step's
new state (fresh arrays, which a clamp may change in place: hooks.py) and its cache (whose
`gates` hold the activated gates: what a recorder reads). The layer above and the next step
see the state the hook returns. With a hook, a scanning layer steps too (its step is its scan
over one step), so that the hook sees, and may change, every step; that is forward only.

The training objective, for a window, is the cross-entropy summed over the T steps and
averaged over the N streams, as min-char-rnn sums over its window; `loss` is reported
per character (nats/char), so grads = ∂(T·loss)/∂params.
"""

from functools import partial
from typing import NamedTuple

import numpy as np

from .cells import CELLS, build_cell
from .cells.common import init_weights
from .products import for_config


class LossResult(NamedTuple):
    loss: float  # mean nats per character over the window
    grads: dict  # same keys as params
    state: list  # final state, to carry into the next window
    dstate: list  # gradient with respect to the initial state


def init_params(config, vocab_size, rng):
    """All parameters, drawn from `rng` in a fixed order: embedding, layers bottom-up, head."""
    cell = CELLS[config.cell](config)
    params = {}
    input_size = vocab_size
    if config.embedding_size:
        params["embed"] = rng.standard_normal((vocab_size, config.embedding_size)).astype(config.dtype)
        input_size = config.embedding_size
    for layer in range(config.num_layers):
        for name, value in cell.init_params(input_size, config.hidden_size, rng).items():
            params[f"rnn.{layer}.{name}"] = value
        input_size = config.hidden_size
    params["head.W"] = init_weights((config.hidden_size, vocab_size), rng, config, config.dtype)
    params["head.b"] = np.zeros(vocab_size, config.dtype)
    return params


def init_state(config, batch_size):
    """Zero state: one tuple per layer, (h,) or (h, c), each (N, H); a window-2 QRNN's (h, c, p), p (N, 3H)."""
    widths = CELLS[config.cell](config).state_widths
    return [tuple(np.zeros((batch_size, width * config.hidden_size), config.dtype) for width in widths)
            for _ in range(config.num_layers)]


def layer_params(params, layer):
    prefix = f"rnn.{layer}."
    return {k[len(prefix):]: v for k, v in params.items() if k.startswith(prefix)}


def forward_params(params, layer, products):
    """layer_params with Wh made ready for `products` (products.weight), once per window."""
    lp = layer_params(params, layer)
    if "Wh" in lp:  # a scanning cell has none
        lp["Wh"] = products.weight(lp["Wh"])
    return lp


def backward_params(params, layer, products):
    """layer_params plus "Wh_T": each backward step multiplies by Wh's transpose, and BLAS
    does that up to 25% faster from a contiguous copy, made here once per window (and made
    ready for `products`)."""
    lp = layer_params(params, layer)
    if "Wh" in lp:
        lp["Wh_T"] = products.weight(np.ascontiguousarray(lp["Wh"].T))
    return lp


def dropout_masks(config, shape, rng):
    """Inverted-dropout masks for each layer's output (T, N, H), or None when dropout is off.

    A unit is kept when a 16-bit draw falls below round((1 − dropout)·2¹⁶), which keeps it with
    probability within 2⁻¹⁷ of 1 − dropout at half the cost of a float draw; kept units are
    scaled by 2¹⁶/threshold, so that every mask averages exactly 1."""
    if not config.dropout:
        return None
    threshold = max(1, round((1 - config.dropout) * 65536))
    scale = np.asarray(65536 / threshold, config.dtype)
    return [np.multiply(rng.integers(0, 65536, shape, dtype=np.uint16) < threshold, scale, dtype=config.dtype)
            for _ in range(config.num_layers)]


def input_bias(lp):
    """b laid over Wx's C columns (C,): all of them, but a window-2 QRNN's next-step share
    (cells/qrnn.py), which gets 0."""
    return np.pad(lp["b"], (0, lp["Wx"].shape[1] - lp["b"].size))


def input_table(lp):
    """Wx + b: a one-hot input's projections (V, C)."""
    return lp["Wx"] + input_bias(lp)


def project(x, lp, mul=np.matmul, bias=None):
    """x @ Wx + b, (M, D) → (M, C), for a window's T·N rows or a step's N; `bias` is
    input_bias(lp), made once for the many calls of a stepper."""
    xw = mul(x, lp["Wx"])
    xw += input_bias(lp) if bias is None else bias
    return xw

def _input_projection(params, lp, layer, x, ids, mul):
    """xw = x @ Wx + b for every step at once; layer 0 with one-hot input is a row lookup."""
    if layer == 0 and "embed" not in params:
        return input_table(lp)[ids]  # (T, N, C): bias added to V rows, not T·N
    xw = project(x.reshape(-1, x.shape[2]), lp, mul)  # one (T·N, D) product: a 3-D x makes NumPy loop over T
    return xw.reshape(x.shape[:2] + (-1,))


def scatter_rows(ids, rows, num_rows):
    """Row sums of `rows` (M, C) grouped by `ids` (M,): the gradient of a row lookup.

    Sorting once and summing each contiguous run is ten times faster than np.add.at.
    """
    order = np.argsort(ids, kind="stable")
    sorted_ids, grouped = ids[order], np.take(rows, order, axis=0)
    bounds = np.flatnonzero(np.diff(sorted_ids)) + 1
    out = np.zeros((num_rows, rows.shape[1]), rows.dtype)
    for start, stop in zip(np.r_[0, bounds], np.r_[bounds, len(ids)]):
        out[sorted_ids[start]] = grouped[start:stop].sum(axis=0)
    return out


def _steps(cell, xw, layer_state, lp, hook, keep_caches):
    """A layer's window one step at a time: (out (T, N, H), final state, the steps' caches)."""
    out = np.empty((len(xw),) + layer_state[0].shape, xw.dtype)  # (T, N, H)
    layer_caches = []
    for t in range(len(xw)):
        layer_state, cache = cell.step_forward(xw[t], layer_state, lp)
        if hook is not None:
            layer_state = hook(layer_state, cache)
        out[t] = layer_state[0]
        if keep_caches:
            layer_caches.append(cache)
    return out, layer_state, layer_caches


@np.errstate(over="ignore")  # exp(−a) → inf is how the cells' σ reaches 0
def forward(params, config, ids, state, masks, keep_caches, hook=None):
    """Run the stack over time-major ids (T, N); returns top-layer outputs, states, caches."""
    cell, products = build_cell(config), for_config(config)
    scans = cell.scans and hook is None  # a hook sees every step: a scanning cell steps for it, forward only
    x = params["embed"][ids] if "embed" in params else None  # (T, N, E)
    inputs, caches, final_state = [], [], []
    for layer in range(config.num_layers):
        lp = forward_params(params, layer, products)
        xw = _input_projection(params, lp, layer, x, ids, products.mul)  # (T, N, C)
        if scans:
            out, layer_state, layer_caches = cell.scan_forward(xw, state[layer], lp)
        else:
            out, layer_state, layer_caches = _steps(cell, xw, state[layer], lp,
                                                    None if hook is None else partial(hook, layer), keep_caches)
        inputs.append(x)
        caches.append((xw, layer_caches) if keep_caches else None)
        final_state.append(layer_state)
        x = out * masks[layer] if masks else out
    return x, final_state, (inputs, caches)


def head_logits(top, params, mul=np.matmul):
    """The head's logits (T·N, V) of the top layer's outputs (T, N, H)."""
    logits = mul(top.reshape(-1, top.shape[-1]), params["head.W"])
    logits += params["head.b"]
    return logits


def _softmax_xent(top, params, targets, mul):
    """Head and softmax; returns (total nats, probabilities (T·N, V))."""
    logits = head_logits(top, params, mul)
    logits -= logits.max(axis=1, keepdims=True)  # exp cannot overflow
    target_logit = logits[np.arange(logits.shape[0]), targets.ravel()]
    probs = np.exp(logits, out=logits)
    total = probs.sum(axis=1)
    nats = np.log(total, dtype=np.float64).sum() - target_logit.sum(dtype=np.float64)
    probs /= total[:, None]
    return nats, probs


def _layer_backward(cell, lp, dout, xw, caches, dstate, mul):
    """BPTT through one layer; returns dpre (T, N, G·H), dstate at t=0 and dWh, dpeep.

    Each step writes its dpre over its slice of xw, the layer's gate buffer (the buffer
    contract in cells/__init__.py), so xw leaves as dpre and a layer's largest array exists once.
    """
    H = dout.shape[2]
    dpre = xw  # (T, N, G·H)
    # Wh's and the step-wise weights' (peepholes, norms) gradients; Wx's and b's come after, in one matmul
    grads = {k: np.zeros_like(v) for k, v in lp.items() if k not in ("Wx", "b", "Wh_T")}
    for t in reversed(range(len(caches))):
        np.add(dstate[0], dout[t], out=dstate[0])  # cells return fresh arrays: in place is safe
        _, dstate, dparams = cell.step_backward(dstate, caches[t], lp)
        for name, value in dparams.items():
            grads[name] += value
    for j, (first, last) in enumerate(cell.rec_blocks):
        rec_in = np.stack([cache.rec_in[j] for cache in caches]).reshape(-1, H)  # (T·N, H)
        grads["Wh"][:, first * H:last * H] = mul(rec_in.T, dpre[:, :, first * H:last * H].reshape(len(rec_in), -1))
    return dpre, dstate, grads


def _layer_grads(cell, lp, dout, layer_input, cache, state, ids, mul):
    """All gradients of one layer; returns (grads, d(layer input) or None, d(initial state))."""
    zero = tuple(np.zeros_like(s) for s in state)  # truncated BPTT: no gradient from the future
    if cell.scans:  # cache: (xw, the scan's cache); dout becomes the scan's to overwrite
        dpre, dstate, grads = cell.scan_backward(dout, zero, cache[1], lp)
    else:
        dpre, dstate, grads = _layer_backward(cell, lp, dout, *cache, zero, mul)
    dpre2d = dpre.reshape(-1, dpre.shape[2])  # (T·N, C)
    biased = lp["b"].size  # the columns b covers
    if layer_input is None:  # one-hot input: scatter-add rows instead of a matmul with one-hot vectors
        grads["Wx"] = scatter_rows(ids.ravel(), dpre2d, len(lp["Wx"]))
        grads["b"] = grads["Wx"][:, :biased].sum(axis=0)  # one-hot rows sum to 1: Σ_t dpre_t = Σ_v dWx_v
        return grads, None, dstate
    grads["b"] = dpre2d[:, :biased].sum(axis=0)
    grads["Wx"] = mul(layer_input.reshape(-1, layer_input.shape[2]).T, dpre2d)
    return grads, mul(dpre2d, lp["Wx"].T).reshape(layer_input.shape), dstate


def loss_and_grads(params, config, inputs, targets, state, masks=None, batch_total=None):
    """Loss (nats/char) and gradients for one (N, T) window starting from `state`.

    Both are means over `batch_total` streams (default N): a data-parallel rank holding N of
    them passes the global batch size, so the ranks' losses and gradients sum to the global ones.
    """
    N = batch_total or inputs.shape[0]
    ids = inputs.T  # (T, N)
    products = for_config(config)
    top, final_state, (layer_inputs, caches) = forward(params, config, ids, state, masks, True)
    nats, dlogits = _softmax_xent(top, params, targets.T, products.mul)
    dlogits[np.arange(dlogits.shape[0]), targets.T.ravel()] -= 1
    dlogits /= N  # sum over time, mean over the batch
    top2d = top.reshape(-1, top.shape[-1])
    grads = {"head.W": products.mul(top2d.T, dlogits), "head.b": dlogits.sum(axis=0)}
    dx = products.mul(dlogits, params["head.W"].T).reshape(top.shape)  # (T, N, H)
    cell, dstate0 = build_cell(config), []
    for layer in reversed(range(config.num_layers)):
        if masks:
            dx *= masks[layer]
        layer_grads, dx, dstate = _layer_grads(cell, backward_params(params, layer, products), dx,
                                               layer_inputs[layer], caches[layer], state[layer], ids, products.mul)
        caches[layer] = None  # free this layer's buffers before the next layer's backward
        dstate0.insert(0, dstate)
        grads.update({f"rnn.{layer}.{k}": v for k, v in layer_grads.items()})
    if "embed" in params:
        grads["embed"] = scatter_rows(ids.ravel(), dx.reshape(-1, dx.shape[2]), len(params["embed"]))
    loss = nats / (N * inputs.shape[1])  # nats/char over the whole batch
    return LossResult(loss, {k: grads[k] for k in params}, final_state, dstate0)
