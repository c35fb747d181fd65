"""torch-rnn-server's API, for rnn-writer: `GET /` (JSON status) and `GET /generate`.

    GET /generate?start_text=<encodeURIComponent(text)>&n=5
    → {"start_text": <the value as the client sent it, still percent-encoded>,
       "completions": ["...", ...], "time": "0.42"}

The client decodes the echo and ignores the reply unless it equals its own text, and on a
first request pastes completions[0] into the document, so the echo is the raw query value
and `completions` is never empty: each is a non-blank continuation that ends at a sentence
end (more than 3 words, then . ! or ?) or at MAX_CHARS, drawn at a random temperature from
TEMPERATURES as torch-rnn-server drew them. Errors are `{"message": ...}` (and OpenAI's
`error`), which the client shows to its user.
"""

import random
import re
import time
from urllib.parse import unquote_plus

from starlette.responses import JSONResponse

from .errors import ApiError
from .fields import Field
from .jobs import sampling, start

MAX_N, MAX_CHARS, ATTEMPTS = 10, 140, 3
N = Field("integer", 1, MAX_N, default=1)  # the query's n, as the API schema states it
TEMPERATURES = (0.5, 0.6, 0.7, 0.8, 0.9)


def raw_query_value(request, name):
    """The value of `name` exactly as it stands in the query string (not decoded)."""
    for pair in request.scope["query_string"].decode("latin-1").split("&"):
        key, _, value = pair.partition("=")
        if unquote_plus(key) == name:
            return value
    return None


def status(request):
    backend = request.app.state.service.backend
    return JSONResponse({"status": "ok", "model": backend.model_id,
                         "message": f"charrnn is serving {backend.model_id}; ask /generate?start_text=...&n=5"})


async def generate(request):
    try:
        return await _generate(request)
    except ApiError as e:
        return e.response(top_level_message=True)


async def _generate(request):
    service, started = request.app.state.service, time.perf_counter()
    raw = raw_query_value(request, "start_text")
    n = request.query_params.get("n", "1")
    if not (n.isascii() and n.isdigit() and N.accepts(int(n))):  # "²".isdigit(), and int("²") raises
        raise ApiError(400, f"n must be {N.want}, got {n!r}", param="n")
    start_text = service.backend.known_only(request.query_params.get("start_text", ""))[-service.limits.max_prompt:]
    completions = []
    for _ in range(ATTEMPTS):  # torch-rnn-server retried without bound; a model that never ends a sentence hung it
        texts = await _sentences(request, service, start_text, int(n) - len(completions))
        completions += [t for t in texts if t.strip()]
        if len(completions) == int(n):
            break
    if not completions:
        raise ApiError(503, "the model produced only blank text; try again or type more", "blank_completions")
    return JSONResponse({"start_text": raw or "", "completions": completions,
                         "time": f"{time.perf_counter() - started:.2f}"})


async def _sentences(request, service, start_text, count):
    options = [sampling(random.choice(TEMPERATURES)) for _ in range(count)]
    job = await start(service, request, [start_text], options, None, MAX_CHARS, end=SentenceEnd())
    async for _ in job:  # until it is done
        pass
    return [choice.text for choice in job.choices]


class SentenceEnd:
    """torch-rnn-server's rule for rnn-writer, an end rule of the model's streams (as
    streams.StopStrings): end after `.`, `!` or `?` once the text holds more than
    `min_words` words. It looks at the whole text, so nothing is released before the end."""

    END = re.compile(rb"[.!?]")

    def __init__(self, min_words=3):
        self.min_words = min_words

    def find(self, text):
        for match in self.END.finditer(text):
            if len(text[:match.end()].decode("utf-8", "replace").split()) > self.min_words:
                return match.end(), match.end()
        return None

    def hold(self, text):
        return len(text)
