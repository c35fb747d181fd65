"""make bench: chars/second and peak memory of charrnn's own training, eval and sampling code.

Each config runs in its own subprocess (so its peak resident memory is its own) and times
the functions the CLI uses: training.train_step, evaluation.evaluate and sample.Sampler. Figures
are medians of --repeats runs after a warm-up. min-char-rnn (benchmarks/min_char_rnn.py)
and, with --torch, PyTorch are timed on the same batches in the same run.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
DEFAULT_CORPUS = HERE.parent.parent / "shared" / "corpora" / "tiny-shakespeare.txt"
# The workload every table in the README measures: no dropout, Adagrad, element-wise clipping,
# a constant rate (the defaults before 2026-11-23), so figures stay comparable over time.
WORKLOAD = dict(dropout=0.0, optimizer="adagrad", learning_rate=0.05, clip_mode="value", lr_schedule="constant",
                warmup_steps=0)
CONFIGS = {  # id: config values that differ from WORKLOAD and the defaults
    "min-char-rnn": dict(cell="rnn", hidden_size=100, num_layers=1, batch_size=1, seq_length=25, dtype="float64",
                         learning_rate=0.1, init="normal", init_scale=0.01),
    "rnn-batched": dict(cell="rnn", hidden_size=100, num_layers=1, batch_size=64, seq_length=25),
    "lstm-128": dict(cell="lstm", hidden_size=128, num_layers=2, batch_size=32, seq_length=64),
    "lstm-256": dict(cell="lstm", hidden_size=256, num_layers=2, batch_size=64, seq_length=100),
    "lstm-512": dict(cell="lstm", hidden_size=512, num_layers=2, batch_size=64, seq_length=100),
    "gru-256": dict(cell="gru", hidden_size=256, num_layers=2, batch_size=64, seq_length=100),
    # a generated 8 MB corpus of English and ~2,900 ideographs: the output layer at a large vocab
    "lstm-256-v3k": dict(cell="lstm", hidden_size=256, num_layers=2, batch_size=64, seq_length=100),
}


def timed(fn, repeats):
    """Median seconds of `repeats` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def flops_per_char(config, vocab_size):
    """Matmul FLOPs per character of one forward pass; training counts 3× (forward + 2 backward).

    A one-hot first layer is a row lookup and costs no FLOPs; each other layer does x·Wx and
    h·Wh (2·D·G·H + 2·H·G·H), and the head h·W (2·H·V).
    """
    gates = {"rnn": 1, "lstm": 3 if config.coupled_gates else 4, "gru": 3}[config.cell]
    H, total = config.hidden_size, 2 * config.hidden_size * vocab_size
    for layer in range(config.num_layers):
        inputs = (config.embedding_size if layer == 0 else H) if (layer or config.embedding_size) else 0
        total += 2 * (inputs + H) * gates * H
    return total


def bench_one(name, corpus_path, repeats, with_torch):
    from charrnn.config import make_config
    from charrnn.corpus import load_corpus, split
    from charrnn.batches import Windows
    from charrnn.evaluation import evaluate
    from charrnn.sample import SampleOptions, Sampler
    from charrnn.malloc import keep_freed_memory
    from charrnn.training import new_run, train_step

    keep_freed_memory()  # as the CLI does
    config = make_config({**WORKLOAD, **CONFIGS[name]})
    with tempfile.TemporaryDirectory() as cache:
        if name.endswith("-v3k"):
            from corpus_scale import CJK_LARGE, make_corpus
            corpus_path = Path(cache) / "cjk.txt"
            make_corpus(corpus_path, 8, Path(DEFAULT_CORPUS).read_text(), CJK_LARGE)
        corpus = load_corpus([str(corpus_path)], config, cache)
        splits = split(corpus.ids, config)
        windows = Windows(splits["train"], config.batch_size, config.seq_length)
        run, checkpoint = new_run(config, corpus.vocab.size, np.random.default_rng(0)), Path(cache) / "none"
        chars_per_step = config.batch_size * config.seq_length
        steps = max(1, int(1.0 / timed(lambda: train_step(run, config, windows, checkpoint), 1)))
        train_s = timed(lambda: [train_step(run, config, windows, checkpoint) for _ in range(steps)], repeats)
        val = splits["val"].range(0, min(len(splits["val"]), 100_000 if config.batch_size > 1 else 5_000))
        eval_s = timed(lambda: evaluate(run.params, config, val), repeats)
        result = {"id": name, "vocab": corpus.vocab.size, "train": steps * chars_per_step / train_s,
                  "eval": (len(val) - 1) / eval_s}
        for batch, n in [(1, 2000), (64, 300)]:
            options = SampleOptions(n=n, num_samples=batch, echo_seed=False)
            sample_s = timed(lambda: b"".join(Sampler(run.params, config, corpus.vocab, "T", options,
                                                      np.random.default_rng(1))), repeats)
            result[f"sample{batch}"] = batch * n / sample_s
        result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        result["flops_per_char"] = 3 * flops_per_char(config, corpus.vocab.size)
        if name == "min-char-rnn":
            result.update(bench_min_char_rnn(corpus, repeats))
        if with_torch and name != "min-char-rnn":
            from torch_reference import bench_torch
            result.update(bench_torch(config, corpus.vocab.size, windows, val, repeats))
    return result


def bench_min_char_rnn(corpus, repeats):
    import min_char_rnn

    data = corpus.ids.read(0, 200_000).tolist()
    params = min_char_rnn.init(corpus.vocab.size, 100, np.random.default_rng(0))
    train_s = timed(lambda: min_char_rnn.train(data, params, 200), repeats)
    sample_s = timed(lambda: min_char_rnn.sample(np.zeros((100, 1)), 0, 500, *params), repeats)
    return {"ref_train": 200 * 25 / train_s, "ref_sample1": 500 / sample_s}


def matmul_peak():
    a = np.random.default_rng(0).random((2048, 2048), dtype=np.float32)
    return 2 * 2048 ** 3 / min(timed(lambda: a @ a, 1) for _ in range(5)) / 1e9


def table(results, peak):
    rows = [f"{'id':<14}{'train c/s':>11}{'eval c/s':>11}{'sample1 c/s':>12}{'sample64 c/s':>13}{'peak MB':>9}"
            f"{'FLOP/char':>11}{'% peak':>8}"]
    for r in results:
        gflops = r["train"] * r["flops_per_char"] / 1e9
        rows.append(f"{r['id']:<14}{r['train']:>11,.0f}{r['eval']:>11,.0f}{r['sample1']:>12,.0f}"
                    f"{r['sample64']:>13,.0f}{r['peak_mb']:>9,.0f}{r['flops_per_char']:>11,.0f}"
                    f"{100 * gflops / peak:>7.0f}%")
    for r in results:
        if "ref_train" in r:
            rows.append(f"min-char-rnn.py reference: train {r['ref_train']:,.0f} c/s, sample {r['ref_sample1']:,.0f} "
                        f"c/s; charrnn's min-char-rnn config is {r['train'] / r['ref_train']:.1f}x (train), "
                        f"{r['sample1'] / r['ref_sample1']:.1f}x (sample)")
        if "torch_train" in r:
            rows.append(f"{r['id']} vs PyTorch: train {r['train'] / r['torch_train']:.2f}x, eval "
                        f"{r['eval'] / r['torch_eval']:.2f}x, sample1 {r['sample1'] / r['torch_sample1']:.2f}x "
                        f"(PyTorch {r['torch_train']:,.0f} / {r['torch_eval']:,.0f} / {r['torch_sample1']:,.0f} c/s)")
    rows.append(f"float32 matmul peak {peak:.1f} GFLOP/s; % peak = train chars/s × FLOP/char (3 × forward "
                "matmul FLOPs; a one-hot first layer is a lookup and counts none) / peak")
    return "\n".join(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(DEFAULT_CORPUS))
    parser.add_argument("--configs", nargs="*", default=list(CONFIGS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--torch", action="store_true", help="time PyTorch on the same batches")
    parser.add_argument("--corpus-scale", action="store_true", help="the 200 MB corpus benchmark instead")
    parser.add_argument("--parallel", action="store_true", help="the data-parallel (mpiexec) benchmark instead")
    parser.add_argument("--cell-order", action="store_true", help="per-step learning of rnn, lstm, gru instead")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(bench_one(args.one, args.corpus, args.repeats, args.torch)))
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
    if not Path(args.corpus).is_file():
        sys.exit(f"no corpus at {args.corpus}; pass --corpus PATH")
    print(f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, numpy {np.__version__}, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(auto)')}", flush=True)
    peak, results = matmul_peak(), []
    for name in args.configs:
        command = [sys.executable, __file__, "--one", name, "--corpus", args.corpus, "--repeats", str(args.repeats)]
        output = subprocess.run(command + (["--torch"] if args.torch else []), check=True, capture_output=True,
                                text=True).stdout
        results.append(json.loads(output.splitlines()[-1]))
        print(f"  {name}: {results[-1]['train']:,.0f} train chars/s", file=sys.stderr, flush=True)
    print(table(results, peak))
    if args.json:
        Path(args.json).write_text(json.dumps({"matmul_peak_gflops": peak, "results": results}, indent=2))


if __name__ == "__main__":
    main()
