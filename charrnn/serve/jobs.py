"""A request in the engine: a Job of Choices (the model's streams, each with its own generator),
submitted from the event loop, and the waits for its text."""

import asyncio
import time
from dataclasses import dataclass, field

from ..api import SampleOptions, StopStrings, generator
from .choices import Choice
from .errors import ApiError

GREEDY = SampleOptions(greedy=True)
POLL_DISCONNECT = 0.25  # seconds between checks that a non-streaming client is still there


@dataclass
class Job:
    """One request: its prompts are encoded by the engine; `wake` is set on the request's loop."""

    prompts: list  # one text per prompt; choice i reads prompt i // per_prompt
    choices: list = field(default_factory=list)
    deadline: float = None
    loop: object = None
    wake: object = None  # asyncio.Event: text or the end is waiting
    ended: object = None  # asyncio.Event: the job is done (ends a stream's pause at once)
    error: ApiError = None
    cancelled: bool = False
    flagged: bool = False
    end_flagged: bool = False
    prompt_tokens: int = 0
    on_cancel: object = None  # the engine's, to end the block in progress

    @property
    def done(self):
        return self.error is not None or all(c.done for c in self.choices)

    def cancel(self):
        self.cancelled = True
        if self.on_cancel is not None:
            self.on_cancel()


def sampling(temperature, top_k=None, top_p=1.0, **repetition):
    """A choice's SampleOptions: temperature 0 is greedy (the repetition controls still apply)."""
    if temperature == 0:
        return SampleOptions(greedy=True, **repetition) if repetition else GREEDY
    options = SampleOptions(temperature=float(temperature), top_k=top_k, top_p=float(top_p), **repetition)
    options.check()
    return options


def new_job(model, time_limit, prompts, options, seed, max_tokens, stops=(), logprobs=None, end=None):
    """A Job of len(prompts) × len(options) choices, choice i sampled with options[i % len(options)]
    and drawing from generator(seed, i), as `charrnn sample --num-samples` draws sample i.
    Stops are text; `end` is another end rule (writer.SentenceEnd)."""
    job = Job(prompts, deadline=time.monotonic() + time_limit)
    end = end or (StopStrings([stop.encode("utf-8") for stop in stops]) if stops else None)
    each = [options[i % len(options)] for i in range(len(prompts) * len(options))]
    job.choices = [Choice(i, job, o, None if o.greedy else generator(seed, i), max_tokens, end, logprobs, model.vocab)
                   for i, o in enumerate(each)]
    return job


async def submit(engine, job):
    """Queue the job in the engine (ApiError 429 or 503 when it cannot take it); its text wakes this loop."""
    job.loop, job.wake, job.ended = asyncio.get_running_loop(), asyncio.Event(), asyncio.Event()
    engine.submit(job)


async def next_wake(job):
    """Wait until the engine has something for this job; clear the flag before the caller drains."""
    await job.wake.wait()
    job.wake.clear()
    job.flagged = False


async def pause(job, seconds):
    """Let text gather for `seconds`, unless the job ends first: its last text and the reply's
    end then go at once, and the client's next request is not held back."""
    try:
        async with asyncio.timeout(seconds):
            await job.ended.wait()
    except TimeoutError:
        pass


async def finished(job, request):
    """Wait for the whole job; a client that goes away cancels it (the engine drops it next step)."""
    try:
        while not job.done:
            try:
                await asyncio.wait_for(next_wake(job), POLL_DISCONNECT)
            except TimeoutError:
                if await request.is_disconnected():
                    return
    finally:
        if not job.done:
            job.cancel()
    if job.error:
        raise job.error
