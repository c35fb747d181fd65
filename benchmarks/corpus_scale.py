"""make bench BENCH_ARGS=--corpus-scale: a generated 200 MB corpus of mixed ASCII and CJK text.

Measures, each in its own process: encoding time and peak memory (fresh cache), the same for
the corpus with every newline made a space (one 200 MB line), the start-up of a second run
(cache reused), training chars/second and peak memory on the big corpus against
tiny-shakespeare with the same config, and a whole `charrnn train` of 30 steps with its
validation on a 60 MB corpus against tiny-shakespeare (wall time and peak memory).
"""

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CONFIG = dict(cell="lstm", hidden_size=128, num_layers=2, batch_size=32, seq_length=64, val_fraction=0.001,
              dropout=0.0)  # the workload of docs/corpora.md's tables
# Few ideographs keep the vocab near tiny-shakespeare's, so the two train at comparable cost.
CJK_SMALL = [chr(0x4E00 + i) for i in range(0, 320, 10)]
CJK_LARGE = [chr(0x4E00 + i) for i in range(0, 20000, 7)]  # ~2,900 ideographs, for the large-vocab bench


def make_corpus(path, megabytes, english, cjk=CJK_SMALL, seed=0):
    """English lines (from `english`) interleaved with lines of CJK, written 1 MB at a time."""
    rng = np.random.default_rng(seed)
    written = 0
    with open(path, "w", encoding="utf-8") as f:
        while written < megabytes << 20:
            start = int(rng.integers(0, len(english) - 400_000))
            block = english[start:start + 400_000].splitlines(keepends=True)
            for k in range(0, len(block), 8):  # one CJK line after every 8 English lines
                line = "".join(rng.choice(cjk, int(rng.integers(10, 40)))) + "\n"
                f.write("".join(block[k:k + 8]) + line)
            written = f.tell()


def without_newlines(source, target):
    """`source` with every newline made a space, copied 16 MB at a time."""
    with open(source, "rb") as f, open(target, "wb") as out:
        while block := f.read(16 << 20):
            out.write(block.replace(b"\n", b" "))


def cli_args(corpus, workdir):
    return [sys.executable, "-m", "charrnn", "train", str(corpus), "--max-steps", "30", "--quiet", "--run-dir",
            str(Path(workdir) / "run"), "--overwrite"]


def cli_train(corpus, workdir):
    """Wall seconds and peak MB of `charrnn train CORPUS --max-steps 30` (cache built already)."""
    started = time.perf_counter()
    subprocess.run(cli_args(corpus, workdir), check=True, capture_output=True)
    return {"seconds": time.perf_counter() - started,
            "peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def task(kind, corpus, cache):
    from charrnn.batches import Windows
    from charrnn.config import make_config
    from charrnn.corpus import load_corpus, split
    from charrnn.malloc import keep_freed_memory
    from charrnn.training import new_run, train_step

    keep_freed_memory()  # as the CLI does
    config, start = make_config(CONFIG), time.perf_counter()
    loaded = load_corpus([corpus], config, cache)
    result = {"load_seconds": time.perf_counter() - start, "vocab": loaded.vocab.size, "chars": len(loaded.ids)}
    if kind == "train":
        windows = Windows(split(loaded.ids, config)["train"], config.batch_size, config.seq_length)
        run = new_run(config, loaded.vocab.size, np.random.default_rng(0))
        step = lambda: train_step(run, config, windows, Path(cache) / "none")  # noqa: E731
        step()
        start = time.perf_counter()
        for _ in range(30):
            step()
        result["train"] = 30 * config.batch_size * config.seq_length / (time.perf_counter() - start)
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def run_task(kind, corpus, cache):
    started = time.perf_counter()
    out = subprocess.run([sys.executable, __file__, kind, str(corpus), str(cache)], check=True, capture_output=True,
                         text=True).stdout
    return {**json.loads(out), "process_seconds": time.perf_counter() - started}


def main(args):
    english = Path(args.corpus).read_text()
    with tempfile.TemporaryDirectory() as tmp:
        big, cache = Path(tmp) / "big.txt", Path(tmp) / "cache"
        make_corpus(big, 200, english)
        size_mb = big.stat().st_size / 2 ** 20
        encode = run_task("encode", big, cache)
        again = run_task("encode", big, cache)
        train_big = run_task("train", big, cache)
        train_small = run_task("train", args.corpus, cache)
        one_line = Path(tmp) / "one-line.txt"
        without_newlines(big, one_line)
        encode_line = run_task("encode", one_line, cache)
        one_line.unlink()
        mid = Path(tmp) / "mid.txt"
        with open(big, "rb") as f:
            mid.write_bytes(f.read(60 << 20).rsplit(b"\n", 1)[0] + b"\n")
        big.unlink()
        cli_small, cli_mid = (run_subprocess_cli(path, Path(tmp) / name) for path, name in
                              [(args.corpus, "small"), (mid, "mid")])
    print(f"corpus: {size_mb:.0f} MB UTF-8, {encode['chars']:,} chars, vocab {encode['vocab']:,}")
    print(f"encode (fresh cache): {encode['load_seconds']:.1f} s, peak {encode['peak_mb']:.0f} MB   "
          f"[targets: <= 60 s, <= 300 MB]")
    print(f"second run, cache reused: corpus ready in {again['load_seconds']:.2f} s "
          f"(whole process {again['process_seconds']:.2f} s)   [target: <= 2 s]")
    print(f"train {CONFIG['cell']} {CONFIG['num_layers']}x{CONFIG['hidden_size']}: big {train_big['train']:,.0f} "
          f"chars/s, peak {train_big['peak_mb']:.0f} MB; tiny-shakespeare {train_small['train']:,.0f} chars/s, peak "
          f"{train_small['peak_mb']:.0f} MB; speed ratio {train_big['train'] / train_small['train']:.2f}, memory "
          f"+{train_big['peak_mb'] - train_small['peak_mb']:.0f} MB   [targets: >= 0.95, <= +50 MB]")
    print(f"encode, the same corpus as one line (no newline): {encode_line['load_seconds']:.1f} s, peak "
          f"{encode_line['peak_mb']:.0f} MB   [target: as the corpus with newlines]")
    print(f"charrnn train --max-steps 30, with validation: 60 MB corpus {cli_mid['seconds']:.1f} s, peak "
          f"{cli_mid['peak_mb']:.0f} MB; tiny-shakespeare {cli_small['seconds']:.1f} s, peak "
          f"{cli_small['peak_mb']:.0f} MB; time x{cli_mid['seconds'] / cli_small['seconds']:.2f}, memory "
          f"+{cli_mid['peak_mb'] - cli_small['peak_mb']:.0f} MB   [targets: <= x2, <= +30 MB]")


def run_subprocess_cli(corpus, workdir):
    """cli_train in a fresh process, so its peak is that run's own, after a run that builds the cache."""
    subprocess.run(cli_args(corpus, workdir), check=True, capture_output=True)
    out = subprocess.run([sys.executable, __file__, "cli", str(corpus), str(workdir)], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


if __name__ == "__main__":
    kind, corpus, where = sys.argv[1:4]
    print(json.dumps(cli_train(corpus, where) if kind == "cli" else task(kind, corpus, where)))
