"""The model's forward-only uses: log-probabilities of windows, a prompt to read, and one
generation step.

All take the optional `hook(layer, state, cache) -> state` that model.forward describes:
a clamp holds units at values (hooks.Clamp), a recorder keeps activations (hooks.Recorder).
Shapes as in model.py: N streams, T steps, V vocab, H hidden.
"""

from functools import cache

import numpy as np

from .cells import build_cell, column_step
from .choose import log_softmax
from .errors import CharrnnError
from .model import forward, forward_params, head_logits, init_state, input_bias, input_table, project
from .products import for_config
from .streams import Prompt


def run_layers(params, config, inputs, state, hook=None):
    """Forward through the recurrent layers only: inputs (N, T) → top layer's h (T, N, H), final state."""
    top, final_state, _ = forward(params, config, inputs.T, state, None, False, hook)
    return top, final_state


def log_probs(params, config, inputs, state, hook=None):
    """Forward only: log-probabilities of every next symbol (N, T, V), and the final state."""
    top, final_state = run_layers(params, config, inputs, state, hook)
    logp = log_softmax(head_logits(top, params, for_config(config).mul), top.dtype, copy=False)  # (T·N, V)
    return logp.reshape(top.shape[:2] + (-1,)).swapaxes(0, 1), final_state


def pick(logp, targets):
    """Each target's entry of logp (N, T, V): (N, T)."""
    return np.take_along_axis(logp, targets[..., None], axis=2)[..., 0]


def log_likelihood(params, config, inputs, targets, state, hook=None):
    """Forward only: log-probabilities of `targets` (N, T) and the final state."""
    logp, final_state = log_probs(params, config, inputs, state, hook)
    return pick(logp, targets), final_state


def reader(params, config, hook=None):
    """read(ids (T,), state) → the state after reading ids as one stream (`hook` as in model.forward):
    how every door reads a prompt (streams.Prompt)."""
    return lambda ids, state: run_layers(params, config, np.asarray(ids)[None], state, hook)[1]


def prompt(params, config, vocab, text, hook=None):
    """A streams.Prompt of `text` (str or bytes), not yet read; CharrnnError when it is empty
    or has characters outside the vocab."""
    ids, _ = vocab.encode(text)
    if len(ids) == 0:
        raise CharrnnError("the seed text is empty")
    return Prompt(ids, reader(params, config, hook), init_state(config, 1))


COLUMNS_FROM = 4  # streams from which the fused LSTM steps by columns (column_stepper; measured)


def make_stepper(params, config):
    """step(ids (N,), state, hook=None) → (logits (N, V), next state), for generating one character
    at a time; `hook` as in model.forward.

    Everything that does not change between steps (per-layer parameter dicts, the first
    layer's input table with its bias folded in) is prepared here, once. Call it under
    np.errstate(over="ignore"), as `step` does, since the cells' σ overflows exp by design.
    From COLUMNS_FROM streams on and without a hook, the fused LSTM takes column_stepper's path, whose state
    arrays are transposed views: give them back to the stepper, or make them contiguous
    (as `step` does) before model.forward, whose fused cells take C-contiguous arrays.
    """
    cell, products = build_cell(config), for_config(config)
    layers = [forward_params(params, layer, products) for layer in range(config.num_layers)]
    embed, head_W, head_b = params.get("embed"), products.weight(params["head.W"]), params["head.b"]
    first_table = None if embed is not None else input_table(layers[0])  # (V, G·H)
    biases = [input_bias(lp) for lp in layers]  # (G·H,)
    lstm_columns = column_step(config)

    @cache
    def by_columns():  # built at the first step of COLUMNS_FROM streams: its weights are transposed copies
        return column_stepper(params, layers, first_table, lstm_columns, products)

    def stepper(ids, state, hook=None):
        if lstm_columns is not None:
            if hook is None and len(ids) >= COLUMNS_FROM:
                return by_columns()(ids, state)
            state = contiguous(state)  # column_stepper's views
        next_state = []
        x = None if embed is None else embed[ids]  # (N, E)
        for layer, lp in enumerate(layers):
            xw = first_table[ids] if x is None else project(x, lp, products.mul, biases[layer])  # (N, G·H)
            layer_state, cache = cell.step_forward(xw, state[layer], lp)
            if hook is not None:
                layer_state = hook(layer, layer_state, cache)
            next_state.append(layer_state)
            x = layer_state[0]
        logits = products.mul(x, head_W)
        logits += head_b
        return logits, next_state

    return stepper


def column_stepper(params, layers, first_table, lstm_columns, products):
    """make_stepper's step for the fused LSTM with the batch held by columns: each product is
    Wᵀ (G·H, ·) · xᵀ (·, N), which OpenBLAS ran 4-33% faster than x·W from 4 to 64 streams
    (docs/serving.md, "Threads per block, the column step and prompt slices"), and the gates
    work on the (G·H, N) result (the first layer's gathered columns are copied once). The
    state goes in and out as make_stepper's (N, H) arrays, here transposed views; `layers` and
    `first_table` are make_stepper's, and `products` its (lstm_columns multiplies through them too)."""
    embed, mul, weight = params.get("embed"), products.mul, products.weight
    inputs_T = [weight(np.ascontiguousarray(lp["Wx"].T)) for lp in layers]  # (G·H, D)
    biases = [lp["b"][:, None] for lp in layers]  # (G·H, 1)
    recurrent_T = [np.ascontiguousarray(lp["Wh"].T) for lp in layers]  # (G·H, H), ready as layers' Wh is
    first_table_T = None if first_table is None else np.ascontiguousarray(first_table.T)  # (G·H, V)
    head_T, head_b = weight(np.ascontiguousarray(params["head.W"].T)), params["head.b"][:, None]  # (V, H), (V, 1)

    def step(ids, state):
        next_state = []
        x = None if embed is None else embed[ids].T  # (E, N)
        for layer, (h, c) in enumerate(state):
            if x is None:
                a = first_table_T[:, ids]  # (G·H, N)
            else:
                a = mul(inputs_T[layer], x)
                a += biases[layer]
            x, c = lstm_columns(a, np.ascontiguousarray(h.T), np.ascontiguousarray(c.T), recurrent_T[layer])
            next_state.append((x.T, c.T))
        logits = mul(head_T, x)  # (V, N)
        logits += head_b
        return logits.T, next_state

    return step


def contiguous(state):
    """The state with each array C-contiguous (copied only where it is not)."""
    return [tuple(map(np.ascontiguousarray, layer)) for layer in state]


@np.errstate(over="ignore")
def step(params, config, ids, state):
    """One step: ids (N,) → logits (N, V) and the next state, C-contiguous (see make_stepper
    for loops)."""
    logits, next_state = make_stepper(params, config)(ids, state)
    return np.ascontiguousarray(logits), contiguous(next_state)
