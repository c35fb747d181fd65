"""The model's forward-only uses: log-probabilities of windows, and one generation step.

Both take the optional `hook(layer, state, cache) -> state` that model.forward describes:
a clamp holds units at values (hooks.Clamp), a recorder keeps activations (hooks.Recorder).
Shapes as in model.py: N streams, T steps, V vocab, H hidden.
"""

import numpy as np

from .cells import build_cell
from .model import forward, init_state, layer_params, shifted_logits


def run_layers(params, config, inputs, state, hook=None):
    """Forward through the recurrent layers only: inputs (N, T) → top layer's h (T, N, H), final state."""
    top, final_state, _ = forward(params, config, inputs.T, state, None, False, hook)
    return top, final_state


def log_probs(params, config, inputs, state, hook=None):
    """Forward only: log-probabilities of every next symbol (N, T, V), and the final state."""
    top, final_state = run_layers(params, config, inputs, state, hook)
    logp = shifted_logits(top, params)  # (T·N, V)
    logp -= np.log(np.exp(logp).sum(axis=1))[:, None]
    return logp.reshape(top.shape[:2] + (-1,)).swapaxes(0, 1), final_state


def pick(logp, targets):
    """Each target's entry of logp (N, T, V): (N, T)."""
    return np.take_along_axis(logp, targets[..., None], axis=2)[..., 0]


def log_likelihood(params, config, inputs, targets, state, hook=None):
    """Forward only: log-probabilities of `targets` (N, T) and the final state."""
    logp, final_state = log_probs(params, config, inputs, state, hook)
    return pick(logp, targets), final_state


def primed_state(params, config, ids, copies=1, hook=None):
    """The state after reading a prompt's ids (T,) all but the last, which is the first input
    to generate from; repeated for `copies` streams, each array (copies, H)."""
    state = init_state(config, 1)
    if len(ids) > 1:
        _, state = run_layers(params, config, np.asarray(ids)[None, :-1], state, hook)
    return [tuple(np.repeat(s, copies, axis=0) for s in layer) for layer in state]


def make_stepper(params, config, hook=None):
    """step(ids (N,), state) → (logits (N, V), next state), for generating one character at a time;
    `hook` as in model.forward.

    Everything that does not change between steps (per-layer parameter dicts, the first
    layer's input table with its bias folded in) is prepared here, once. Call it under
    np.errstate(over="ignore"), as `step` does, since the cells' σ overflows exp by design.
    """
    cell = build_cell(config)
    layers = [layer_params(params, layer) for layer in range(config.num_layers)]
    embed, head_W, head_b = params.get("embed"), params["head.W"], params["head.b"]
    first_table = None if embed is not None else layers[0]["Wx"] + layers[0]["b"]  # (V, G·H)

    def stepper(ids, state):
        next_state = []
        x = None if embed is None else embed[ids]  # (N, E)
        for layer, lp in enumerate(layers):
            xw = first_table[ids] if x is None else x @ lp["Wx"] + lp["b"]  # (N, G·H)
            layer_state, cache = cell.step_forward(xw, state[layer], lp)
            if hook is not None:
                layer_state = hook(layer, layer_state, cache)
            next_state.append(layer_state)
            x = layer_state[0]
        logits = x @ head_W
        logits += head_b
        return logits, next_state

    return stepper


@np.errstate(over="ignore")
def step(params, config, ids, state):
    """One step: ids (N,) → logits (N, V) and the next state (see make_stepper for loops)."""
    return make_stepper(params, config)(ids, state)
