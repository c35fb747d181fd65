"""The OpenAI completions subset: GET /v1/models and POST /v1/completions, whole or streamed.

A stream is server-sent events of completion chunks, the characters of each choice coalesced
into one event per COALESCE seconds, then a final chunk per choice with its finish_reason,
the usage chunk when asked for, and `data: [DONE]`. An error mid-stream (shutdown) is an
`{"error": ...}` event, then `[DONE]`.
"""

import json
import time
import uuid

from starlette.responses import JSONResponse, StreamingResponse

from .jobs import finished, new_job, next_wake, pause, sampling, submit
from .validate import parse_completion, read_json

COALESCE = 0.03  # seconds: one event per choice at most this often (20-50 ms keeps a page smooth)
STARTED = int(time.time())


async def models(request):
    service = request.app.state.service
    return JSONResponse({"object": "list", "data": [model_card(service.backend)]})


def model_card(backend):
    c = backend.config
    return {"id": backend.model_id, "object": "model", "created": STARTED, "owned_by": "charrnn",
            "meta": {"cell": c.cell, "num_layers": c.num_layers, "hidden_size": c.hidden_size,
                     "vocab_size": backend.vocab.size, "vocab_mode": "bytes" if backend.vocab.byte_mode else "text",
                     "kinds": list(backend.kinds)}}


async def completions(request):
    service = request.app.state.service
    req = parse_completion(await read_json(request), service.limits, service.backend)
    options = sampling(req.temperature, req.top_k, req.top_p, **req.repetition)
    job = new_job(service.backend.model, service.limits.time_limit, req.prompts, [options] * req.n, req.seed,
                  req.max_tokens, req.stop, req.logprobs)
    job.prompt_tokens = req.prompt_tokens
    head = {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", "created": int(time.time()),
            "model": service.backend.model_id}
    if req.max_tokens == 0:  # nothing to generate (echo still echoes)
        for choice in job.choices:
            choice.finish("length")
    else:
        await submit(service.engine, job)
    if req.stream:
        return StreamingResponse(events(job, req, head), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache", "x-accel-buffering": "no"})
    await finished(job, request)
    return JSONResponse(dict(head, choices=[whole_choice(c, req) for c in job.choices], usage=usage(job)))


def prompt_of(choice, req):
    return req.prompts[choice.index // req.n]


def whole_choice(choice, req):
    prefix = prompt_of(choice, req) if req.echo else ""
    _, text, entries = choice.drain() or (0, "", [])
    return {"index": choice.index, "text": prefix + text, "finish_reason": choice.finish_reason,
            "logprobs": logprobs(entries, len(prefix)) if req.logprobs is not None else None}


def logprobs(entries, offset):
    """OpenAI's logprobs object for (token, logprob, top) entries, text offsets starting at `offset`."""
    offsets = []
    for token, _, _ in entries:
        offsets.append(offset)
        offset += len(token)
    return {"tokens": [e[0] for e in entries], "token_logprobs": [e[1] for e in entries],
            "top_logprobs": [e[2] for e in entries], "text_offset": offsets}


def usage(job):
    completion = sum(c.chars for c in job.choices)
    return {"prompt_tokens": job.prompt_tokens, "completion_tokens": completion,
            "total_tokens": job.prompt_tokens + completion}


def sse(data):
    return f"data: {json.dumps(data)}\n\n"


async def events(job, req, head):
    def chunk(choice, text, entries=(), offset=0, finish=None):
        lp = logprobs(entries, offset) if req.logprobs is not None else None
        return sse(dict(head, choices=[{"index": choice.index, "text": text, "logprobs": lp, "finish_reason": finish}]))

    try:
        if req.echo:
            for choice in job.choices:
                yield chunk(choice, prompt_of(choice, req))
        sent = set()
        while True:
            if not job.done:
                await next_wake(job)
            for choice in job.choices:
                done, part = choice.done, choice.drain()  # done first: text released before it is in part
                if part:
                    offset, text, entries = part
                    yield chunk(choice, text, entries, offset + (len(prompt_of(choice, req)) if req.echo else 0))
                if done and choice.index not in sent:
                    sent.add(choice.index)
                    yield chunk(choice, "", finish=choice.finish_reason)
            if job.error:
                yield sse(job.error.body)
                break
            if len(sent) == len(job.choices):
                if req.include_usage:
                    yield sse(dict(head, choices=[], usage=usage(job)))
                break
            await pause(job, COALESCE)
        yield "data: [DONE]\n\n"
    finally:
        if not job.done:
            job.cancel()
