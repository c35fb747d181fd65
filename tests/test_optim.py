"""Each optimizer against two steps computed by hand; clipping and schedules."""

import math

import numpy as np
import pytest

from charrnn.optim import OPTIMIZERS, average_decay, clip_grads, learning_rate, model_weights
from conftest import tiny_config

P0, G1, G2 = 1.0, 0.5, -2.0  # one parameter, two gradients
LR = 0.1


def two_steps(name, **config):
    params = {"w": np.array([P0])}
    optimizer = OPTIMIZERS[name](params, tiny_config(optimizer=name, **config))
    history = []
    for step, g in enumerate([G1, G2]):
        optimizer.update(params, {"w": np.array([g])}, LR, step)
        history.append(params["w"][0])
    return history


def test_adagrad_by_hand():
    mem1 = G1 ** 2
    p1 = P0 - LR * G1 / math.sqrt(mem1 + 1e-8)
    mem2 = mem1 + G2 ** 2
    p2 = p1 - LR * G2 / math.sqrt(mem2 + 1e-8)
    assert two_steps("adagrad") == pytest.approx([p1, p2], abs=1e-15)


def test_rmsprop_by_hand():
    d = 0.9
    ms1 = (1 - d) * G1 ** 2
    p1 = P0 - LR * G1 / (math.sqrt(ms1) + 1e-8)
    ms2 = d * ms1 + (1 - d) * G2 ** 2
    p2 = p1 - LR * G2 / (math.sqrt(ms2) + 1e-8)
    assert two_steps("rmsprop", rmsprop_decay=d) == pytest.approx([p1, p2], abs=1e-15)


def test_adam_by_hand():
    m1, v1 = 0.1 * G1, 0.001 * G1 ** 2
    p1 = P0 - LR * (m1 / 0.1) / (math.sqrt(v1 / 0.001) + 1e-8)
    m2, v2 = 0.9 * m1 + 0.1 * G2, 0.999 * v1 + 0.001 * G2 ** 2
    p2 = p1 - LR * (m2 / (1 - 0.9 ** 2)) / (math.sqrt(v2 / (1 - 0.999 ** 2)) + 1e-8)
    assert two_steps("adam") == pytest.approx([p1, p2], abs=1e-15)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_weight_average_by_hand(name):
    """The average starts at the initial weights and follows each step with the warmed-up decay."""
    params = {"w": np.array([P0])}
    optimizer = OPTIMIZERS[name](params, tiny_config(optimizer=name, ema_decay=0.95))
    assert model_weights(params, optimizer.slots)["w"] is not params["w"]
    average = P0
    for step, g in enumerate([G1, G2, G1]):
        optimizer.update(params, {"w": np.array([g])}, LR, step)
        decay = min(0.95, (1 + step) / (10 + step))
        average = decay * average + (1 - decay) * params["w"][0]
        assert optimizer.weights(params)["w"][0] == pytest.approx(average, abs=1e-15)
    assert average_decay(tiny_config(ema_decay=0.95), 10 ** 6) == 0.95
    plain = OPTIMIZERS[name](params, tiny_config(optimizer=name, ema_decay=0.0))
    assert "average" not in plain.slots["w"] and plain.weights(params) is params


def test_clip_by_value_and_norm():
    grads = {"a": np.array([3.0, -10.0]), "b": np.array([4.0])}
    assert clip_grads(grads, "value", 5.0) == pytest.approx(math.sqrt(125))
    assert grads["a"].tolist() == [3.0, -5.0]
    grads = {"a": np.array([3.0]), "b": np.array([4.0])}
    assert clip_grads(grads, "norm", 1.0) == pytest.approx(5.0)
    assert [grads["a"][0], grads["b"][0]] == pytest.approx([0.6, 0.8])
    grads = {"a": np.array([30.0])}
    clip_grads(grads, "value", 0)  # 0 = off
    assert grads["a"][0] == 30.0


def test_clipping_bounds_the_gradient_per_character():
    """A window's loss sums its characters: at 10 characters the bound on its gradient is 10x."""
    grads = {"a": np.array([3.0, -40.0])}
    clip_grads(grads, "value", 2.0, chars=10)
    assert grads["a"].tolist() == [3.0, -20.0]
    grads = {"a": np.array([30.0]), "b": np.array([40.0])}
    clip_grads(grads, "norm", 10.0, chars=10)  # norm 50 < 100: untouched
    assert grads["a"][0] == 30.0
    clip_grads(grads, "norm", 1.0, chars=10)
    assert [grads["a"][0], grads["b"][0]] == pytest.approx([6.0, 8.0])


def test_schedules():
    step = tiny_config(lr_schedule="step", learning_rate=1.0, lr_decay=0.5, lr_decay_every=10)
    assert [learning_rate(step, s) for s in (0, 9, 10, 25)] == [1.0, 1.0, 0.5, 0.25]
    cosine = tiny_config(lr_schedule="cosine", learning_rate=1.0, min_lr=0.1, lr_decay_every=100)
    assert learning_rate(cosine, 0) == 1.0
    assert learning_rate(cosine, 50) == pytest.approx(0.55)
    assert learning_rate(cosine, 100) == pytest.approx(0.1) and learning_rate(cosine, 500) == pytest.approx(0.1)
