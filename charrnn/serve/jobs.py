"""From a checked request to a Job in the engine, and back: prompts checked against the
vocab, one Choice per completion with its own generator, waiting with cancellation."""

import asyncio
import time

import numpy as np

from ..sample import SampleOptions
from .engine import Job
from .errors import ApiError

GREEDY = SampleOptions(greedy=True)
POLL_DISCONNECT = 0.25  # seconds between checks that a non-streaming client is still there


def check_prompt(backend, text, limits, param="prompt", what="prompt"):
    """The prompt's length in symbols; 413 over the cap, 400 listing the first few characters
    outside the vocab (`what` names the text in the messages)."""
    symbols = backend.symbols(text)
    length = len(symbols)
    if length > limits.max_prompt:
        raise ApiError(413, f"the {what} has {length:,} characters; this server's limit is {limits.max_prompt:,} "
                       "(charrnn serve --max-prompt)", "prompt_too_long", param)
    unknown, described = backend.unknown_symbols(symbols)
    if unknown:
        raise ApiError(400, f"{len(unknown)} characters of the {what} are not in the model's vocabulary: {described}",
                       "unknown_characters", param)
    return length


# Unseeded requests' generators: independent children of one fresh-entropy root. A fresh
# default_rng() reads the OS's entropy twice, 9 us on an idle machine but 0.15 ms a read
# on the event loop with 32 clients streaming (profiled).
FRESH = np.random.SeedSequence()


def sampling(temperature, top_k=None, top_p=1.0):
    """sample.py's options for one choice: temperature 0 is greedy."""
    if temperature == 0:
        return GREEDY
    options = SampleOptions(temperature=float(temperature), top_k=top_k, top_p=float(top_p))
    options.check()
    return options


def generator(seed, index):
    """Choice `index`'s own generator: choice 0 of seed S draws what `charrnn sample --random-seed S`
    draws; the others are independent streams of the same seed. No seed: a child of FRESH."""
    if seed is None:
        return np.random.default_rng(FRESH.spawn(1)[0])
    return np.random.default_rng(seed if index == 0 else np.random.SeedSequence(seed, spawn_key=(index,)))


def new_job(backend, limits, prompts, per_prompt, make_choice):
    """A Job of len(prompts) × per_prompt choices; make_choice(job, index) builds each."""
    job = Job(prompts, [], time.monotonic() + limits.time_limit)
    job.choices = [make_choice(job, index) for index in range(len(prompts) * per_prompt)]
    for choice in job.choices:
        choice.pieces = backend.pieces
    return job


async def submit(engine, job):
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
