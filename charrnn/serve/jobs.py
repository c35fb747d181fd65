"""A request in the engine: a Job of Choices (the model's streams, each with its own
generator), queued from the event loop, and its text as it comes back.

    job = await start(service, request, prompts, options, seed, max_tokens, coalesce=0.03)
    async for choice, offset, text, entries, finish_reason in job:
        ...   # what a choice released (finish_reason None), then its end ("", finish_reason)

A job iterates as its reply needs it: with `coalesce`, for a streamed reply, text as the
engine releases it, gathered over `coalesce` seconds unless the job ends first (its last text
and the reply's end then go at once, and the client's next request is not held back);
without, for a whole reply, everything once the job is done, while checking every
POLL_DISCONNECT seconds that the client is still there. Either way a job whose client went
away is cancelled (the engine drops it after its step in progress), and a failed job raises
its ApiError.
"""

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
    request: object = None  # the client's, to notice it leave
    coalesce: float = None  # seconds to gather text over; None: the whole job at once
    loop: object = None
    wake: object = None  # asyncio.Event: text or the end is waiting
    ended: object = None  # asyncio.Event: the job is done (ends a stream's pause at once)
    error: ApiError = None
    cancelled: bool = False
    flagged: bool = False
    end_flagged: bool = False
    on_cancel: object = None  # the engine's, to end the block in progress

    @property
    def done(self):
        return self.error is not None or all(c.done for c in self.choices)

    def cancel(self):
        self.cancelled = True
        if self.on_cancel is not None:
            self.on_cancel()

    async def __aiter__(self):
        try:
            if self.coalesce is None and not await self._whole():
                return  # the client went away
            sent = set()
            while True:
                if not self.done:
                    await self._next_wake()
                for choice in self.choices:
                    done, part = choice.done, choice.drain()  # done first: text released before it is in part
                    if part:
                        yield (choice, *part, None)
                    if done and choice.index not in sent:
                        sent.add(choice.index)
                        yield choice, 0, "", [], choice.finish_reason
                if self.error:
                    raise self.error
                if len(sent) == len(self.choices):
                    return
                await self._pause()
        finally:  # the client went away, or the reply is done
            if not self.done:
                self.cancel()

    async def _next_wake(self):
        """Wait until the engine has something for this job; clear the flag before the caller drains."""
        await self.wake.wait()
        self.wake.clear()
        self.flagged = False

    async def _pause(self):
        """Let text gather for `coalesce` seconds, unless the job ends first."""
        try:
            async with asyncio.timeout(self.coalesce):
                await self.ended.wait()
        except TimeoutError:
            pass

    async def _whole(self):
        """Wait for the whole job; False when the client went away first."""
        while not self.done:
            try:
                await asyncio.wait_for(self._next_wake(), POLL_DISCONNECT)
            except TimeoutError:
                if await self.request.is_disconnected():
                    return False
        return True


def sampling(temperature, top_k=None, top_p=1.0, **repetition):
    """A choice's SampleOptions: temperature 0 is greedy (the repetition controls still apply)."""
    if temperature == 0:
        return SampleOptions(greedy=True, **repetition) if repetition else GREEDY
    options = SampleOptions(temperature=float(temperature), top_k=top_k, top_p=float(top_p), **repetition)
    options.check()
    return options


def new_job(vocab, time_limit, prompts, options, seed, max_tokens, stops=(), logprobs=None, end=None):
    """A Job of len(prompts) × len(options) choices: choice i is sampled with
    options[i % len(options)] and draws from generator(seed, i), as `charrnn sample
    --num-samples` draws sample i; stops are text, `end` another end rule (writer.SentenceEnd)."""
    job = Job(prompts, deadline=time.monotonic() + time_limit)
    end = end or (StopStrings([stop.encode("utf-8") for stop in stops]) if stops else None)
    each = [options[i % len(options)] for i in range(len(prompts) * len(options))]
    job.choices = [Choice(i, job, o, None if o.greedy else generator(seed, i), max_tokens, end, logprobs, vocab)
                   for i, o in enumerate(each)]
    return job


async def start(service, request, prompts, options, seed, max_tokens, stops=(), logprobs=None, end=None,
                coalesce=None):
    """new_job's Job for `request`, queued in the engine (ApiError 429 or 503 when it cannot
    take it) unless max_tokens is 0, to iterate as its reply needs (`coalesce`: see above)."""
    job = new_job(service.backend.vocab, service.limits.time_limit, prompts, options, seed, max_tokens, stops,
                  logprobs, end)
    job.request, job.coalesce = request, coalesce
    job.loop, job.wake, job.ended = asyncio.get_running_loop(), asyncio.Event(), asyncio.Event()
    if max_tokens == 0:  # nothing to generate (an echo still echoes)
        for choice in job.choices:
            choice.finish("length")
    else:
        service.engine.submit(job)
    return job
