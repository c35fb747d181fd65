"""How big a model is: its weight count, which the planner scales dropout by, and the memory
a window needs, which is checked before anything is allocated."""

import os

from .errors import CharrnnError


def weight_count(config, vocab_size):
    """How many weights the model has: exact for the plain LSTM and the cells that scan (no Wh;
    Wx's G·K·H columns, b's G·H); for the GRU and the RNN an upper bound, counting G = 4 gate
    blocks a layer. It leaves out layer norm's and the peepholes' few rows of H weights a layer."""
    H, L, E, V = config.hidden_size, config.num_layers, config.embedding_size, vocab_size
    scanning = {"qrnn": (3 * config.qrnn_window, 3), "mingru": (2, 2)}.get(config.cell)  # Wx's, b's blocks
    if scanning:
        columns, biases = scanning
        return V * E + ((E or V) + (L - 1) * H) * columns * H + L * biases * H + (H + 1) * V
    return V * E + ((E or V) + H + 1) * 4 * H + (L - 1) * (2 * H + 1) * 4 * H + (H + 1) * V


def memory_bytes(config, vocab_size, batch_size, seq_length):
    """A rough upper bound, in bytes, on what a (batch_size, seq_length) window needs:
    weights, gradients and up to two optimizer slots, and its activations (each layer's
    (T, N, G·H) gate buffer and a few (T, N, H) arrays, and the (T·N, V) logits), in
    float64 at worst. G is taken as 4."""
    H, L, V = config.hidden_size, config.num_layers, vocab_size
    activations = seq_length * batch_size * (L * 10 * H + 2 * V)
    return (4 * weight_count(config, vocab_size) + activations) * 8


def check_memory(config, vocab_size, batch_size, seq_length, extra_bytes=0):
    """Refuse, in one line and before allocating anything, what cannot fit in this machine's
    memory: a (batch_size, seq_length) window's needs and `extra_bytes` more."""
    try:
        available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows): NumPy's MemoryError then says it
        return
    needed = memory_bytes(config, vocab_size, batch_size, seq_length) + extra_bytes
    if needed > available:
        raise CharrnnError(f"this needs about {needed / 2**30:,.1f} GiB of memory and the machine has "
                           f"{available / 2**30:,.1f} GiB; use a smaller --hidden-size, --num-layers, --batch-size, "
                           "--seq-length, --num-samples or --beam")
