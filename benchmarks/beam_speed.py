"""Beam search's speed against greedy sampling: characters of output a second, 2x256 LSTM.

Issue 27's target: `sample --beam 8` at no less than a third of `--greedy`'s characters a
second, which holds when the 8 beams step as one batch. Speed does not depend on what the
weights learned, so the model is drawn at random (tiny-shakespeare's 65 symbols).
On a busy machine run it with OPENBLAS_NUM_THREADS=1: OpenBLAS splits the beams' 8-row
products over its threads, which then wait on each other (measured 3-4x slower on 2 busy
cores), while greedy's one-row products stay on one thread either way.

    python benchmarks/beam_speed.py [--n 2000] [--width 8]
"""

import argparse
import os

import numpy as np
from workload import timed

from charrnn.beam import BeamOptions, beam_search
from charrnn.config import make_config
from charrnn.model import init_params
from charrnn.sample import SampleOptions, Sampler
from charrnn.vocab import Vocab

VOCAB = Vocab(range(32, 97))  # 65 symbols, as tiny-shakespeare's


def beam_speed(n=2000, width=8, hidden_size=256):
    """(greedy chars/s, beam chars/s) for `n` characters of output."""
    config = make_config({"cell": "lstm", "hidden_size": hidden_size, "num_layers": 2})
    params = init_params(config, VOCAB.size, np.random.default_rng(0))
    greedy = SampleOptions(n=n, greedy=True, echo_seed=False)
    greedy_s = timed(lambda: b"".join(Sampler(params, config, VOCAB, "A", greedy, 0)), 3)
    beam_s = timed(lambda: beam_search(params, config, VOCAB, "A", BeamOptions(width=width, n=n)), 3)
    return n / greedy_s, n / beam_s


def main(args=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--width", type=int, default=8)
    args = parser.parse_args(args)
    greedy, beam = beam_speed(args.n, args.width)
    print(f"2x256 LSTM, {args.n:,} characters: greedy {greedy:,.0f} chars/s, beam {args.width} {beam:,.0f} chars/s "
          f"({beam / greedy:.2f} of greedy's; the target is >= 0.33), "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '(all cores)')}")


if __name__ == "__main__":
    main()
