"""Reading a request's fields: each checked for type and range against its fields.Field (which
the published API schema states too) with its name in the error, and the prompts against the
model. Pure Python: it runs on the event loop. The body itself is body.read_json's."""

import dataclasses
from dataclasses import dataclass

from .errors import ApiError
from .fields import Field

MAX_STOPS, MAX_STOP_CHARS, MAX_LOGPROBS = 4, 32, 5
MAX_TOP_K = 10  # alternatives per character in /v1/inspect
MAX_SEED = 2**64 - 1  # NumPy's seeds are unsigned 64-bit
# the repetition controls' bounds: each step costs O(n·t + window); a penalty near 1e-308 made a logit
# divided by it inf (NaN weights, nonsense text), and the page's input starts at 0.1 anyway
MIN_PENALTY, MAX_PENALTY, MAX_NGRAM, MAX_WINDOW = 0.1, 10, 64, 1024
REPETITION = ("repetition_penalty", "repetition_window", "no_repeat_ngram")
UNSUPPORTED = {"logit_bias": {}, "best_of": 1, "suffix": ""}  # OpenAI's fields that only their defaults can have
TEXT = Field("string")
INCLUDE_USAGE = Field("boolean", default=False)


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


def completion_fields(limits):
    """The completions body's fields that are one value of one type and range, by name: OpenAI's
    and the extension fields of `charrnn sample`'s repetition controls (REPETITION)."""
    return {"max_tokens": Field("integer", 0, limits.max_tokens, default=200),
            "temperature": Field("number", 0, 2, default=1, note="(0: greedy)"),
            "top_p": Field("number", 0, 1, above=True, default=1),
            "top_k": Field("integer", 0, default=0, note="(0: no limit)"),
            "n": Field("integer", 1, limits.max_n, default=1),
            "stream": Field("boolean", default=False),
            "seed": Field("integer", 0, MAX_SEED),
            "echo": Field("boolean", default=False),
            "logprobs": Field("integer", 0, MAX_LOGPROBS),
            "repetition_penalty": Field("number", MIN_PENALTY, MAX_PENALTY, note="(1: off)"),
            "repetition_window": Field("integer", 1, MAX_WINDOW),
            "no_repeat_ngram": Field("integer", 1, MAX_NGRAM)}


def parse_completion(body, limits, backend):
    """A Completion from an OpenAI completions body, its prompts checked against the model, or an ApiError."""
    model, model_id = field(body, "model", TEXT), backend.model_id
    if model is None:
        raise ApiError(400, "model is required", param="model")
    if model != model_id:
        raise ApiError(404, f"the model {model!r} does not exist; this server has {model_id!r}", "model_not_found",
                       "model")
    _refuse_unsupported(body)
    prompts = _prompts(body, limits)
    values = {name: field(body, name, spec) for name, spec in completion_fields(limits).items()}
    n = values["n"]
    if n * len(prompts) > limits.max_n:
        raise ApiError(400, f"{len(prompts)} prompts × n = {n} asks for more than {limits.max_n} completions",
                       param="n")
    repetition = {name: values.pop(name) for name in REPETITION}
    values["top_k"] = values["top_k"] or None  # 0: no limit
    completion = Completion(prompts, stop=_stops(body), **values,
                            include_usage=field(_stream_options(body), "include_usage", INCLUDE_USAGE),
                            repetition={name: v for name, v in repetition.items() if v is not None})
    tokens = sum(check_prompt(backend, prompt, limits, "prompt" if len(prompts) == 1 else f"prompt[{i}]")
                 for i, prompt in enumerate(prompts))
    return dataclasses.replace(completion, prompt_tokens=tokens)


def field(body, name, spec):
    """body[name] (spec.default when absent or null), or a 400 naming the field and what it must be."""
    value = body.get(name)
    if value is None:
        return spec.default
    if not spec.accepts(value):
        shown = repr(value) if len(repr(value)) < 40 else repr(value)[:37] + "..."
        raise ApiError(400, f"{name} must be {spec.want}, got {shown}", param=name)
    return spec.value(value)


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


def look_fields(backend):
    """The /v1/inspect body's fields besides `text`, by name: their ranges are the model's."""
    config = backend.config
    return {"top_k": Field("integer", 0, MAX_TOP_K, default=5),
            "layer": Field("integer", 0, config.num_layers - 1),
            "kind": Field("string", choices=tuple(backend.kinds), note=f"(the {config.cell}'s kinds)"),
            "unit": Field("integer", 0, config.hidden_size - 1)}


def parse_look(body, backend):
    """A Look from a /v1/inspect body, or an ApiError naming the field; the text's length and
    characters are check_prompt's."""
    text = field(body, "text", TEXT)
    if not text:
        raise ApiError(400, "text is required: the text to score", param="text")
    values = {name: field(body, name, spec) for name, spec in look_fields(backend).items()}
    if values["layer"] is None and (values["kind"], values["unit"]) != (None, None):
        raise ApiError(400, "kind and unit need layer: the layer whose unit to show", param="layer")
    return Look(text, **dict(values, kind=values["kind"] or backend.model.state_kinds[-1]))


def _refuse_unsupported(body):
    for name, default in UNSUPPORTED.items():
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or value != default):  # as JSON Schema: 1.0 is 1, true not
            raise ApiError(400, f"{name} is not supported by a character model server", "unsupported_parameter", name)


def _stream_options(body):
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise ApiError(400, "stream_options must be an object", param="stream_options")
    return options or {}


def _prompts(body, limits):
    prompt = "" if body.get("prompt") is None else body["prompt"]
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
