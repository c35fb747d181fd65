"""Reading a request's body as a JSON object for every JSON endpoint: bounded in size, UTF-8,
strict JSON (no NaN or Infinity), nested at most MAX_DEPTH deep and holding only Unicode
text; anything else is a 400 or 413 ApiError saying what is wrong. Pure Python: it runs on
the event loop.

Depth: Python's json parser recurses once per level and raises RecursionError near a
thousand (100,000 `[` took the server to a 500), and a value nested hundreds deep would
take any later recursive walk (repr in an error message) there too. No OpenAI body nests
deeper than 3.

Lone surrogates: JSON's `\\ud800` escape gives a str that no UTF-8 can encode, which failed
wherever a field's text was encoded (a stop string: 500). Pairs are fine: they decode to one
character.
"""

import json
import re

from starlette.requests import ClientDisconnect

from .errors import ApiError

MAX_BODY = 1 << 20  # bytes; a prompt at the cap fits many times over
MAX_DEPTH = 32  # arrays and objects within each other
SURROGATE = re.compile("[\ud800-\udfff]")


async def read_json(request):
    """The body as a JSON object, or a 400/413 ApiError saying what is wrong with it."""
    if int(request.headers.get("content-length") or 0) > MAX_BODY:
        raise too_large()
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                raise too_large()
    except ClientDisconnect:  # nobody reads the answer; it keeps a traceback out of the log
        raise ApiError(400, "the client went away before the body ended") from None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ApiError(400, f"the body is not valid UTF-8 (byte {e.start})") from None
    value = parse(text)
    if not isinstance(value, dict):
        raise ApiError(400, "the body must be a JSON object")
    return value


def parse(text):
    """json.loads with parse errors, depth and lone surrogates as 400 ApiErrors."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as e:
        raise ApiError(400, f"the body is not valid JSON: {e.msg} (line {e.lineno} column {e.colno})") from None
    except RecursionError:
        raise too_deep() from None
    except ValueError as e:  # NaN or Infinity, or an integer of thousands of digits
        raise ApiError(400, f"the body is not valid JSON: {e}") from None
    check_tree(value)
    return value


def check_tree(value):
    """Walk a parsed JSON value without recursing: a 400 for nesting deeper than MAX_DEPTH or
    a string (key or value) holding a lone surrogate."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            found = SURROGATE.search(item)
            if found:
                raise ApiError(400, f"the body holds a lone surrogate, \\u{ord(found.group()):x}, in a string: "
                               "JSON text must be Unicode (a character outside the BMP is a pair of escapes)")
        elif isinstance(item, (list, dict)):
            if depth > MAX_DEPTH:
                raise too_deep()
            children = item if isinstance(item, list) else [*item, *item.values()]
            stack.extend((child, depth + 1) for child in children)


def too_large():
    return ApiError(413, f"the body is larger than the server's limit of {MAX_BODY:,} bytes", "body_too_large")


def too_deep():
    return ApiError(400, f"the body nests arrays and objects deeper than {MAX_DEPTH} levels")


def _refuse_constant(name):
    raise ValueError(f"{name} is not a JSON number")
