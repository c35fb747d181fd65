"""Continuous batching: one thread steps every active stream together, one batched step per character.

Requests (`Job`s, each a few `Choice`s: the model's streams) wait in a bounded queue. The
engine runs blocks of up to BLOCK steps of its batch (Model.streams), which hands each
stream its characters once per block. Between blocks it takes as many waiting jobs as the
stream limit allows, reads a slice of their prompts (priming.py; until one job is ready when
nothing else runs), adds the jobs whose prompts are read to the batch, and drops the streams
that ended, were cancelled (the client went away) or ran out of time. A block ends early,
after the step in progress, when a waiting job could join, a client leaves or the server
stops; and, once FLUSH_STEPS steps are done, when prompts are being read or FLUSH seconds
have gone by (so text reaches clients steadily) or a request's deadline has passed. It is
never longer than the fewest characters any stream still has to make, so a finished stream
leaves at once.

A stream's numbers do not depend on what else is in the batch (beyond BLAS round-off in
float32). Text goes to each request through its choices' deques; a block wakes its requests
with one call_soon_threadsafe per event loop, which never runs NumPy itself.
"""

import sys
import threading
import time
import traceback
from collections import deque

import numpy as np

from ..api import SLICE, CharrnnError
from .errors import ApiError
from .priming import Prompts
from .threads import BlasThreads

BLOCK = 32  # steps at most between handing out text
FLUSH = 0.025  # seconds at most between handing out text, once FLUSH_STEPS steps are done
FLUSH_STEPS = 8  # a machine that gives the engine little CPU would otherwise shrink blocks to a step


def set_events(events):
    for event in events:
        event.set()


class Engine(threading.Thread):
    """The engine thread over an api.Model: `submit` jobs (jobs.Job) from any thread."""

    def __init__(self, model, max_streams, max_waiting, threads=1, block=BLOCK, flush=FLUSH):
        super().__init__(name="charrnn-engine", daemon=True)
        self.model, self.max_streams, self.max_waiting = model, max_streams, max_waiting
        self.blas = BlasThreads(threads)
        self.block, self.flush = block, flush
        self.waiting, self.prompts, self.batch, self.jobs = deque(), Prompts(model), model.streams(), []
        self.cond, self.stopping, self.interrupted = threading.Condition(), False, False

    def submit(self, job):
        """Queue a job, or raise ApiError 503 (shutting down) or 429 (every slot and queue place taken)."""
        with self.cond:
            if self.stopping:
                raise ApiError(503, "the server is shutting down", "unavailable", retry_after=5)
            wanted = self._taken() + sum(len(j.choices) for j in self.waiting) + len(job.choices)
            if wanted > self.max_streams and len(self.waiting) >= self.max_waiting:
                raise ApiError(429, f"the server is busy: {self.max_streams} streams running and {self.max_waiting} "
                               "requests waiting; try again shortly", "server_busy", retry_after=1)
            job.on_cancel = self.interrupt
            self.waiting.append(job)
            self.cond.notify()

    def stop(self):
        with self.cond:
            self.stopping = True
            self.interrupt()
            self.cond.notify()

    def interrupt(self):
        """End the block in progress after its current step (any thread)."""
        self.interrupted = True

    @property
    def load(self):
        return len(self.batch), len(self.waiting) + len(self.prompts)

    def run(self):
        with np.errstate(over="ignore"):  # the cells' σ overflows exp by design
            while True:
                try:
                    self.interrupted = False  # before _retire: a later cancel ends the coming block
                    self._retire()
                    if not self._admit():
                        break
                    self._read_prompts()
                    if self.batch:
                        self._block()
                except Exception:  # a bug: fail the requests in flight, keep serving the next ones
                    traceback.print_exc(file=sys.stderr)
                    self._fail_all(ApiError(500, "internal error while generating; see the server log", "server_error"))
        self._fail_all(ApiError(503, "the server is shutting down", "unavailable"))

    def _admit(self):
        """Move waiting jobs to the prompts being read while streams are free; False once stopping."""
        with self.cond:
            while not (self.batch or self.waiting or self.prompts or self.stopping):
                self.cond.wait()
            if self.stopping:
                self.jobs += list(self.waiting)
                self.waiting.clear()
                return False
            taken = self._taken()  # under the lock, so that submit() never counts a job in neither place
            while self.waiting and taken + len(self.waiting[0].choices) <= self.max_streams:
                job = self.waiting.popleft()
                taken += len(job.choices)
                if not job.cancelled:
                    self._queue_prompts(job)
        return True

    def _queue_prompts(self, job):
        try:
            self.prompts.add(job)
        except CharrnnError as e:  # checked before it was queued, so not expected; say so all the same
            job.error = ApiError(400, str(e), param="prompt")
            self._wake(job)

    def _taken(self):
        """Streams generating or reading their prompts."""
        return len(self.batch) + self.prompts.streams

    def _read_prompts(self):
        """SLICE characters of prompts while others generate (until one job is ready when none
        does), at one BLAS thread; the jobs whose prompts are read join the batch."""
        if self.prompts:
            self.blas.use_for(1)
            self.prompts.read(SLICE if self.batch else None, self._join)

    def _join(self, job, prompts):
        """Add the job's choices to the batch: choice i continues prompt i // per_prompt."""
        per_prompt = len(job.choices) // len(job.prompts)
        for k, prompt in enumerate(prompts):
            self.batch.join(job.choices[k * per_prompt:(k + 1) * per_prompt], prompt)
        self.jobs.append(job)

    def _retire(self):
        """Drop finished, cancelled and timed-out streams; wake their requests."""
        now = time.monotonic()
        for job in self.jobs + self.prompts.jobs:
            if now > job.deadline and not job.done:
                print("charrnn serve: a request ran past the time limit; its text ends there", file=sys.stderr)
                for choice in job.choices:
                    choice.finish("length")
                self._wake(job)
        self.prompts.drop(lambda job: job.done or job.cancelled)
        self.jobs = [job for job in self.jobs if not (job.done or job.cancelled)]
        self.batch.leave(lambda choice: choice.job.done or choice.job.cancelled)

    def _block(self):
        batch = self.batch
        length = min([self.block] + [c.n - c.chars for c in batch.streams if not c.done])
        free = self.max_streams - self._taken()  # slots a waiting job could take after this block
        until = min([time.monotonic() + self.flush] + [job.deadline for job in self.jobs])

        def stop_early(steps):
            return (self.interrupted or (self.waiting and len(self.waiting[0].choices) <= free)
                    or (steps >= FLUSH_STEPS and (self.prompts or time.monotonic() >= until)))

        self.blas.use_for(len(batch))
        batch.run(length, stop_early)
        self._wake(*self.jobs)

    def _wake(self, *jobs):
        """Set the events of the jobs that have text or have ended, in one call into each event
        loop rather than one a job: each call writes to the loop's self-pipe."""
        by_loop = {}
        for job in jobs:
            if job.loop is None:
                continue
            if job.done and not job.end_flagged:
                job.end_flagged = True
                by_loop.setdefault(job.loop, []).append(job.ended)
            if not job.flagged and (job.done or any(c.out for c in job.choices)):
                job.flagged = True
                by_loop.setdefault(job.loop, []).append(job.wake)
        for loop, events in by_loop.items():
            loop.call_soon_threadsafe(set_events, events)

    def _fail_all(self, error):
        failing = [job for job in self.jobs + self.prompts.jobs if not job.done]
        for job in failing:
            job.error, job.flagged = error, False
        self._wake(*failing)
        self.batch, self.prompts, self.jobs = self.model.streams(), Prompts(self.model), []

