"""Exporting a trained model to other runtimes: an ONNX graph (onnx.py) and a web bundle (web.py).

Both read a checkpoint through `load_exportable`, the one place that knows how a trained model
is loaded, and write through files.py, which never leaves a partial file behind.
"""

import hashlib
from typing import NamedTuple

from ..errors import CharrnnError


class Exportable(NamedTuple):
    weights: dict  # the arrays `charrnn sample` uses: the weight average where the run kept one
    config: object
    vocab: object
    sha256: str  # of the checkpoint file, so an exported file names its source


def load_exportable(path):
    """The trained model at `path` (a checkpoint file or run directory), as charrnn.load reads it."""
    from ..api import load

    model = load(path)
    digest = hashlib.sha256(model.path.read_bytes()).hexdigest()
    return Exportable(model.params, model.config, model.vocab, digest)


def onnx_exporter():
    """export_onnx from onnx.py, or a one-line error naming the extra when `onnx` is missing."""
    try:
        from .onnx import export_onnx
    except ModuleNotFoundError as e:
        if e.name != "onnx" and not e.name.startswith("onnx."):
            raise
        raise CharrnnError("export onnx needs the onnx package: pip install 'charrnn[export]'") from None
    return export_onnx
