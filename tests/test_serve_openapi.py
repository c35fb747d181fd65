"""The published API schema (GET /openapi.json) and the server's validators agree: the
schema is valid OpenAPI 3.1 and states this server's own limits (its flags), the validators
read exactly the fields it lists, and for every property a value at each edge of its range
is accepted over HTTP and one just past it (or of another type) refused with a 4xx naming it."""

import math
import re

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("starlette")

from charrnn.serve.backend import load  # noqa: E402
from charrnn.serve.validate import Limits, parse_completion, parse_look  # noqa: E402
from serving import Server, make_checkpoint  # noqa: E402

FLAGS = ("--max-tokens", "50", "--max-n", "3", "--max-prompt", "120")
WRONG_TYPES = [("integer", 5), ("number", 1.5), ("string", "1"), ("boolean", True), ("array", []), ("object", {})]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("openapi") / "tiny.npz")


@pytest.fixture(scope="module")
def server(checkpoint):
    with Server(checkpoint, *FLAGS) as server:
        yield server


@pytest.fixture(scope="module")
def published(server):
    return httpx.get(server.url + "/openapi.json").json()


def request_schema(published, name):
    return published["components"]["schemas"][name]


def test_the_schema_states_the_servers_own_limits(published):
    completion = request_schema(published, "CreateCompletionRequest")["properties"]
    text, array = completion["prompt"]["anyOf"][:2]
    assert (completion["max_tokens"]["maximum"], completion["n"]["maximum"]) == (50, 3)
    assert (text["maxLength"], array["maxItems"]) == (120, 3) and completion["model"]["enum"] == ["tiny"]
    look = request_schema(published, "InspectRequest")["properties"]
    assert (look["text"]["maxLength"], look["layer"]["maximum"], look["unit"]["maximum"]) == (120, 1, 31)
    assert look["kind"]["enum"] == ["h", "c", "i", "f", "o", "g", None]
    assert "security" not in published["paths"]["/v1/completions"]["post"]


def test_with_a_key_the_protected_operations_say_so(checkpoint):
    with Server(checkpoint, "--api-key", "sekrit") as server:
        paths = httpx.get(server.url + "/openapi.json").json()["paths"]
    assert paths["/v1/completions"]["post"]["security"] == [{"apiKey": []}]
    assert "401" in paths["/generate"]["get"]["responses"] and "security" not in paths["/health"]["get"]


def test_the_schema_is_valid_openapi_3_1(published):
    schemathesis = pytest.importorskip("schemathesis")
    schema = schemathesis.openapi.from_dict(published)
    schema.validate()
    assert {op.ok().label for op in schema.get_all_operations()} == {
        "GET /", "GET /health", "GET /openapi.json", "GET /v1/models", "GET /v1/models/{model}",
        "POST /v1/completions", "POST /v1/inspect", "GET /generate"}


class Reading(dict):
    """A body that records which of its keys the validator asks for."""

    def __init__(self, *args):
        super().__init__(*args)
        self.read = set()

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)


def test_the_validators_read_exactly_the_listed_fields(published, checkpoint):
    backend = load(checkpoint)
    body = Reading({"model": "tiny", "prompt": "a"})
    parse_completion(body, Limits(), backend)
    assert body.read == set(request_schema(published, "CreateCompletionRequest")["properties"])
    body = Reading({"text": "ab"})
    parse_look(body, backend)
    assert body.read == set(request_schema(published, "InspectRequest")["properties"])


def kinds_of(prop):
    if "anyOf" in prop:
        return {kind for branch in prop["anyOf"] for kind in kinds_of(branch)}
    kinds = prop.get("type", [])
    return {kinds} if isinstance(kinds, str) else set(kinds)


def is_of(kind, value):
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return {"integer": number and float(value).is_integer(), "number": number, "string": isinstance(value, str),
            "boolean": isinstance(value, bool), "array": isinstance(value, list),
            "object": isinstance(value, dict), "null": value is None}[kind]


def edges(prop):
    """(value, accepted) pairs for a property: each end of its range and just past it, null, and
    values of types it does not take."""
    kinds = kinds_of(prop)
    pairs = [(value, False) for kind, value in WRONG_TYPES if not any(is_of(k, value) for k in kinds)]
    return pairs + ([(None, True)] if "null" in kinds else []) + list(range_edges(prop))


def range_edges(prop):
    if "anyOf" in prop:
        for branch in prop["anyOf"]:
            yield from range_edges(branch)
    elif "enum" in prop:
        known = [v for v in prop["enum"] if v is not None]
        yield from ((v, True) for v in known)
        yield ("zz" if all(isinstance(v, str) for v in known) else max(known) + 1), False
    elif kinds_of(prop) & {"integer", "number"}:
        yield from number_edges(prop, "integer" in kinds_of(prop))
    elif "string" in kinds_of(prop):
        yield from string_edges(prop)
    elif "array" in kinds_of(prop):
        item = next(value for value, ok in string_edges(prop["items"]) if ok)
        yield from ([[item] * prop["maxItems"], True], [[item] * (prop["maxItems"] + 1), False])
        yield [], prop.get("minItems", 0) == 0
    elif "object" in kinds_of(prop):
        yield {}, True
        if prop.get("maxProperties") == 0:
            yield {"1": 5}, False
        for name, inner in prop.get("properties", {}).items():
            yield from (({name: value}, ok) for value, ok in edges(inner))


def number_edges(prop, integer):
    def past(x, way):
        return x + way if integer else math.nextafter(x, way * math.inf)

    if "minimum" in prop:
        yield from ((prop["minimum"], True), (past(prop["minimum"], -1), False))
        if integer:
            yield float(prop["minimum"]), True  # JSON Schema's integer: 2.0 is one
    if "exclusiveMinimum" in prop:
        yield from ((prop["exclusiveMinimum"], False), (past(prop["exclusiveMinimum"], 1), True))
    if "maximum" in prop:
        yield from ((prop["maximum"], True), (past(prop["maximum"], 1), False))
    if integer:
        yield 1.5, False


def string_edges(prop):
    outside = next(c for c in "#{€" if not re.fullmatch(prop.get("pattern", "^$"), c))
    shortest, longest = prop.get("minLength", 0), prop.get("maxLength")
    yield "a" * max(shortest, 1), True
    if shortest:
        yield "a" * (shortest - 1), False
    if longest:
        yield from (("a" * longest, True), ("a" * (longest + 1), False))
    if "pattern" in prop:
        yield outside * max(shortest, 1), False


def walk(published, schema_name):
    """(field, value, accepted, the param its error names) over every property of a request schema."""
    return [(name, value, ok, param_of(name, prop, value))
            for name, prop in request_schema(published, schema_name)["properties"].items()
            for value, ok in edges(prop)]


def param_of(name, prop, value):
    """An object's own property's error names that property (stream_options' include_usage)."""
    inner = set(value) & set(prop.get("properties", {})) if isinstance(value, dict) else ()
    return next(iter(inner), name)


def check(reply, param, ok):
    if ok:
        assert reply.status_code == 200, reply.text
    else:
        assert reply.status_code in (400, 404, 413), reply.text
        assert reply.json()["error"]["param"].startswith(param), reply.text  # prompt[1] for a list's second


def test_each_completion_field_is_refused_just_past_its_range(server, published):
    walked = walk(published, "CreateCompletionRequest")
    assert len(walked) > 80
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for name, value, ok, param in walked:
            check(client.post("/v1/completions", json={"model": "tiny", "max_tokens": 2, name: value}), param, ok)


def test_each_inspect_field_is_refused_just_past_its_range(server, published):
    walked = walk(published, "InspectRequest")
    assert len(walked) > 25
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for name, value, ok, param in walked:
            check(client.post("/v1/inspect", json={"text": "ab", "layer": 0, name: value}), param, ok)
        assert client.post("/v1/inspect", json={"layer": 0}).status_code == 400  # text is required


def test_rnn_writers_n_is_refused_just_past_its_range(server, published):
    n = next(p for p in published["paths"]["/generate"]["get"]["parameters"] if p["name"] == "n")["schema"]
    values = [(n["minimum"], True), (n["maximum"], True), (n["minimum"] - 1, False), (n["maximum"] + 1, False),
              ("x", False), ("1.5", False)]
    for value, ok in values:
        check(httpx.get(server.url + "/generate", params={"start_text": "Hi", "n": value}, timeout=30), "n", ok)
