"""charrnn: character-level RNN language models on NumPy.

The public API (see the README's Python API section and docs/model.md):

    model = charrnn.load()      # a trained model: generate, score, activations (api.py)
    from charrnn import Config, init_params, init_state, loss_and_grads, step, load_checkpoint

Submodules are imported on first use so that `import charrnn` stays cheap.
"""

import importlib

__version__ = "0.1.0"

_API = {
    "load": "api",
    "Model": "api",
    "Config": "config",
    "load_config": "config",
    "CELLS": "cells",
    "init_params": "model",
    "init_state": "model",
    "loss_and_grads": "model",
    "step": "inference",
    "Vocab": "vocab",
    "load_corpus": "corpus",
    "OPTIMIZERS": "optim",
    "load_checkpoint": "checkpoint",
    "save_checkpoint": "checkpoint",
    "train": "training",
    "evaluate": "evaluation",
    "Sampler": "sample",
}
__all__ = ["__version__", *_API]


def __getattr__(name):
    if name in _API:
        return getattr(importlib.import_module(f".{_API[name]}", __name__), name)
    raise AttributeError(f"module 'charrnn' has no attribute {name!r}")
