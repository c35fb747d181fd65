"""Continuous batching: one thread steps every active stream together, one batched step per character.

Requests (`Job`s, each a few `Choice`s) wait in a bounded queue; between steps the engine
admits as many as the stream limit allows (priming each prompt in one forward) and drops
the streams that ended, were cancelled (the client went away) or ran out of time. A step is

    logits (N, V), state = stepper(ids (N,), state)          every stream at once
    probs = sample.distribution(logits[rows], options)       per group of equal options
    ids[rows] = argmax(probs) | sample.draw(probs, EachRow)  each row from its own generator

so a stream's numbers do not depend on what else is in the batch (beyond BLAS round-off
in float32). Text goes to each request through its choices' deques; the event loop is woken
with call_soon_threadsafe at most once per drain, and never runs NumPy itself.
"""

import sys
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from ..sample import distribution, draw
from ..errors import CharrnnError
from .errors import ApiError


@dataclass
class Job:
    """One request: its prompt ids are encoded by the engine; `wake` is set on the request's loop."""

    prompts: list  # one text per prompt; choice i reads prompt i // per_prompt
    choices: list
    deadline: float
    loop: object = None
    wake: object = None  # asyncio.Event
    error: ApiError = None
    cancelled: bool = False
    flagged: bool = False
    prompt_tokens: int = 0

    @property
    def done(self):
        return self.error is not None or all(c.done for c in self.choices)

    def cancel(self):
        self.cancelled = True


class EachRow:
    """Stands in for the one Generator sample.draw takes: row i's uniform comes from choice
    i's own generator (Generator.random() and .random((1, 1)) give the same number)."""

    def __init__(self, generators):
        self.generators = generators

    def random(self, shape):
        return np.array([g.random() for g in self.generators]).reshape(shape)


@dataclass
class Batch:
    """The active streams: choices, their jobs, the next input ids (N,) and the state, (N, H) per array."""

    choices: list = field(default_factory=list)
    jobs: list = field(default_factory=list)
    ids: np.ndarray = None
    state: list = None
    groups: list = None  # (options, rows, generators), rebuilt when the membership changes


class Engine(threading.Thread):
    def __init__(self, backend, max_streams, max_waiting):
        super().__init__(name="charrnn-engine", daemon=True)
        self.backend, self.max_streams, self.max_waiting = backend, max_streams, max_waiting
        self.waiting, self.batch = deque(), Batch()
        self.cond, self.stopping = threading.Condition(), False
        self.stepper = backend.stepper()

    def submit(self, job):
        """Queue a job, or raise ApiError 503 (shutting down) or 429 (every slot and queue place taken)."""
        with self.cond:
            if self.stopping:
                raise ApiError(503, "the server is shutting down", "unavailable", retry_after=5)
            wanted = len(self.batch.choices) + sum(len(j.choices) for j in self.waiting) + len(job.choices)
            if wanted > self.max_streams and len(self.waiting) >= self.max_waiting:
                raise ApiError(429, f"the server is busy: {self.max_streams} streams running and {self.max_waiting} "
                               "requests waiting; try again shortly", "server_busy", retry_after=1)
            self.waiting.append(job)
            self.cond.notify()

    def stop(self):
        with self.cond:
            self.stopping = True
            self.cond.notify()

    @property
    def load(self):
        return len(self.batch.choices), len(self.waiting)

    def run(self):
        with np.errstate(over="ignore"):  # the cells' σ overflows exp by design
            while True:
                try:
                    if not self._admit():
                        break
                    self._retire()
                    if self.batch.choices:
                        self._step()
                except Exception:  # a bug: fail the requests in flight, keep serving the next ones
                    traceback.print_exc(file=sys.stderr)
                    self._fail_all(ApiError(500, "internal error while generating; see the server log", "server_error"))
        self._fail_all(ApiError(503, "the server is shutting down", "unavailable"))

    def _admit(self):
        """Move waiting jobs into the batch while streams are free; False once stopping."""
        with self.cond:
            while not self.batch.choices and not self.waiting and not self.stopping:
                self.cond.wait()
            if self.stopping:
                self.batch.jobs += list(self.waiting)
                self.waiting.clear()
                return False
            joining = []
            while self.waiting and len(self.batch.choices) + len(self.waiting[0].choices) <= self.max_streams:
                joining.append(self.waiting.popleft())
        for job in joining:
            try:
                self._join(job)
            except CharrnnError as e:  # checked before it was queued, so not expected; say so all the same
                job.error = ApiError(400, str(e), param="prompt")
                self._wake(job)
        return True

    def _join(self, job):
        if job.cancelled:
            return
        per_prompt = len(job.choices) // len(job.prompts)
        ids, states = [], []
        for prompt in job.prompts:
            prompt_ids = self.backend.encode(prompt)
            job.prompt_tokens += len(prompt_ids) if prompt else 0
            ids += [prompt_ids[-1]] * per_prompt
            states.append(self.backend.primed(prompt_ids, per_prompt))
        batch = self.batch
        parts = ([batch.state] if batch.choices else []) + states
        batch.state = [tuple(np.concatenate([p[layer][k] for p in parts]) for k in range(len(parts[0][layer])))
                       for layer in range(len(parts[0]))]
        batch.ids = np.concatenate([batch.ids if batch.choices else np.empty(0, np.int64), np.array(ids, np.int64)])
        batch.choices += job.choices
        batch.jobs.append(job)
        batch.groups = None

    def _retire(self):
        """Drop finished, cancelled and timed-out streams; wake their requests."""
        batch, now = self.batch, time.monotonic()
        for job in batch.jobs:
            if now > job.deadline and not job.done:
                print("charrnn serve: a request ran past the time limit; its text ends there", file=sys.stderr)
                for choice in job.choices:
                    choice.finish("length")
                self._wake(job)
        leaving = {id(j) for j in batch.jobs if j.done or j.cancelled}
        if not leaving:
            return
        keep = [i for i, c in enumerate(batch.choices) if id(c.job) not in leaving]
        batch.jobs = [j for j in batch.jobs if id(j) not in leaving]
        batch.choices = [batch.choices[i] for i in keep]
        batch.ids = batch.ids[keep]
        batch.state = [tuple(s[keep] for s in layer) for layer in batch.state]
        batch.groups = None

    def _step(self):
        batch = self.batch
        logits, batch.state = self.stepper(batch.ids, batch.state)  # (N, V)
        if batch.groups is None:
            batch.groups = groups(batch.choices)
        for options, rows, generators in batch.groups:
            probs, shifted, log_total = distribution(logits[rows], options)  # each (R, V)
            chosen = probs.argmax(axis=1) if options.greedy else draw(probs, EachRow(generators))
            logp = shifted - log_total[:, None]  # the model's own (untempered) log-probabilities
            batch.ids[rows] = chosen
            for row, symbol, row_logp in zip(rows, chosen, logp):
                choice = batch.choices[row]
                choice.take(symbol, float(row_logp[symbol]), top_alternatives(row_logp, choice))
        for job in batch.jobs:
            self._wake(job)

    def _wake(self, job):
        if job.loop is not None and not job.flagged and (job.done or any(c.out for c in job.choices)):
            job.flagged = True
            job.loop.call_soon_threadsafe(job.wake.set)

    def _fail_all(self, error):
        for job in self.batch.jobs:
            if not job.done:
                job.error = error
                job.flagged = False
                self._wake(job)
        self.batch = Batch()


def groups(choices):
    """(options, rows, generators) for each set of choices sampled with equal options."""
    by_options = {}
    for row, choice in enumerate(choices):
        by_options.setdefault(choice.options, []).append(row)
    return [(options, np.array(rows), [choices[r].rng for r in rows]) for options, rows in by_options.items()]


def top_alternatives(row_logp, choice):
    """{token: logprob} of the `choice.logprobs` likeliest symbols, or None when not asked for."""
    if not choice.logprobs:
        return None
    best = np.argsort(-row_logp, kind="stable")[:choice.logprobs]
    return {choice.pieces[i].decode("utf-8", "replace"): float(row_logp[i]) for i in best}
