"""make bench: chars/second and peak memory of charrnn's own training, eval and sampling code.

Each config runs in its own subprocess (so its peak resident memory is its own, and a config
that fails is reported and the table goes on) and times the functions the CLI uses:
training.train_step, evaluation.evaluate and sample.Sampler. Figures are medians of --repeats
runs after a warm-up. The matmul-only bound (benchmarks/matmul_bound.py), min-char-rnn
(benchmarks/min_char_rnn.py) and, with --torch, PyTorch are timed in the same run. The
*-match configs are the cells that scan at lstm-256's weight count (issue 36's speed target:
their training chars/s at least 2.5 times lstm-256's); `--configs lstm-256 qrnn-match
mingru-match` times just them.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from matmul_bound import bound_seconds
from workload import DEFAULT_CORPUS, WORKLOAD, timed

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
CONFIGS = {  # id: config values that differ from WORKLOAD and the defaults
    "min-char-rnn": dict(cell="rnn", hidden_size=100, num_layers=1, batch_size=1, seq_length=25, dtype="float64",
                         learning_rate=0.1, init="normal", init_scale=0.01),
    "rnn-batched": dict(cell="rnn", hidden_size=100, num_layers=1, batch_size=64, seq_length=25),
    "lstm-128": dict(cell="lstm", hidden_size=128, num_layers=2, batch_size=32, seq_length=64),
    "lstm-256": dict(cell="lstm", hidden_size=256, num_layers=2, batch_size=64, seq_length=100),
    "lstm-512": dict(cell="lstm", hidden_size=512, num_layers=2, batch_size=64, seq_length=100),
    # Adagrad 0.05 takes a GRU to NaN within 10 steps under some kernels and summation orders
    "gru-256": dict(cell="gru", hidden_size=256, num_layers=2, batch_size=64, seq_length=100, learning_rate=0.01),
    "lstm-256-drop": dict(cell="lstm", hidden_size=256, num_layers=2, batch_size=64, seq_length=100, dropout=0.2),
    # a generated 8 MB corpus of English and ~2,900 ideographs: the output layer at a large vocab
    "lstm-256-v3k": dict(cell="lstm", hidden_size=256, num_layers=2, batch_size=64, seq_length=100),
    # the cells that scan, at lstm-256's weight count (MATCHED): 2 layers, and the planner's first depths
    "qrnn-match": dict(cell="qrnn", num_layers=2, batch_size=64, seq_length=100),
    "qrnn4-match": dict(cell="qrnn", num_layers=4, batch_size=64, seq_length=100),
    "mingru-match": dict(cell="mingru", num_layers=2, batch_size=64, seq_length=100),
    "mingru3-match": dict(cell="mingru", num_layers=3, batch_size=64, seq_length=100),
}
# configs whose width is the one that gives them the named config's weight count on the corpus's vocab
# (on tiny-shakespeare's 65 symbols: qrnn 2x345, 4x207, mingru 2x612, 3x442 against lstm-256's 871,745)
MATCHED = {"qrnn-match": "lstm-256", "qrnn4-match": "lstm-256", "mingru-match": "lstm-256",
           "mingru3-match": "lstm-256"}


def bench_one(name, corpus_path, repeats, with_torch, kernels, products):
    from charrnn.cells import load_kernels
    from charrnn.config import make_config
    from charrnn.corpus import load_corpus, split
    from charrnn.batches import EVAL_WINDOW, Windows, eval_streams
    from charrnn.evaluation import evaluate
    from charrnn.sample import SampleOptions, Sampler
    from charrnn.malloc import keep_freed_memory
    from charrnn.sizes import weight_count
    from charrnn.training import new_run, train_step

    keep_freed_memory()  # as the CLI does
    config = make_config({**WORKLOAD, **CONFIGS[name], "kernels": kernels, "products": products})
    load_kernels(config)  # compiled or loaded once, as the CLI does before it trains
    with tempfile.TemporaryDirectory() as cache:
        if name.endswith("-v3k"):
            from corpus_scale import CJK_LARGE, make_corpus
            corpus_path = Path(cache) / "cjk.txt"
            make_corpus(corpus_path, 8, Path(DEFAULT_CORPUS).read_text(), CJK_LARGE)
        corpus = load_corpus([str(corpus_path)], config, cache)
        if name in MATCHED:
            config = matched_width(config, MATCHED[name], corpus.vocab.size)
        splits = split(corpus.ids, config)
        windows = Windows(splits["train"], config.batch_size, config.seq_length)
        run, checkpoint = new_run(config, corpus.vocab.size, np.random.default_rng(0)), Path(cache) / "none"
        chars_per_step = config.batch_size * config.seq_length
        steps = max(1, int(1.0 / timed(lambda: train_step(run, config, windows, checkpoint), 1)))
        train_s = timed(lambda: [train_step(run, config, windows, checkpoint) for _ in range(steps)], repeats)
        val = splits["val"].range(0, min(len(splits["val"]), 100_000 if config.batch_size > 1 else 5_000))
        eval_s = timed(lambda: evaluate(run.params, config, val), repeats)
        result = {"id": name, "vocab": corpus.vocab.size, "train": steps * chars_per_step / train_s,
                  "eval": (len(val) - 1) / eval_s, "shape": f"{config.num_layers}x{config.hidden_size}",
                  "weights": weight_count(config, corpus.vocab.size)}
        for batch, n in [(1, 2000), (64, 300)]:
            options = SampleOptions(n=n, num_samples=batch, echo_seed=False)
            sample_s = timed(lambda: b"".join(Sampler(run.params, config, corpus.vocab, "T", options, 1)), repeats)
            result[f"sample{batch}"] = batch * n / sample_s
        result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        # after peak_mb: the bound's random arrays are not charrnn's memory
        result["bound_train"] = chars_per_step / bound_seconds(config, corpus.vocab.size, config.batch_size,
                                                               config.seq_length)
        streams = len(eval_streams(len(val) - 1)[0])  # evaluation's batch; its windows are EVAL_WINDOW long
        result["bound_eval"] = streams * EVAL_WINDOW / bound_seconds(config, corpus.vocab.size, streams, EVAL_WINDOW,
                                                                     backward=False)
        if name == "min-char-rnn":
            result.update(bench_min_char_rnn(corpus, repeats))
        if with_torch and name != "min-char-rnn" and config.cell in ("rnn", "lstm", "gru"):  # torch's cells
            from torch_reference import bench_torch
            result.update(bench_torch(config, corpus.vocab.size, windows, val, repeats))
    return result


def matched_width(config, target, vocab_size):
    """`config` at the width whose weight count over `vocab_size` symbols is nearest the CONFIGS
    entry `target`'s."""
    from dataclasses import replace

    from charrnn.config import make_config
    from charrnn.sizes import weight_count

    goal = weight_count(make_config({**WORKLOAD, **CONFIGS[target]}), vocab_size)
    width = min(range(8, 4096), key=lambda H: abs(weight_count(replace(config, hidden_size=H), vocab_size) - goal))
    return replace(config, hidden_size=width)


def bench_min_char_rnn(corpus, repeats):
    import min_char_rnn

    data = corpus.ids.read(0, 200_000).tolist()
    params = min_char_rnn.init(corpus.vocab.size, 100, np.random.default_rng(0))
    train_s = timed(lambda: min_char_rnn.train(data, params, 200), repeats)
    sample_s = timed(lambda: min_char_rnn.sample(np.zeros((100, 1)), 0, 500, *params), repeats)
    return {"ref_train": 200 * 25 / train_s, "ref_sample1": 500 / sample_s}


def table(results):
    rows = [f"{'id':<14}{'train c/s':>11}{'of bound':>9}{'eval c/s':>11}{'of bound':>9}{'eval/train':>11}"
            f"{'bounds':>7}{'sample1 c/s':>12}{'sample64 c/s':>13}{'peak MB':>9}"]
    for r in results:
        if "error" in r:
            rows.append(f"{r['id']:<14} failed: {r['error']}")
            continue
        rows.append(f"{r['id']:<14}{r['train']:>11,.0f}{r['train'] / r['bound_train']:>9.0%}{r['eval']:>11,.0f}"
                    f"{r['eval'] / r['bound_eval']:>9.0%}{r['eval'] / r['train']:>10.1f}x"
                    f"{r['bound_eval'] / r['bound_train']:>6.1f}x{r['sample1']:>12,.0f}{r['sample64']:>13,.0f}"
                    f"{r['peak_mb']:>9,.0f}")
    for r in results:
        if "ref_train" in r:
            rows.append(f"min-char-rnn.py reference: train {r['ref_train']:,.0f} c/s, sample {r['ref_sample1']:,.0f} "
                        f"c/s; charrnn's min-char-rnn config is {r['train'] / r['ref_train']:.1f}x (train), "
                        f"{r['sample1'] / r['ref_sample1']:.1f}x (sample)")
        target = next((t for t in results if t["id"] == MATCHED.get(r["id"]) and "train" in t), None)
        if target:
            rows.append(f"{r['id']} ({r['shape']}, {r['weights']:,} weights) vs {target['id']} ({target['shape']}, "
                        f"{target['weights']:,}): train {r['train'] / target['train']:.2f}x, eval "
                        f"{r['eval'] / target['eval']:.2f}x, sample1 {r['sample1'] / target['sample1']:.2f}x")
        if "torch_train" in r:
            rows.append(f"{r['id']} vs PyTorch: train {r['train'] / r['torch_train']:.2f}x, eval "
                        f"{r['eval'] / r['torch_eval']:.2f}x, sample1 {r['sample1'] / r['torch_sample1']:.2f}x "
                        f"(PyTorch {r['torch_train']:,.0f} / {r['torch_eval']:,.0f} / {r['torch_sample1']:,.0f} c/s)")
    rows.append("of bound = chars/s over the matmul-only bound's: the same window's matrix products timed alone "
                "(benchmarks/matmul_bound.py), forward and backward for train, forward only for eval; bounds = "
                "the eval bound's chars/s over the train bound's, the eval/train ratio at equal efficiency")
    return "\n".join(rows)


def run_config(name, args):
    """One config in its own process: its results, or {"id", "error"} with the last line it printed."""
    command = [sys.executable, __file__, "--one", name, "--corpus", args.corpus, "--repeats", str(args.repeats),
               "--kernels", args.kernels, "--products", args.products] + (["--torch"] if args.torch else [])
    process = subprocess.run(command, capture_output=True, text=True)
    try:
        return json.loads(process.stdout.splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        lines = process.stderr.strip().splitlines() or [f"exit status {process.returncode}"]
        return {"id": name, "error": lines[-1]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(DEFAULT_CORPUS))
    parser.add_argument("--configs", nargs="*", default=list(CONFIGS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--torch", action="store_true", help="time PyTorch on the same batches")
    parser.add_argument("--kernels", default="auto", choices=["auto", "numpy", "numba"], help="charrnn's kernels")
    parser.add_argument("--products", default="auto", choices=["auto", "openblas", "mkl", "bf16"],
                        help="charrnn's products (charrnn/products.py); make bench-products compares them alone")
    parser.add_argument("--corpus-scale", action="store_true", help="the 200 MB corpus benchmark instead")
    parser.add_argument("--parallel", action="store_true", help="the data-parallel (mpiexec) benchmark instead")
    parser.add_argument("--cell-order", action="store_true", help="per-step learning of rnn, lstm, gru instead")
    parser.add_argument("--beam-speed", action="store_true", help="sample --beam 8 against --greedy alone")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(bench_one(args.one, args.corpus, args.repeats, args.torch, args.kernels, args.products)))
        return
    if args.corpus_scale:
        from corpus_scale import main as scale_main
        return scale_main(args)
    if args.parallel:
        from parallel import main as parallel_main
        return parallel_main(args)
    if args.cell_order:
        from cell_order import main as cell_order_main
        return cell_order_main(args)
    from beam_speed import main as beam_speed_main
    if args.beam_speed:
        return beam_speed_main([])
    if not Path(args.corpus).is_file():
        sys.exit(f"no corpus at {args.corpus}; pass --corpus PATH")
    from charrnn.products import choose

    print(f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, numpy "
          f"{np.__version__}, OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(auto)')}, kernels "
          f"{args.kernels}, {choose(args.products).line}", flush=True)
    results = []
    for name in args.configs:
        results.append(run_config(name, args))
        print(f"  {name}: {results[-1].get('train', 0):,.0f} train chars/s {results[-1].get('error', '')}",
              file=sys.stderr, flush=True)
    print(table(results))
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    beam_speed_main([])
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results}, indent=2))


if __name__ == "__main__":
    main()
