"""A block of batched steps: the engine's inner loop, with the text bookkeeping once per block.

A step is NumPy only, for every stream at once:

    logits (N, V), state = stepper(ids (N,), state)
    ids[rows] = sample.choose(logits[rows], options, u[:, j])   per group of equal options,
                                                                u: each row's own uniforms

and the chosen ids and their log-probabilities are kept in (N, L) arrays; after the block
each stream's characters go to its Choice in one call. Each row's uniforms come from its own
generator, drawn a block ahead (`Uniforms`), so a seeded stream's text does not depend on
its batch-mates or on where a block happened to end.
"""

import numpy as np

from ..sample import choose


class Uniforms:
    """A generator's uniforms, drawn `n` at a time ahead of use; those a block leaves unused
    come first in the next, so the sequence is what one `random()` per step gives
    (Generator.random(n) returns the numbers of n calls to random())."""

    def __init__(self, rng):
        self.rng, self.ahead = rng, np.empty(0)

    def next(self, n):
        """The next n uniforms (n,), not yet consumed: `used` says how many were."""
        if len(self.ahead) < n:
            self.ahead = np.concatenate([self.ahead, self.rng.random(n)])
        return self.ahead[:n]

    def used(self, n):
        self.ahead = self.ahead[n:]


def groups(choices):
    """(options, rows, uniforms) for each set of choices sampled with equal options (uniforms None when greedy)."""
    by_options = {}
    for row, choice in enumerate(choices):
        by_options.setdefault(choice.options, []).append(row)
    return [(options, np.array(rows), None if options.greedy else [choices[r].uniforms for r in rows])
            for options, rows in by_options.items()]


def run_block(stepper, batch, length, stop_early):
    """Up to `length` steps of every stream in `batch` (its ids and state move on), stopping after
    a step where stop_early(steps so far) is true. Returns (ids (N, L), logp (N, L), full, L):
    the chosen ids, the model's untempered log-probability of each, and full (N, L, V) every
    symbol's when a choice asks for logprobs alternatives (else None)."""
    N, ids = len(batch.choices), batch.ids
    chosen_ids, chosen_logp = np.empty((N, length), np.int64), np.empty((N, length))
    wants_all = any(c.logprobs for c in batch.choices)
    full = np.empty((N, length, len(batch.choices[0].pieces))) if wants_all else None
    plan = [(options, rows, np.arange(len(rows)), None if draws is None else np.stack([u.next(length) for u in draws]))
            for options, rows, draws in batch.groups]  # uniforms (R, length) per sampled group
    steps = 0
    while steps < length:
        logits, batch.state = stepper(ids, batch.state)  # (N, V)
        for options, rows, row_range, uniforms in plan:
            chosen, shifted, log_total = choose(logits[rows], options, None if uniforms is None else
                                                uniforms[:, steps, None])  # (R,), (R, V), (R,)
            ids[rows] = chosen
            chosen_logp[rows, steps] = shifted[row_range, chosen] - log_total
            if full is not None:
                full[rows, steps] = shifted - log_total[:, None]
        chosen_ids[:, steps] = ids
        steps += 1
        if stop_early(steps):
            break
    for _, _, draws in batch.groups:
        for u in draws or ():
            u.used(steps)
    return chosen_ids, chosen_logp, full, steps


def hand_out(choices, chosen_ids, chosen_logp, full, steps):
    """Give each live choice its characters of the block (a choice takes only up to its end)."""
    for row, choice in enumerate(choices):
        if not (choice.done or choice.job.cancelled):
            choice.take_block(chosen_ids[row, :steps].tolist(), chosen_logp[row, :steps].tolist(),
                              None if full is None else full[row, :steps])
