"""make bench-export: characters per second at batch 1 for charrnn's own sampler, onnxruntime on
the `charrnn export onnx` graph (T = 1 calls carrying the state) and the `charrnn export web`
sampler under Node, for a few model sizes with random weights (speed does not depend on them).

Each sampler draws from the full distribution at temperature 1: charrnn through sample.Sampler,
as `charrnn sample` does; onnxruntime's loop through the same choose.choose;
Node as `node sampler.mjs --n N` (its startup is removed by timing two lengths and dividing the
extra characters by the extra seconds). Figures are the best of --repeats runs.
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from charrnn.checkpoint import Checkpoint, save_checkpoint  # noqa: E402
from charrnn.config import make_config  # noqa: E402
from charrnn.model import init_params, init_state  # noqa: E402
from charrnn.optim import OPTIMIZERS  # noqa: E402
from charrnn.vocab import Vocab  # noqa: E402

CONFIGS = {  # two layers each, tiny-shakespeare's 65 symbols
    "lstm-128": dict(cell="lstm", hidden_size=128),
    "lstm-128-ln": dict(cell="lstm", hidden_size=128, layer_norm=True),  # what the default run trains: a Scan
    "lstm-256": dict(cell="lstm", hidden_size=256),
    "lstm-512": dict(cell="lstm", hidden_size=512),
    "gru-256": dict(cell="gru", hidden_size=256),
}
VOCAB = Vocab(range(32, 97))


def random_checkpoint(path, values):
    config = make_config({**values, "num_layers": 2, "ema_decay": 0.0})
    params = init_params(config, VOCAB.size, np.random.default_rng(0))
    meta = {"step": 0, "epoch": 0, "window": 0, "rng": {}, "best_val": None, "initial_loss": None, "elapsed": 0.0}
    save_checkpoint(path, Checkpoint(config, VOCAB, params, OPTIMIZERS[config.optimizer](params, config).slots,
                                     init_state(config, config.batch_size), meta))
    return config, params


def best_rate(run, chars, repeats):
    """chars / the fastest of `repeats` timed calls of run(chars), after one warm-up call."""
    run(min(chars, 50))
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run(chars)
        times.append(time.perf_counter() - started)
    return chars / min(times)


def charrnn_rate(config, params, chars, repeats):
    from charrnn.cells import load_kernels
    from charrnn.sample import SampleOptions, Sampler

    load_kernels(config)
    return best_rate(lambda n: b"".join(Sampler(params, config, VOCAB, "T", SampleOptions(n=n, echo_seed=False), 0)), chars, repeats)


def onnx_rate(onnx_path, chars, repeats):
    import onnxruntime as ort

    from charrnn.choose import SampleOptions, centred, choose

    session, options, rng = ort.InferenceSession(str(onnx_path)), SampleOptions(), np.random.default_rng(0)
    zeros = {i.name: np.zeros((1, i.shape[1]), np.float32) for i in session.get_inputs()[1:]}

    def run(n):
        state, ids = dict(zeros), np.zeros((1, 1), np.int64)
        for _ in range(n):
            logits, *final = session.run(None, {"ids": ids, **state})
            state = dict(zip(state, final))
            ids = choose(centred(logits[0]), options, rng.random((1, 1)))[None]
    return best_rate(run, chars, repeats)


def node_rate(bundle, chars, repeats):
    def seconds(n):
        started = time.perf_counter()
        subprocess.run(["node", bundle / "sampler.mjs", "--n", str(n), "--seed", "1"], check=True,
                       stdout=subprocess.DEVNULL)
        return time.perf_counter() - started

    short, long = max(chars // 10, 1), chars
    return (long - short) / (min(seconds(long) for _ in range(repeats)) - min(seconds(short) for _ in range(repeats)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="*", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--chars", type=int, default=2000, help="characters per timed run")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from charrnn.export.onnx import export_onnx
    from charrnn.export.web import export_web

    has_node = shutil.which("node") is not None
    print("| model | charrnn sample | onnxruntime, T = 1 | JavaScript (Node) |")
    print("|---|---:|---:|---:|")
    for name in args.configs:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            config, params = random_checkpoint(tmp / "ck.npz", CONFIGS[name])
            export_onnx(tmp / "ck.npz", tmp / "m.onnx")
            export_web(tmp / "ck.npz", tmp / "web")
            rates = [charrnn_rate(config, params, args.chars, args.repeats), onnx_rate(tmp / "m.onnx", args.chars,
                                                                                       args.repeats)]
            rates.append(node_rate(tmp / "web", args.chars // 4, args.repeats) if has_node else None)
        cells = " | ".join("no node" if r is None else f"{r:,.0f}" for r in rates)
        print(f"| {name} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
