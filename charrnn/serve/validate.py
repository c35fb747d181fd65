"""Reading a request: the body (bounded, UTF-8, strict JSON) and the completion fields, each
checked for type and range with its name in the error. Pure Python: it runs on the event loop."""

import dataclasses
import json
import math
from dataclasses import dataclass

from .errors import ApiError

MAX_BODY = 1 << 20  # bytes; a prompt at the cap fits many times over
MAX_STOPS, MAX_STOP_CHARS, MAX_LOGPROBS = 4, 32, 5
MAX_TOP_K = 10  # alternatives per character in /v1/inspect
MAX_PENALTY, MAX_NGRAM, MAX_WINDOW = 10, 64, 1024  # the repetition controls' bounds: each step costs O(n·t + window)


@dataclass(frozen=True)
class Limits:
    """The server's caps (each a `charrnn serve` flag)."""

    max_prompt: int = 8000  # symbols per prompt
    max_tokens: int = 4096  # characters per choice
    max_n: int = 8  # choices per request (prompts × n)
    max_streams: int = 64  # generated together
    max_waiting: int = 64  # requests queued behind them
    time_limit: float = 120.0  # seconds per request


@dataclass(frozen=True)
class Completion:
    prompts: list
    max_tokens: int = 200
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = None
    n: int = 1
    stop: tuple = ()
    stream: bool = False
    include_usage: bool = False
    seed: int = None
    echo: bool = False
    logprobs: int = None
    prompt_tokens: int = 0  # the prompts' symbols, counted as check_prompt reads them
    repetition: dict = None  # sample's repetition controls set: repetition_penalty, repetition_window, no_repeat_ngram


@dataclass(frozen=True)
class Look:
    """A /v1/inspect request: the text, top_k alternatives per character, and, with `layer`,
    one unit's values (`kind` default the state's last, "c" or "h"; `unit` default the most variable)."""

    text: str
    top_k: int = 5
    layer: int = None
    kind: str = None
    unit: int = None


async def read_json(request):
    """The body as a JSON object, or a 400/413 ApiError saying what is wrong with it."""
    if int(request.headers.get("content-length") or 0) > MAX_BODY:
        raise too_large()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise too_large()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ApiError(400, f"the body is not valid UTF-8 (byte {e.start})") from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as e:
        raise ApiError(400, f"the body is not valid JSON: {e.msg} (line {e.lineno} column {e.colno})") from None
    except ValueError as e:  # an integer of thousands of digits
        raise ApiError(400, f"the body is not valid JSON: {e}") from None
    if not isinstance(value, dict):
        raise ApiError(400, "the body must be a JSON object")
    return value


def too_large():
    return ApiError(413, f"the body is larger than the server's limit of {MAX_BODY:,} bytes", "body_too_large")


def _refuse_constant(name):
    raise ValueError(f"{name} is not a JSON number")


def field(body, name, kinds, check, want, default=None):
    """body[name] (default when absent or null), or a 400 naming the field and what it must be."""
    value = body.get(name)
    if value is None:
        return default
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds) or not check(value):
        shown = repr(value) if len(repr(value)) < 40 else repr(value)[:37] + "..."
        raise ApiError(400, f"{name} must be {want}, got {shown}", param=name)
    return value


def number(low, high):
    return lambda x: math.isfinite(x) and low <= x <= high


def parse_completion(body, limits, backend):
    """A Completion from an OpenAI completions body, its prompts checked against the model, or an ApiError."""
    model, model_id = field(body, "model", (str,), lambda m: True, "a string"), backend.model_id
    if model is None:
        raise ApiError(400, "model is required", param="model")
    if model != model_id:
        raise ApiError(404, f"the model {model!r} does not exist; this server has {model_id!r}", "model_not_found",
                       "model")
    _refuse_unsupported(body)
    prompts = _prompts(body, limits)
    n = field(body, "n", (int,), lambda v: 1 <= v <= limits.max_n, f"an integer from 1 to {limits.max_n}", 1)
    if n * len(prompts) > limits.max_n:
        raise ApiError(400, f"{len(prompts)} prompts × n = {n} asks for more than {limits.max_n} completions", param="n")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise ApiError(400, "stream_options must be an object", param="stream_options")
    completion = Completion(
        prompts, n=n, stop=_stops(body),
        max_tokens=field(body, "max_tokens", (int,), lambda v: 0 <= v <= limits.max_tokens,
                         f"an integer from 0 to {limits.max_tokens}", 200),
        temperature=field(body, "temperature", (int, float), number(0, 2), "a number from 0 to 2", 1.0),
        top_p=field(body, "top_p", (int, float), lambda v: number(0, 1)(v) and v > 0, "a number in (0, 1]", 1.0),
        top_k=field(body, "top_k", (int,), lambda v: v >= 0, "an integer >= 0 (0: no limit)") or None,
        stream=field(body, "stream", (bool,), lambda v: True, "true or false", False),
        include_usage=field(options, "include_usage", (bool,), lambda v: True, "true or false", False),
        seed=field(body, "seed", (int,), lambda v: 0 <= v < 2**64, "an integer from 0 to 2**64 - 1"),
        echo=field(body, "echo", (bool,), lambda v: True, "true or false", False),
        logprobs=field(body, "logprobs", (int,), lambda v: 0 <= v <= MAX_LOGPROBS,
                       f"an integer from 0 to {MAX_LOGPROBS}"),
        repetition=_repetition(body))
    tokens = sum(check_prompt(backend, prompt, limits, "prompt" if len(prompts) == 1 else f"prompt[{i}]")
                 for i, prompt in enumerate(prompts))
    return dataclasses.replace(completion, prompt_tokens=tokens)


def _repetition(body):
    """The extension fields for `charrnn sample`'s repetition controls, those given."""
    given = {"repetition_penalty": field(body, "repetition_penalty", (int, float),
                                         lambda v: number(0, MAX_PENALTY)(v) and v > 0,
                                         f"a number > 0 and at most {MAX_PENALTY} (1: off)"),
             "repetition_window": field(body, "repetition_window", (int,), lambda v: 1 <= v <= MAX_WINDOW,
                                        f"an integer from 1 to {MAX_WINDOW}"),
             "no_repeat_ngram": field(body, "no_repeat_ngram", (int,), lambda v: 1 <= v <= MAX_NGRAM,
                                      f"an integer from 1 to {MAX_NGRAM}")}
    return {name: value for name, value in given.items() if value is not None}


def check_prompt(backend, text, limits, param="prompt", what="prompt"):
    """The prompt's length in symbols; 413 over the cap, 400 listing the first few characters
    outside the vocab (`what` names the text in the messages)."""
    try:
        symbols = backend.symbols(text)
    except UnicodeEncodeError as e:  # a byte model reads UTF-8, and a JSON "\ud800" escape has none
        raise ApiError(400, f"the {what} is not valid Unicode: {text[e.start]!r} at {e.start} is half a surrogate "
                       "pair", "invalid_text", param) from None
    length = len(symbols)
    if length > limits.max_prompt:
        raise ApiError(413, f"the {what} has {length:,} characters; this server's limit is {limits.max_prompt:,} "
                       "(charrnn serve --max-prompt)", "prompt_too_long", param)
    unknown, described = backend.unknown_symbols(symbols)
    if unknown:
        raise ApiError(400, f"{len(unknown)} characters of the {what} are not in the model's vocabulary: {described}",
                       "unknown_characters", param)
    return length


def parse_look(body, backend):
    """A Look from a /v1/inspect body, or an ApiError naming the field; the text's length and
    characters are check_prompt's."""
    text = field(body, "text", (str,), lambda t: True, "a string")
    if not text:
        raise ApiError(400, "text is required: the text to score", param="text")
    config, kinds = backend.config, backend.kinds
    last, units = config.num_layers - 1, config.hidden_size - 1
    layer = field(body, "layer", (int,), lambda v: 0 <= v <= last, f"an integer from 0 to {last}")
    kind = field(body, "kind", (str,), lambda v: v in kinds, f"one of {', '.join(kinds)} (the {config.cell}'s kinds)")
    unit = field(body, "unit", (int,), lambda v: 0 <= v <= units, f"an integer from 0 to {units}")
    if layer is None and (kind, unit) != (None, None):
        raise ApiError(400, "kind and unit need layer: the layer whose unit to show", param="layer")
    top_k = field(body, "top_k", (int,), lambda v: 0 <= v <= MAX_TOP_K, f"an integer from 0 to {MAX_TOP_K}", 5)
    return Look(text, top_k, layer, kind or backend.model.state_kinds[-1], unit)


def _refuse_unsupported(body):
    for name, default in (("logit_bias", {}), ("best_of", 1), ("suffix", "")):
        if body.get(name) not in (None, default):
            raise ApiError(400, f"{name} is not supported by a character model server", "unsupported_parameter", name)


def _prompts(body, limits):
    prompt = body.get("prompt", "")
    prompts = [prompt] if isinstance(prompt, str) else prompt
    if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
        raise ApiError(400, "prompt must be a string or a non-empty list of strings (token ids mean nothing to a "
                       "character model)", param="prompt")
    if len(prompts) > limits.max_n:
        raise ApiError(400, f"at most {limits.max_n} prompts per request", param="prompt")
    return prompts


def _stops(body):
    stop = body.get("stop")
    stops = [] if stop is None else [stop] if isinstance(stop, str) else stop
    if (not isinstance(stops, list) or len(stops) > MAX_STOPS
            or not all(isinstance(s, str) and 0 < len(s) <= MAX_STOP_CHARS for s in stops)):
        raise ApiError(400, f"stop must be a string or a list of up to {MAX_STOPS}, each 1 to {MAX_STOP_CHARS} "
                       "characters", param="stop")
    return tuple(stops)
