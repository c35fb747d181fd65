"""Schema-driven fuzzing: schemathesis reads the server's own /openapi.json and sends every
operation requests that fit the schema and requests that break it, against a real
`charrnn serve` in a subprocess. Each response must: not be a 5xx, conform to the schema
(status, content type, headers, body, each event of a stream), carry OpenAI's error object
when it is an error, refuse what the schema refuses, and accept what the schema allows
(except prompts × n over the cap, which no JSON Schema can say). Afterwards the server
still answers and holds no stream.

A small budget here (FUZZ_EXAMPLES examples per operation in the fuzzing phase, besides the
coverage phase's boundary values and the stateful phase's links); `make fuzz` runs the same
with a large one. Under CI=true the examples are derandomized. What it found is in
docs/robustness.md, each case kept as a plain test in test_serve_http.py.

The run goes through schemathesis's engine (what its CLI runs, in this process) rather than
its pytest plugin: schemathesis.pytest.from_fixture (4.32) renames pytest's nodes through
`Node._nodeid`, which pytest 9 no longer has.
"""

import os
import time

import pytest

httpx = pytest.importorskip("httpx")
schemathesis = pytest.importorskip("schemathesis")
pytest.importorskip("starlette")

from schemathesis import engine  # noqa: E402
from schemathesis.engine import events  # noqa: E402
from serving import Server, make_checkpoint  # noqa: E402

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "50"))  # per operation, in the fuzzing phase
LIMITS = ("--max-tokens", "40", "--max-n", "3", "--max-prompt", "200")  # small: generated requests stay quick
CROSS_FIELD = "asks for more than"  # the one refusal of schema-valid data: prompts × n over --max-n


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with Server(make_checkpoint(tmp_path_factory.mktemp("fuzz") / "tiny.npz"), *LIMITS) as server:
        yield server


def config():
    deterministic = os.environ.get("CI") == "true"
    return schemathesis.Config.from_dict({
        "generation": {"max-examples": EXAMPLES, "deterministic": deterministic, "database": "none"},
        "request-timeout": 30,
        "checks": {"positive_data_acceptance": {"enabled": False},  # openai_shape_and_acceptance below
                   "negative_data_rejection": {"expected-statuses": [400, 404, 405, 413]}},
    })


@schemathesis.check
def openai_shape_and_acceptance(ctx, response, case):
    """An error carries OpenAI's error object (and /generate's a top-level message); data the
    schema allows is accepted unless it breaks the one rule the schema cannot state."""
    if response.status_code >= 400:
        body = response.json()
        assert set(body["error"]) == {"message", "type", "param", "code"}, body
        assert set(body) == ({"error", "message"} if case.path == "/generate" else {"error"}), body
    positive = case.meta is not None and not case.meta.generation.mode.is_negative
    if positive and response.status_code >= 400:
        assert CROSS_FIELD in response.json()["error"]["message"], f"refused valid data: {response.text}"


def failures_of(url):
    """Run every phase (examples, coverage, fuzzing, stateful) against `url`; each failed check as a line."""
    schema = schemathesis.openapi.from_url(url + "/openapi.json", config=config())
    found = []
    for event in engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            found += [f"{event.recorder.label} {name}: {node.failure_info.failure.title}: "
                      f"{node.failure_info.failure.message}\n{node.failure_info.code_sample}"
                      for name, nodes in event.recorder.checks.items() for node in nodes if node.failure_info]
        elif isinstance(event, (events.NonFatalError, events.FatalError)):
            found.append(f"{type(event).__name__}: {getattr(event, 'value', None) or event.exception!r}")
    return found


def test_every_operation_answers_by_its_schema(server):
    found = failures_of(server.url)
    assert not found, "\n\n".join(found)


def test_the_server_serves_on_after_fuzzing(server):
    """Still answering, every stream the fuzzer cut short dropped, and nothing in the log."""
    for _ in range(100):  # the engine drops a cancelled stream after its step in progress
        health = httpx.get(server.url + "/health", timeout=30).json()
        if health["active_streams"] == health["waiting_requests"] == 0:
            break
        time.sleep(0.1)
    assert (health["status"], health["active_streams"], health["waiting_requests"]) == ("ok", 0, 0)
    status, err = server.stop()
    assert status == 0 and "Traceback" not in err and "Warning" not in err, err
