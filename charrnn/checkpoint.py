"""One self-describing checkpoint file: `.npz` arrays plus one JSON metadata string, never pickle.

Arrays: params/<key>, optim/<key>/<slot> (the weight average too, as the slot "average") and
state/<layer>/<k> (the carried hidden state).
Metadata (the `meta` array, UTF-8 JSON): format_version, config, vocab, step, epoch,
window, rng, best_val, initial_loss, corpus, elapsed. Loading disables pickle and checks
every array's name, shape and dtype against what the config implies, so a file from a
stranger can be rejected but never run code.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .atomic import replacing
from .cells import CELLS
from .config import make_config
from .errors import CharrnnError
from .metadata import check_meta
from .model import init_params, init_state
from .optim import OPTIMIZERS, model_weights
from .sizes import weight_count
from .vocab import Vocab

UNPACK_RATIO = 100  # charrnn stores its arrays uncompressed (1:1); deflate reaches ~1000:1 on zeros
FORMAT_VERSION = 2  # 2: grad_clip bounds the per-character gradient (1: the window's summed one)


@dataclass
class Checkpoint:
    config: object
    vocab: Vocab
    params: dict
    slots: dict  # optimizer state, keyed like params
    state: list  # carried hidden state, one tuple per layer
    meta: dict
    path: Path = None

    @property
    def weights(self):
        """The model to sample from and score: the weight average when the run kept one."""
        return model_weights(self.params, self.slots)


def save_checkpoint(path, checkpoint):
    """Write atomically: a temporary file in the same directory, fsync, then rename over `path`."""
    path = Path(path)
    arrays = {f"params/{k}": v for k, v in checkpoint.params.items()}
    arrays.update({f"optim/{k}/{s}": v for k, slots in checkpoint.slots.items() for s, v in slots.items()})
    arrays.update({f"state/{n}/{i}": v for n, layer in enumerate(checkpoint.state) for i, v in enumerate(layer)})
    meta = dict(checkpoint.meta, format_version=FORMAT_VERSION, config=checkpoint.config.to_dict(),
                vocab=checkpoint.vocab.to_json())
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    try:
        with replacing(path, durable=True) as f:
            np.savez(f, **arrays)
    except OSError as e:
        raise CharrnnError(f"cannot write checkpoint {path}: {e.strerror}; the previous checkpoint is kept") from None


def _read_npz(path):
    try:
        with open(path, "rb") as f:
            if f.read(4) != b"PK\x03\x04":
                raise CharrnnError(f"{path} is not a charrnn checkpoint (not an .npz archive)")
        with np.load(path, allow_pickle=False) as npz:
            unpacked = sum(info.file_size for info in npz.zip.infolist())
            if unpacked > UNPACK_RATIO * path.stat().st_size + (1 << 20):
                raise CharrnnError(f"{path} would unpack to {unpacked:,} bytes, far more than the file holds: "
                                   "corrupt, or a zip bomb")
            return {name: npz[name] for name in npz.files}
    except CharrnnError:
        raise
    except ValueError as e:
        if "Object arrays" in str(e):
            raise CharrnnError(f"{path} holds object arrays, which charrnn refuses to unpickle") from None
        raise CharrnnError(f"{path} is not a charrnn checkpoint ({one_line(e)})") from None
    except Exception as e:  # noqa: BLE001  damaged bytes reach zipfile's and NumPy's parsers, which raise whatever
        # their code meets first: OSError, EOFError, BadZipFile, a .npy header's SyntaxError, struct.error...
        raise CharrnnError(f"{path} is truncated or corrupt ({type(e).__name__}: {one_line(e)})") from None


def one_line(error):
    return " ".join(str(error).split())[:200]


def _expect(arrays, name, like, path):
    if name not in arrays:
        raise CharrnnError(f"{path} is missing array {name!r}")
    value = arrays.pop(name)
    if value.shape != like.shape or value.dtype != like.dtype:
        raise CharrnnError(f"{path}: array {name!r} is {value.dtype}{list(value.shape)}, "
                           f"expected {like.dtype}{list(like.shape)} for its config")
    if not np.isfinite(value).all():  # training never saves one: it stops when weights go non-finite
        raise CharrnnError(f"{path}: array {name!r} holds NaN or infinite values")
    return value


def _no_larger_than_file(arrays, config, vocab, path):
    """Refuse, before the template is allocated, a config whose arrays would be far larger than the
    file's: a 1 KB file claiming hidden_size 10**6 would otherwise take all memory (weight_count is
    at most 4 times the true count)."""
    held = {kind: sum(v.size for k, v in arrays.items() if k.startswith(kind)) for kind in ("params/", "state/")}
    state = config.num_layers * CELLS[config.cell](config).state_size * config.batch_size * config.hidden_size
    if weight_count(config, vocab.size) > 4 * held["params/"] or state > held["state/"]:
        raise CharrnnError(f"{path}: its arrays are far smaller than its config implies ({config.cell} "
                           f"{config.num_layers}x{config.hidden_size}, vocab {vocab.size}, batch {config.batch_size})")


def _upgraded(config, version):
    """A config from an older format, with each setting meaning what it meant when it was saved."""
    if version < 2 and "grad_clip" in config:
        config = dict(config, grad_clip=config["grad_clip"] / config.get("seq_length", 100))
    return {"ema_decay": 0.0, "state_reset": 0.0, **config}  # saved before these existed: neither was used


def load_checkpoint(path):
    """Load and validate a checkpoint file written by save_checkpoint."""
    path = Path(path)
    arrays = _read_npz(path)
    try:
        meta = json.loads(arrays.pop("meta").tobytes().decode())
        check_meta(meta)
        version = meta["format_version"]
        if version > FORMAT_VERSION:
            raise CharrnnError(f"{path} was written by a newer charrnn (format {version}; this one reads "
                               f"{FORMAT_VERSION}); upgrade charrnn")
        config = make_config(_upgraded(meta["config"], version))
        vocab = Vocab.from_json(meta["vocab"])
    except (KeyError, ValueError, TypeError, UnicodeDecodeError, RecursionError) as e:
        raise CharrnnError(f"{path} has missing or invalid metadata ({type(e).__name__}: {one_line(e)})") from None
    _no_larger_than_file(arrays, config, vocab, path)
    template = init_params(config, vocab.size, np.random.default_rng(0))
    params = {k: _expect(arrays, f"params/{k}", v, path) for k, v in template.items()}
    slot_names = OPTIMIZERS[config.optimizer].slots_for(config)
    slots = {k: {s: _expect(arrays, f"optim/{k}/{s}", v, path) for s in slot_names} for k, v in template.items()}
    state = [tuple(_expect(arrays, f"state/{n}/{i}", v, path) for i, v in enumerate(layer))
             for n, layer in enumerate(init_state(config, config.batch_size))]
    if arrays:
        raise CharrnnError(f"{path} has unexpected arrays: {', '.join(sorted(arrays)[:5])}")
    return Checkpoint(config, vocab, params, slots, state, meta, path)


def find_checkpoint(path=None, root="checkpoints", prefer="best.npz"):
    """A checkpoint file: `path` itself when it is a file; else the run in directory `path`,
    or the newest run under `root` (by its latest.npz). A run resolves to its `prefer` file,
    best.npz (the lowest validation loss: what sample and eval should read) unless told
    otherwise, and to latest.npz when it has none; --resume prefers latest.npz."""
    if path is not None:
        path = Path(path)
        if path.is_dir():
            if (path / "latest.npz").is_file():
                return _run_file(path, prefer)
            root = path
        elif path.is_file():
            return path
        else:
            raise CharrnnError(f"no such checkpoint: {path}")
    found = sorted(Path(root).rglob("latest.npz"), key=lambda p: p.stat().st_mtime) if Path(root).is_dir() else []
    if not found:
        raise CharrnnError(f"no checkpoint found under {root}/; train one with `charrnn train FILE` "
                           "or pass --checkpoint")
    return _run_file(found[-1].parent, prefer)


def _run_file(run_dir, prefer):
    return run_dir / prefer if (run_dir / prefer).is_file() else run_dir / "latest.npz"
