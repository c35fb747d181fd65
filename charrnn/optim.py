"""Gradient clipping, learning-rate schedules and the optimizers.

Each optimizer updates params in place and keeps its state in `slots`, a dict keyed like
params ({"rnn.0.Wh": {"mem": array}}), which the checkpoint stores as optim/<key>/<slot>.
The step count that Adam's bias correction needs is the training step, passed in.

With `ema_decay`, every optimizer also keeps an exponential moving average of the weights
in the slot "average" (Polyak averaging): the trained weights keep taking the optimizer's
noisy steps, while validation, checkpoints' users and samples read their smoother average.
"""

import math

import numpy as np


def clip_grads(grads, mode, value, chars=1):
    """Clip in place (element-wise to ±value, or to global norm `value`); 0 = off.

    `value` bounds the gradient per character: the loss sums `chars` characters (a window's
    seq_length), so its gradients are `chars` times the per-character ones and the threshold
    is value · chars. So a setting means the same at every seq_length.
    Returns the global norm before clipping, float64, for logging and the divergence guard.
    """
    norm = math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))
    value *= chars
    if value and mode == "value":
        for g in grads.values():
            np.clip(g, -value, value, out=g)
    elif value and norm > value:
        for g in grads.values():
            g *= value / norm
    return norm


def learning_rate(config, step):
    """The learning rate for 0-based `step`: a linear warm-up over warmup_steps, then constant,
    step decay, or cosine to min_lr (counted from the end of the warm-up)."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    step -= config.warmup_steps
    if config.lr_schedule == "step":
        return config.learning_rate * config.lr_decay ** (step // config.lr_decay_every)
    if config.lr_schedule == "cosine":
        progress = min(step / config.lr_decay_every, 1.0)
        return config.min_lr + 0.5 * (config.learning_rate - config.min_lr) * (1 + math.cos(math.pi * progress))
    return config.learning_rate


SCHEDULES = ("constant", "step", "cosine")


def average_decay(config, step):
    """The average's decay after 0-based `step`: ema_decay, shortened early as TensorFlow's
    ExponentialMovingAverage does, so that the average never drags in much more than the
    last tenth of a run (in a short run, the weights it starts from are far from good ones)."""
    return min(config.ema_decay, (1 + step) / (10 + step))


def model_weights(params, slots):
    """The weights to validate, save as the model and sample from: the average when kept."""
    if all("average" in s for s in slots.values()):
        return {k: s["average"] for k, s in slots.items()}
    return params


class Optimizer:
    """Shared bookkeeping: one zero-initialised array per slot per parameter, and the average."""

    slot_names = ()

    def __init__(self, params, config):
        self.config = config
        self.slots = {k: {s: np.zeros_like(p) for s in self.slot_names} for k, p in params.items()}
        if config.ema_decay:
            for key, p in params.items():
                self.slots[key]["average"] = p.copy()

    @classmethod
    def slots_for(cls, config):
        """The slot names a checkpoint of this config holds for each parameter."""
        return cls.slot_names + (("average",) if config.ema_decay else ())

    def update(self, params, grads, lr, step):
        for key, p in params.items():
            self.apply(p, grads[key], self.slots[key], lr, step)
        if self.config.ema_decay:
            self._follow(params, average_decay(self.config, step))

    def _follow(self, params, decay):
        """average += (1 − decay)·(p − average), with one temporary array per parameter."""
        for key, p in params.items():
            average = self.slots[key]["average"]
            gap = p - average
            gap *= 1 - decay
            average += gap

    def weights(self, params):
        return model_weights(params, self.slots)


class Adagrad(Optimizer):
    """min-char-rnn's: mem += g², p −= lr·g/√(mem + 1e-8)."""

    slot_names = ("mem",)

    def apply(self, p, g, slots, lr, step):
        mem = slots["mem"]
        mem += g * g
        p -= lr * g / np.sqrt(mem + 1e-8)


class RMSProp(Optimizer):
    """char-rnn's: ms = d·ms + (1 − d)·g², p −= lr·g/(√ms + 1e-8), d = rmsprop_decay."""

    slot_names = ("ms",)

    def apply(self, p, g, slots, lr, step):
        decay = self.config.rmsprop_decay
        ms = slots["ms"]
        ms *= decay
        ms += (1 - decay) * g * g
        p -= lr * g / (np.sqrt(ms) + 1e-8)


class Adam(Optimizer):
    """Kingma & Ba: β1 0.9, β2 0.999, ε 1e-8, bias-corrected with the 1-based step t."""

    slot_names = ("m", "v")
    beta1, beta2, eps = 0.9, 0.999, 1e-8

    def apply(self, p, g, slots, lr, step):
        m, v, t = slots["m"], slots["v"], step + 1
        m *= self.beta1
        m += (1 - self.beta1) * g
        v *= self.beta2
        v += (1 - self.beta2) * g * g
        m_hat = m / (1 - self.beta1 ** t)
        v_hat = v / (1 - self.beta2 ** t)
        p -= lr * m_hat / (np.sqrt(v_hat) + self.eps)


OPTIMIZERS = {"adagrad": Adagrad, "rmsprop": RMSProp, "adam": Adam}
