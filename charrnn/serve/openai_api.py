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

from .errors import ApiError
from .jobs import sampling, start
from .body import read_json
from .validate import parse_completion

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
    options = [sampling(req.temperature, req.top_k, req.top_p, **req.repetition)] * req.n
    job = await start(service, request, req.prompts, options, req.seed, req.max_tokens, req.stop, req.logprobs,
                      coalesce=COALESCE if req.stream else None)
    head = {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", "created": int(time.time()),
            "model": service.backend.model_id}
    if req.stream:
        return StreamingResponse(events(job, req, head), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache", "x-accel-buffering": "no"})
    return JSONResponse(dict(head, choices=await whole_choices(job, req), usage=usage(job, req)))


def prompt_of(choice, req):
    return req.prompts[choice.index // req.n]


async def whole_choices(job, req):
    """Each choice whole, once the job is done: its text (after the prompt, with echo) and logprobs."""
    texts, entries = {}, {}
    async for choice, _, text, released, _ in job:
        texts[choice.index] = texts.get(choice.index, "") + text
        entries[choice.index] = entries.get(choice.index, []) + released
    replies = []
    for choice in job.choices:
        prefix = prompt_of(choice, req) if req.echo else ""
        replies.append({"index": choice.index, "text": prefix + texts.get(choice.index, ""),
                        "finish_reason": choice.finish_reason,
                        "logprobs": logprobs(entries.get(choice.index, []), len(prefix)) if req.logprobs is not None
                        else None})
    return replies


def logprobs(entries, offset):
    """OpenAI's logprobs object for (token, logprob, top) entries, text offsets starting at `offset`."""
    offsets = []
    for token, _, _ in entries:
        offsets.append(offset)
        offset += len(token)
    return {"tokens": [e[0] for e in entries], "token_logprobs": [e[1] for e in entries],
            "top_logprobs": [e[2] for e in entries], "text_offset": offsets}


def usage(job, req):
    completion = sum(c.chars for c in job.choices)
    return {"prompt_tokens": req.prompt_tokens, "completion_tokens": completion,
            "total_tokens": req.prompt_tokens + completion}


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
        async for choice, offset, text, entries, finish in job:
            yield chunk(choice, text, entries, offset + (len(prompt_of(choice, req)) if req.echo else 0), finish)
        if req.include_usage:
            yield sse(dict(head, choices=[], usage=usage(job, req)))
    except ApiError as error:  # the job failed mid-stream (the server is shutting down)
        yield sse(error.body)
    yield "data: [DONE]\n\n"
