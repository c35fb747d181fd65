"""Prompts read a slice at a time between blocks, so that a long prompt does not stall the batch.

Reading a prompt is one stream's steps, one after another: 0.45 s for an 8,000-character
prompt on a 2x256 LSTM. Read in one go, it would hold every stream in the batch for that
long. So between two blocks the engine reads prompts slice by slice until SLICE characters
are read (whole slices: up to 2·SLICE − 1), and a job joins the batch once all its prompts
are read. With no batch running, it reads until one job is ready. The job with the fewest
characters left goes first: in arrival order, the next request of every client streaming
beside a long prompt waited for all of it (0.3-0.45 s without an event, with 8 clients).
A prompt's slices start at the same places (0, SLICE, 2·SLICE, ...) whatever else is
running, so its numbers, and a seeded request's text, do not depend on its company.
"""

from collections import deque

from ..model import init_state

SLICE = 64  # characters: ~4 ms of reading at one stream


class Reading:
    """One job's prompts and how far they are read: each prompt's ids (T,) and the state after
    its first `done` ids (of the T − 1 that priming reads; the last is the first input)."""

    def __init__(self, job, prompt_ids, config):
        self.job, self.prompt_ids = job, prompt_ids
        self.states = [init_state(config, 1) for _ in prompt_ids]
        self.prompt, self.done = 0, 0

    @property
    def left(self):
        """Ids still to read, over all its prompts."""
        return sum(len(ids) - 1 for ids in self.prompt_ids[self.prompt:]) - self.done

    def read_slice(self, backend):
        """Read the next slice of the current prompt (up to SLICE ids); returns (whether every
        prompt is now read, how many ids this read)."""
        ids, start = self.prompt_ids[self.prompt], self.done
        stop = min(start + SLICE, len(ids) - 1)
        if stop > start:
            self.states[self.prompt] = backend.read(ids[start:stop], self.states[self.prompt])
        self.done = stop
        if stop == len(ids) - 1:
            self.prompt, self.done = self.prompt + 1, 0
        return self.prompt == len(self.prompt_ids), stop - start


class Prompts:
    """The jobs whose prompts are being read, the shortest left first."""

    def __init__(self, backend):
        self.backend, self.readings = backend, deque()
        self.streams = 0  # the jobs' choices: an int, which submit() reads from the event loop's thread

    def __len__(self):
        return len(self.readings)

    @property
    def jobs(self):
        return [reading.job for reading in self.readings]

    def add(self, job):
        """Encode the job's prompts (CharrnnError for an unknown character) and queue it."""
        prompt_ids = [self.backend.encode(prompt) for prompt in job.prompts]
        self.readings.append(Reading(job, prompt_ids, self.backend.config))
        self.streams += len(job.choices)

    def drop(self, leaving):
        """Forget the jobs for which leaving(job) is true."""
        self.readings = deque(r for r in self.readings if not leaving(r.job))
        self.streams = sum(len(r.job.choices) for r in self.readings)

    def read(self, chars, join):
        """Read slices until `chars` characters are read (a slice of none, a one-character
        prompt's, counts one), or with chars None until a job is ready. A job whose prompts are
        all read goes to join(job, last ids, states): each prompt's last id and its state (one
        stream), in prompt order; it leaves the queue only once join has taken it."""
        while self.readings and (chars is None or chars > 0):
            reading = min(self.readings, key=lambda r: r.left)  # the first of the shortest
            finished, count = reading.read_slice(self.backend)
            if finished:
                join(reading.job, [ids[-1] for ids in reading.prompt_ids], reading.states)
                self.readings.remove(reading)
                self.streams -= len(reading.job.choices)
                if chars is None:
                    return
            chars = None if chars is None else chars - max(count, 1)
