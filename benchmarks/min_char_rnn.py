"""Karpathy's min-char-rnn.py (2015), kept faithful: column vectors, one-hot inputs, batch 1.

The reference that tests/test_model.py checks charrnn against and that `make bench` times.
Only the module-level script was turned into functions; the arithmetic is his.
"""

import numpy as np


def init(vocab_size, hidden_size, rng):
    Wxh = rng.standard_normal((hidden_size, vocab_size)) * 0.01
    Whh = rng.standard_normal((hidden_size, hidden_size)) * 0.01
    Why = rng.standard_normal((vocab_size, hidden_size)) * 0.01
    return [Wxh, Whh, Why, np.zeros((hidden_size, 1)), np.zeros((vocab_size, 1))]


def lossFun(inputs, targets, hprev, Wxh, Whh, Why, bh, by):
    vocab_size = Wxh.shape[1]
    xs, hs, ys, ps = {}, {}, {}, {}
    hs[-1] = np.copy(hprev)
    loss = 0
    for t in range(len(inputs)):
        xs[t] = np.zeros((vocab_size, 1))
        xs[t][inputs[t]] = 1
        hs[t] = np.tanh(np.dot(Wxh, xs[t]) + np.dot(Whh, hs[t - 1]) + bh)
        ys[t] = np.dot(Why, hs[t]) + by
        ps[t] = np.exp(ys[t]) / np.sum(np.exp(ys[t]))
        loss += -np.log(ps[t][targets[t], 0])
    dWxh, dWhh, dWhy = np.zeros_like(Wxh), np.zeros_like(Whh), np.zeros_like(Why)
    dbh, dby = np.zeros_like(bh), np.zeros_like(by)
    dhnext = np.zeros_like(hs[0])
    for t in reversed(range(len(inputs))):
        dy = np.copy(ps[t])
        dy[targets[t]] -= 1
        dWhy += np.dot(dy, hs[t].T)
        dby += dy
        dh = np.dot(Why.T, dy) + dhnext
        dhraw = (1 - hs[t] * hs[t]) * dh
        dbh += dhraw
        dWxh += np.dot(dhraw, xs[t].T)
        dWhh += np.dot(dhraw, hs[t - 1].T)
        dhnext = np.dot(Whh.T, dhraw)
    return loss, dWxh, dWhh, dWhy, dbh, dby, hs[len(inputs) - 1]


def adagrad_step(params, grads, mems, learning_rate=1e-1):
    for param, dparam, mem in zip(params, grads, mems):
        np.clip(dparam, -5, 5, out=dparam)
        mem += dparam * dparam
        param += -learning_rate * dparam / np.sqrt(mem + 1e-8)


def train(data, params, iterations, seq_length=25):
    """min-char-rnn's main loop over a list of ids, for `iterations` steps."""
    mems = [np.zeros_like(p) for p in params]
    hprev, p = np.zeros((params[1].shape[0], 1)), 0
    for _ in range(iterations):
        if p + seq_length + 1 >= len(data):
            hprev, p = np.zeros_like(hprev), 0
        loss, *grads, hprev = lossFun(data[p:p + seq_length], data[p + 1:p + seq_length + 1], hprev, *params)
        adagrad_step(params, grads, mems)
        p += seq_length


def sample(h, seed_ix, n, Wxh, Whh, Why, bh, by):
    vocab_size = Wxh.shape[1]
    x = np.zeros((vocab_size, 1))
    x[seed_ix] = 1
    ixes = []
    for t in range(n):
        h = np.tanh(np.dot(Wxh, x) + np.dot(Whh, h) + bh)
        y = np.dot(Why, h) + by
        p = np.exp(y) / np.sum(np.exp(y))
        ix = np.random.choice(range(vocab_size), p=p.ravel())
        x = np.zeros((vocab_size, 1))
        x[ix] = 1
        ixes.append(ix)
    return ixes
