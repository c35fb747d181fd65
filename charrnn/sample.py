"""`charrnn sample`'s generation: K samples of one seed, generated together as one batch of
streams (streams.py), and written in order.

`Sampler` yields the output as bytes, in the order it is to be written: sample 0 streams
as it is generated; samples 1…K−1 are generated in the same batch and written after it,
each behind the separator. Byte mode yields raw bytes, text mode UTF-8 of whole characters.
"""

import numpy as np

from .choose import SampleOptions, generator  # noqa: F401  SampleOptions: sample's options, with the Sampler
from .inference import make_stepper, prompt
from .sizes import check_memory
from .streams import StopStrings, Stream, Streams

BLOCK = 32  # steps between text bookkeeping, which then costs per block, not per character


class Sampler:
    """Iterate to get the output bytes; afterwards `logprob` and `chars` hold, per sample,
    the model's (untempered) log-probability of the characters generated, up to and
    including a stop string, and their count. Sample k draws from generator(random_seed, k)
    (choose.py). `hook` (a clamp) holds units at every step, the seed's included."""

    def __init__(self, params, config, vocab, seed, options, random_seed=None, hook=None):
        options.check()
        check_memory(config, vocab.size, options.num_samples, BLOCK)
        self.options, self.prompt = options, prompt(params, config, vocab, seed, hook)
        self.seed_bytes = vocab.decode_bytes(self.prompt.ids) if options.echo_seed else b""
        self.batch = Streams(make_stepper(params, config), vocab)
        end = StopStrings([options.stop]) if options.stop else None
        self.samples = [Stream(options, generator(random_seed, k), options.n, end, clamp=hook)
                        for k in range(options.num_samples)]

    @property
    def logprob(self):
        return np.array([sample.logprob for sample in self.samples])

    @property
    def chars(self):
        return np.array([sample.chars for sample in self.samples])

    def generate(self):
        """Yield (row, bytes) for each sample's new text, and (row, None) when a sample ends."""
        batch, ended = self.batch, set()
        batch.join(self.samples, self.prompt.read_all())
        with np.errstate(over="ignore"):  # the cells' σ overflows exp by design
            while len(batch):
                batch.run(min([BLOCK] + [s.n - s.chars for s in batch.streams if s.n]))
                for row, sample in enumerate(self.samples):
                    while sample.out:
                        yield row, sample.out.popleft()[0]
                    if sample.done and row not in ended:
                        ended.add(row)
                        yield row, None
                batch.leave(lambda stream: stream.done)

    def __iter__(self):
        """The output bytes in writing order: sample 0 as it comes, later samples when their turn comes."""
        buffers = [[self.seed_bytes] for _ in range(self.options.num_samples)]
        finished, current = set(), 0
        yield self.seed_bytes
        for row, piece in self.generate():
            if piece is None:
                finished.add(row)
            elif row == current:
                yield piece
            else:
                buffers[row].append(piece)
            while current in finished and current + 1 < self.options.num_samples:
                current += 1
                yield self.options.separator + b"".join(buffers[current])
                buffers[current] = []
