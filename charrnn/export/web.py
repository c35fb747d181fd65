"""`charrnn export web DIR`: a dependency-free bundle that samples in a browser (from disk, offline)
and under Node.

    model.json   config, vocabulary (code points, or byte values in byte mode), gate order and a
                 tensor table: name, shape and byte offset of each array in weights.bin
                 (sampler.mjs's header has the layout and each cell's step)
    weights.bin  the arrays in charrnn's own layout (model.py), little-endian float32
    weights.js   model.json and weights.bin again, as one script: browsers refuse fetch() from a
                 page opened as file://, but load a <script src> beside it
    sampler.mjs  the sampler (no dependencies): `node sampler.mjs --prime TEXT --n N`
    index.html   a page that loads weights.js and sampler.mjs as classic scripts and generates
"""

import base64
import json
from importlib.resources import files

import numpy as np

from .. import __version__
from ..cells import CELLS
from ..cells.layernorm import LN_EPS
from ..errors import CharrnnError
from . import load_exportable
from .files import check_target, directory_of

STATIC = ("sampler.mjs", "index.html")  # package data, copied as they are


def model_json(model, tensors):
    """The bundle's description: everything but the numbers, which weights.bin holds."""
    return {
        "format": "charrnn-web/1",
        "charrnn_version": __version__,
        "checkpoint_sha256": model.sha256,
        "config": model.config.to_dict(),
        "vocab": model.vocab.to_json(),
        "gate_order": gate_order(model.config),
        "layer_norm_epsilon": LN_EPS,
        "tensors": tensors,
    }


def gate_order(config):
    """The cell's gate blocks of Wx's, Wh's and b's columns, in its order (cells/*.py): the RNN's
    one block is h itself."""
    return list(CELLS[config.cell](config).gate_names or ("h",))


def bundle_files(model):
    """{file name: bytes} of the bundle."""
    tensors, chunks, offset = [], [], 0
    for name, array in model.weights.items():
        data = np.ascontiguousarray(array, "<f4").tobytes()
        tensors.append({"name": name, "shape": list(array.shape), "offset": offset})
        chunks.append(data)
        offset += len(data)
    weights = b"".join(chunks)
    description = json.dumps(model_json(model, tensors), indent=1)
    script = (f"// charrnn export web: model.json and weights.bin (base64) for index.html\n"
              f"globalThis.charrnnBundle = {{model: {description}, weights: \"{base64.b64encode(weights).decode()}\"}};\n")
    data = {"model.json": description.encode(), "weights.bin": weights, "weights.js": script.encode()}
    data.update({name: files(__package__).joinpath(name).read_bytes() for name in STATIC})
    return data


def export_web(source, directory, overwrite=False):
    """Write the bundle for the model in checkpoint `source` (file or run directory) to `directory`."""
    directory = check_target(directory, overwrite, is_dir=True)
    model = load_exportable(source)
    if model.config.dtype != "float32":
        raise CharrnnError(f"export web writes float32 weights and this model is {model.config.dtype}: they would "
                           "be rounded; export onnx keeps them exact")
    with directory_of(directory, keep="model.json") as tmp:
        for name, data in bundle_files(model).items():
            (tmp / name).write_bytes(data)
    return directory
