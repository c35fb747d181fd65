"""Models with weights drawn at random for the export tests, and charrnn's own logits for them."""

import numpy as np

from charrnn.checkpoint import Checkpoint, save_checkpoint
from charrnn.config import make_config
from charrnn.inference import make_stepper
from charrnn.model import init_params, init_state
from charrnn.optim import OPTIMIZERS
from conftest import VARIANTS

SHAPES = {  # layers and input
    "1-onehot": dict(num_layers=1),
    "2-onehot": dict(num_layers=2),
    "2-embed": dict(num_layers=2, embedding_size=7),
}


def random_config(variant, shape="2-embed", dtype="float32", hidden_size=12):
    return make_config(dict(hidden_size=hidden_size, dtype=dtype, ema_decay=0.0, **VARIANTS[variant], **SHAPES[shape]))


def random_weights(config, vocab_size, seed=0):
    """init_params' matrices, and biases, peepholes and layer-norm gains and shifts drawn too:
    every entry of every gate block on its own, since equal blocks would hide a permutation."""
    rng = np.random.default_rng(seed)
    params = init_params(config, vocab_size, rng)
    for key, value in params.items():
        if key.rsplit(".", 1)[-1] in ("b", "peep", "ln_shift"):
            value[...] = rng.normal(0, 0.5, value.shape)
        elif key.endswith("ln_gain"):
            value[...] = rng.uniform(0.5, 1.5, value.shape)
    return params


def save_random_checkpoint(path, config, vocab, seed=0):
    params = random_weights(config, vocab.size, seed)
    meta = {"step": 0, "epoch": 0, "window": 0, "rng": {}, "best_val": None, "initial_loss": None, "elapsed": 0.0}
    save_checkpoint(path, Checkpoint(config, vocab, params, OPTIMIZERS[config.optimizer](params, config).slots,
                                     init_state(config, config.batch_size), meta))
    return params


def charrnn_logits(params, config, ids):
    """charrnn's logits (T, V) and final state for ids (T,), one step at a time, as `sample` runs."""
    step, state, logits = make_stepper(params, config), init_state(config, 1), []
    with np.errstate(over="ignore"):
        for i in ids:
            step_logits, state = step(np.array([i]), state)
            logits.append(step_logits[0])
    return np.array(logits), [array[0] for layer in state for array in layer]


def onnx_logits(session, ids, chunks=10):
    """The exported graph's logits (T, V) and final state for ids (T,), fed in `chunks` pieces
    with the state carried, starting from zeros."""
    state = {i.name: np.zeros([1, i.shape[1]], np.float32 if i.type == "tensor(float)" else np.float64)
             for i in session.get_inputs() if i.name != "ids"}
    logits = []
    for chunk in np.array_split(np.asarray(ids, np.int64), chunks):
        out = session.run(None, {"ids": chunk[:, None], **state})
        logits.append(out[0][:, 0])
        state = dict(zip(state, out[1:]))
    return np.concatenate(logits), [s[0] for s in state.values()]
