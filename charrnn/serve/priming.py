"""Prompts read a slice at a time between blocks, so that a long prompt does not stall the batch.

Reading a prompt is one stream's steps, one after another: 0.45 s for an 8,000-character
prompt on a 2x256 LSTM. Read in one go, it would hold every stream in the batch for that
long. So between two blocks the engine reads prompts slice by slice until SLICE characters
are read (whole slices: up to 2·SLICE − 1), and a job joins the batch once all its prompts
are read. With no batch running, it reads until one job is ready. The job with the fewest
characters left goes first: in arrival order, the next request of every client streaming
beside a long prompt waited for all of it (0.3-0.45 s without an event, with 8 clients).
A prompt's slices are the ones every door reads (Model.prompt: SLICE ids from its start),
so its numbers, and a seeded request's text, do not depend on its company.
"""

from collections import deque

from ..api import SLICE


class Reading:
    """One job's prompts (Model.prompt: streams.Prompt each) and which is being read."""

    def __init__(self, job, prompts):
        self.job, self.prompts, self.current = job, prompts, 0

    @property
    def left(self):
        """Ids still to read, over all its prompts."""
        return sum(prompt.left for prompt in self.prompts[self.current:])

    def read_slice(self):
        """Read the next slice of the current prompt; returns (whether every prompt is now
        read, how many ids this read)."""
        count = self.prompts[self.current].read_slice()
        while self.current < len(self.prompts) and not self.prompts[self.current].left:
            self.current += 1
        return self.current == len(self.prompts), count


class Prompts:
    """The jobs whose prompts are being read, the shortest left first."""

    def __init__(self, model):
        self.model, self.readings = model, deque()
        self.streams = 0  # the jobs' choices: an int, which submit() reads from the event loop's thread

    def __len__(self):
        return len(self.readings)

    @property
    def jobs(self):
        return [reading.job for reading in self.readings]

    def add(self, job):
        """Encode the job's prompts (CharrnnError for an unknown character) and queue it."""
        self.readings.append(Reading(job, [self.model.prompt(prompt) for prompt in job.prompts]))
        self.streams += len(job.choices)

    def drop(self, leaving):
        """Forget the jobs for which leaving(job) is true."""
        self.readings = deque(r for r in self.readings if not leaving(r.job))
        self.streams = sum(len(r.job.choices) for r in self.readings)

    def read(self, chars, join):
        """Read slices until `chars` characters are read (a slice of none, a one-character
        prompt's, counts one), or with chars None until a job is ready. A job whose prompts are
        all read goes to join(job, prompts), its read streams.Prompts in order; it leaves the
        queue only once join has taken it."""
        while self.readings and (chars is None or chars > 0):
            reading = min(self.readings, key=lambda r: r.left)  # the first of the shortest
            finished, count = reading.read_slice()
            if finished:
                join(reading.job, reading.prompts)
                self.readings.remove(reading)
                self.streams -= len(reading.job.choices)
                if chars is None:
                    return
            chars = None if chars is None else chars - max(count, 1)
