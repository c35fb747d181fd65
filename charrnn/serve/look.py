"""POST /v1/inspect: a text scored and one unit's values, for the page's "look inside" tab
(charrnn inspect's score and units views, over HTTP). Under the API key, as /v1/ is.

    {"text": "ROMEO: Peace", "top_k": 3, "layer": 1, "kind": "c", "unit": 7}
    → {"model": "demo", "symbols": ["R", "O", ...], "vocab_size": 65, "chars": 11, "nats": 23.1,
       "scores": [{"position": 1, "char": "O", "logprob": -2.3, "rank": 4, "entropy": 2.9,
                   "top": [["E", 0.31], ...]}, ...],
       "unit": {"unit": "1:c:7", "layer": 1, "kind": "c", "index": 7, "scale": "unbounded", "values": [0.12, ...]},
       "units": [{"unit": "1:c:7", "index": 7, "variance": 0.8, "saturation": 0.1, ...}, ...]}

`symbols` is the text as the model reads it, one per character (a byte model's bytes as
Latin-1); `scores` are `charrnn inspect score --format jsonl`'s rows, Model.score's figures
(eval's layout: streams of 256 characters or more, each from zero state; position 0 is
never scored), so `nats` is `charrnn eval`'s total. With `layer`, `unit` holds one unit's
value after each character (the text read as one stream, Model.activations; rounded to 4
places; `scale`, hooks.value_scales, says how its values lie, for the colours), by default
the most variable of the layer's `kind`, and `units` the TOP_UNITS most
variable, as `charrnn inspect units --top` ranks them: the whole (T, H) matrix is not sent.
All of it is Model.look's.

The forward passes run in a worker thread, one request at a time (SCORING): NumPy never runs
on the event loop, and a queue of long texts takes at most one core from the engine.
"""

import anyio
from starlette.responses import JSONResponse

from .errors import ApiError
from .body import read_json
from .validate import check_prompt, parse_look

TOP_UNITS = 10
SCORING = anyio.CapacityLimiter(1)  # the process's one server: scoring requests take turns


async def inspect(request):
    service = request.app.state.service
    backend = service.backend
    look = parse_look(await read_json(request), backend)
    if check_prompt(backend, look.text, service.limits, "text", "text") < 2:
        raise ApiError(400, "the text needs at least 2 characters: the first is never scored", param="text")
    body = await anyio.to_thread.run_sync(lambda: backend.model.look(look.text, look.top_k, look.layer, look.kind,
                                                                     look.unit, TOP_UNITS), limiter=SCORING)
    return JSONResponse(dict(body, model=backend.model_id))
