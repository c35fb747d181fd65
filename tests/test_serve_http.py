"""`charrnn serve` over plain HTTP: rnn-writer's exact requests, bad requests (each a 4xx in
OpenAI's shape, the server serving on afterwards), load, disconnects and SIGTERM."""

import json
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote, unquote

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("starlette")

from serving import Server, joined, make_checkpoint  # noqa: E402

WRITER_HEADERS = {"accept": "application/json", "user-agent": "request-json/1.0"}  # request-json 0.6's


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("serve") / "tiny.npz")


@pytest.fixture(scope="module")
def server(checkpoint):
    with Server(checkpoint) as server:
        yield server


def complete(url, **body):
    return httpx.post(url + "/v1/completions", json={"model": "tiny", "prompt": "A", **body}, timeout=30)


def encode_uri_component(text):
    return quote(text, safe="-_.!~*'()")


@pytest.mark.parametrize("start_text", ["50% off", "a + b", "line one\nline two", "naïve café — ok", "%41 lookalike",
                                        "", "ends mid-wor"])
def test_rnn_writers_requests(server, start_text):
    status = httpx.get(server.url + "/", headers=WRITER_HEADERS)
    assert status.status_code == 200 and status.json()["status"] == "ok"  # JSON, or the client says "couldn't reach"
    sent = encode_uri_component(start_text)
    reply = httpx.get(f"{server.url}/generate?start_text={sent}&n=5", headers=WRITER_HEADERS, timeout=30)
    body = reply.json()
    assert reply.status_code == 200 and "message" not in body
    assert body["start_text"] == sent  # as the client sent it; the client's own check:
    if "+" not in start_text:  # rnn-writer turns every + into a space, so such a reply never matches
        assert unquote(body["start_text"], errors="strict").replace("+", " ") == start_text
    assert 1 <= len(body["completions"]) <= 5 and all(c.strip() for c in body["completions"])
    assert all(c[-1] in ".!?" or len(c) == 140 for c in body["completions"])
    assert float(body["time"]) >= 0


@pytest.mark.parametrize("n", ["0", "11", "five", "-1", "²", "٣"])  # "²".isdigit(), and int("²") raised: a 500
def test_rnn_writer_bad_n_is_a_message(server, n):
    reply = httpx.get(f"{server.url}/generate?start_text=Hi&n={n}", headers=WRITER_HEADERS)
    assert reply.status_code == 400 and "n must be an integer from 1 to 10" in reply.json()["message"]


LARGE = b'{"model": "tiny", "prompt": "' + b"a" * (10 * 2**20) + b'"}'
BOMB = b"[" * 100_000 + b"]" * 100_000  # valid JSON nested 100,000 deep: json.loads raised RecursionError, a 500
BAD_REQUESTS = [  # (name, method, path, body bytes or JSON, status, message fragment)
    ("malformed json", "POST", "/v1/completions", b'{"model": "tiny",', 400, "not valid JSON: Expecting property name"),
    ("not an object", "POST", "/v1/completions", b"[1, 2]", 400, "must be a JSON object"),
    ("empty body", "POST", "/v1/completions", b"", 400, "not valid JSON"),
    ("invalid utf-8", "POST", "/v1/completions", b'{"model": "tiny", "prompt": "\xff"}', 400, "not valid UTF-8 (byte 29)"),
    ("nan", "POST", "/v1/completions", b'{"model": "tiny", "temperature": NaN}', 400, "NaN is not a JSON number"),
    ("infinity", "POST", "/v1/completions", b'{"model": "tiny", "top_p": -Infinity}', 400, "Infinity is not"),
    ("huge float", "POST", "/v1/completions", b'{"model": "tiny", "temperature": 1e999}', 400, "temperature must be"),
    ("huge int", "POST", "/v1/completions", b'{"model": "tiny", "n": 1' + b"0" * 5000 + b"}", 400, "not valid JSON"),
    ("10 MB body", "POST", "/v1/completions", LARGE, 413, "larger than the server's limit"),
    ("missing model", "POST", "/v1/completions", {"prompt": "A"}, 400, "model is required"),
    ("unknown model", "POST", "/v1/completions", {"model": "gpt-4"}, 404, "does not exist"),
    ("unknown characters", "POST", "/v1/completions", {"model": "tiny", "prompt": "ab€#{"}, 400, "'#' '{' '€'"),
    ("temperature string", "POST", "/v1/completions", {"model": "tiny", "temperature": "hot"}, 400, "temperature must"),
    ("negative temperature", "POST", "/v1/completions", {"model": "tiny", "temperature": -1}, 400, "temperature"),
    ("n string", "POST", "/v1/completions", {"model": "tiny", "n": "2"}, 400, "n must be an integer"),
    ("n bool", "POST", "/v1/completions", {"model": "tiny", "n": True}, 400, "n must be an integer"),
    ("max_tokens float", "POST", "/v1/completions", {"model": "tiny", "max_tokens": 1.5}, 400, "max_tokens must"),
    ("max_tokens huge", "POST", "/v1/completions", {"model": "tiny", "max_tokens": 10**30}, 400, "max_tokens must"),
    ("top_p zero", "POST", "/v1/completions", {"model": "tiny", "top_p": 0}, 400, "top_p must be a number in (0, 1]"),
    ("top_k negative", "POST", "/v1/completions", {"model": "tiny", "top_k": -3}, 400, "top_k must"),
    ("stream string", "POST", "/v1/completions", {"model": "tiny", "stream": "yes"}, 400, "stream must be true"),
    ("stream_options list", "POST", "/v1/completions", {"model": "tiny", "stream_options": [1]}, 400, "stream_options"),
    ("seed negative", "POST", "/v1/completions", {"model": "tiny", "seed": -1}, 400, "seed must be"),
    ("logprobs too many", "POST", "/v1/completions", {"model": "tiny", "logprobs": 9}, 400, "logprobs must be"),
    ("prompt number", "POST", "/v1/completions", {"model": "tiny", "prompt": 5}, 400, "prompt must be a string"),
    ("prompt empty list", "POST", "/v1/completions", {"model": "tiny", "prompt": []}, 400, "prompt must be a string"),
    ("stop number", "POST", "/v1/completions", {"model": "tiny", "stop": 7}, 400, "stop must be"),
    ("five stops", "POST", "/v1/completions", {"model": "tiny", "stop": list("abcde")}, 400, "up to 4"),
    ("empty stop", "POST", "/v1/completions", {"model": "tiny", "stop": ""}, 400, "stop must be"),
    ("prompt over the cap", "POST", "/v1/completions", {"model": "tiny", "prompt": "a" * 8001}, 413, "limit is 8,000"),
    ("too many choices", "POST", "/v1/completions", {"model": "tiny", "prompt": ["a"] * 3, "n": 3}, 400, "more than 8"),
    ("logit_bias", "POST", "/v1/completions", {"model": "tiny", "logit_bias": {"1": 5}}, 400, "not supported"),
    ("repetition_penalty zero", "POST", "/v1/completions", {"model": "tiny", "repetition_penalty": 0}, 400,
     "repetition_penalty must be a number from 0.1 to 10 (1: off), got 0"),
    ("repetition_penalty string", "POST", "/v1/completions", {"model": "tiny", "repetition_penalty": "1.2"}, 400,
     "repetition_penalty must be"),
    ("repetition_penalty huge", "POST", "/v1/completions", {"model": "tiny", "repetition_penalty": 11}, 400,
     "repetition_penalty must be"),
    ("no_repeat_ngram zero", "POST", "/v1/completions", {"model": "tiny", "no_repeat_ngram": 0}, 400,
     "no_repeat_ngram must be an integer from 1 to 64, got 0"),
    ("no_repeat_ngram float", "POST", "/v1/completions", {"model": "tiny", "no_repeat_ngram": 2.5}, 400,
     "no_repeat_ngram must be"),
    ("repetition_window bool", "POST", "/v1/completions", {"model": "tiny", "repetition_window": True}, 400,
     "repetition_window must be an integer from 1 to 1024"),
    # found while fuzzing (docs/robustness.md): each was a 500, or accepted against the published schema
    ("recursion bomb", "POST", "/v1/completions", BOMB, 400, "nests arrays and objects deeper than 32 levels"),
    ("inspect recursion bomb", "POST", "/v1/inspect", BOMB, 400, "deeper than 32 levels"),
    ("deep field", "POST", "/v1/completions", b'{"model": "tiny", "stop": ' + b"[" * 900 + b"]" * 900 + b"}", 400,
     "deeper than 32 levels"),
    ("lone surrogate stop", "POST", "/v1/completions", b'{"model": "tiny", "stop": "\\ud800"}', 400,
     "lone surrogate, \\ud800, in a string"),
    ("lone surrogate text", "POST", "/v1/inspect", b'{"text": "ab\\udfff"}', 400, "lone surrogate, \\udfff"),
    ("400-digit temperature", "POST", "/v1/completions", {"model": "tiny", "temperature": 10**400}, 400,
     "temperature must be a number from 0 to 2"),
    ("400-digit top_p", "POST", "/v1/completions", {"model": "tiny", "top_p": -10**400}, 400, "top_p must be"),
    ("repetition_penalty tiny", "POST", "/v1/completions", {"model": "tiny", "repetition_penalty": 5e-324}, 400,
     "repetition_penalty must be a number from 0.1 to 10"),
    ("best_of true", "POST", "/v1/completions", {"model": "tiny", "best_of": True}, 400, "best_of is not supported"),
    ("stream_options false", "POST", "/v1/completions", {"model": "tiny", "stream_options": False}, 400,
     "stream_options must be an object"),
    ("inspect malformed json", "POST", "/v1/inspect", b'{"text": "ab",', 400, "not valid JSON"),
    ("inspect no text", "POST", "/v1/inspect", {"layer": 0}, 400, "text is required"),
    ("inspect empty text", "POST", "/v1/inspect", {"text": ""}, 400, "text is required"),
    ("inspect text number", "POST", "/v1/inspect", {"text": 5}, 400, "text must be a string, got 5"),
    ("inspect text list", "POST", "/v1/inspect", {"text": ["ab"]}, 400, "text must be a string"),
    ("inspect one character", "POST", "/v1/inspect", {"text": "a"}, 400, "at least 2 characters"),
    ("inspect unknown characters", "POST", "/v1/inspect", {"text": "ab€#{"}, 400,
     "3 characters of the text are not in the model's vocabulary: '#' '{' '€'"),
    ("inspect text over the cap", "POST", "/v1/inspect", {"text": "a" * 8001}, 413, "text has 8,001 characters"),
    ("inspect layer too high", "POST", "/v1/inspect", {"text": "ab", "layer": 2}, 400,
     "layer must be an integer from 0 to 1, got 2"),
    ("inspect layer bool", "POST", "/v1/inspect", {"text": "ab", "layer": True}, 400, "layer must be an integer"),
    ("inspect layer string", "POST", "/v1/inspect", {"text": "ab", "layer": "0"}, 400, "layer must be an integer"),
    ("inspect unknown kind", "POST", "/v1/inspect", {"text": "ab", "layer": 0, "kind": "z"}, 400,
     "kind must be one of h, c, i, f, o, g (the lstm's kinds), got 'z'"),
    ("inspect unit too high", "POST", "/v1/inspect", {"text": "ab", "layer": 0, "unit": 32}, 400,
     "unit must be an integer from 0 to 31"),
    ("inspect unit float", "POST", "/v1/inspect", {"text": "ab", "layer": 0, "unit": 1.5}, 400, "unit must be"),
    ("inspect unit without layer", "POST", "/v1/inspect", {"text": "ab", "unit": 3}, 400, "kind and unit need layer"),
    ("inspect top_k too many", "POST", "/v1/inspect", {"text": "ab", "top_k": 11}, 400,
     "top_k must be an integer from 0 to 10"),
    ("inspect top_k negative", "POST", "/v1/inspect", {"text": "ab", "top_k": -1}, 400, "top_k must be"),
    ("get inspect", "GET", "/v1/inspect", None, 405, "GET is not allowed"),
    ("chat", "POST", "/v1/chat/completions", {"model": "tiny", "messages": []}, 404, "there is no chat endpoint"),
    ("unknown path", "GET", "/v2/nothing", None, 404, "no such path: /v2/nothing"),
    ("get completions", "GET", "/v1/completions", None, 405, "GET is not allowed"),
    ("unknown model card", "GET", "/v1/models/gpt-4", None, 404, "does not exist"),
]


@pytest.mark.parametrize("name, method, path, body, status, message", BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS])
def test_bad_requests_get_an_openai_error(server, name, method, path, body, status, message):
    content = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    reply = httpx.request(method, server.url + path, content=content, timeout=30,
                          headers={"content-type": "application/json"})
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and message in error["message"]
    assert complete(server.url, max_tokens=5).status_code == 200  # and it serves on


@pytest.mark.parametrize("method, path, allowed", [("PUT", "/v1/completions", {"POST"}),
                                                    ("TRACE", "/generate", {"GET", "HEAD"}),
                                                    ("DELETE", "/v1/models", {"GET", "HEAD"})])
def test_a_wrong_method_is_a_405_that_says_what_is_allowed(server, method, path, allowed):
    reply = httpx.request(method, server.url + path)
    assert reply.status_code == 405  # and HTTP requires Allow, which was dropped (its order is a set's):
    assert set(reply.headers["allow"].split(", ")) == allowed
    body = reply.json()
    assert f"{method} is not allowed" in body["error"]["message"]
    assert ("message" in body) == (path == "/generate")  # rnn-writer shows a top-level message


def test_integers_as_json_schema_reads_them_and_a_null_prompt(server):
    """2.0 is an integer to JSON Schema, so to the published schema: it was refused; a null prompt is no prompt."""
    reply = complete(server.url, max_tokens=5.0, n=2.0, prompt=None)
    assert reply.status_code == 200 and [len(c["text"]) for c in reply.json()["choices"]] == [5, 5]


def test_a_tiny_temperature_samples_nearly_greedily(server):
    """Below ~0.005 every weight underflowed to 0, and each draw took the vocabulary's first symbol."""
    greedy = complete(server.url, max_tokens=30, temperature=0).json()["choices"][0]["text"]
    assert complete(server.url, max_tokens=30, temperature=1e-4, seed=1).json()["choices"][0]["text"] == greedy


def test_a_foreign_host_header_is_refused(server):
    reply = httpx.get(server.url + "/v1/models", headers={"host": "evil.example:80"})
    assert reply.status_code == 400 and "localhost only" in reply.json()["error"]["message"]


def seeded(i):
    """Request i of a crowd: greedy or seeded sampling, each its own prompt and options."""
    prompt = ("ABCDE"[i % 5] + "a") * (1 if i % 2 else 50)  # 100 characters: read in two slices (priming.py)
    body = {"prompt": prompt, "max_tokens": 60 + i % 7, "seed": i, "temperature": [0, 0.7, 1.3][i % 3]}
    return body if i % 4 else dict(body, top_k=5, top_p=0.9)


def test_64_clients_get_what_each_gets_alone(tmp_path):
    """float64 (NumPy reference cells): batching changes no number that reaches the text."""
    with Server(make_checkpoint(tmp_path / "tiny.npz", dtype="float64")) as server:
        alone = [complete(server.url, **seeded(i)).json()["choices"][0]["text"] for i in range(0, 64, 9)]
        streamed = dict(stream=True)
        with ThreadPoolExecutor(64) as pool:
            replies = list(pool.map(lambda i: httpx.post(server.url + "/v1/completions", timeout=60, json={
                "model": "tiny", **seeded(i), **(streamed if i % 2 else {})}), range(64)))
    assert [r.status_code for r in replies] == [200] * 64
    texts = [joined(r.text) if i % 2 else r.json()["choices"][0]["text"] for i, r in enumerate(replies)]
    assert texts[::9] == alone


def test_a_client_that_leaves_frees_its_stream(checkpoint):
    with Server(checkpoint, "--max-streams", "1", "--max-waiting", "0", "--max-tokens", "100000") as server:
        body = {"model": "tiny", "prompt": "A", "max_tokens": 100000, "stream": True}  # tens of seconds' worth
        with httpx.stream("POST", server.url + "/v1/completions", json=body, timeout=30) as stream:
            lines = stream.iter_lines()  # kept: a dropped iterator closes the connection
            next(lines)
            busy = complete(server.url, max_tokens=5)
            assert busy.status_code == 429 and busy.headers["retry-after"] == "1"
            assert "the server is busy" in busy.json()["error"]["message"]
        for _ in range(50):  # the engine drops the stream at its next step; the reply comes within a few
            reply = complete(server.url, max_tokens=5)
            if reply.status_code == 200:
                break
            time.sleep(0.1)
        assert reply.status_code == 200


def test_sigterm_ends_open_streams_and_exits_zero(checkpoint):
    with Server(checkpoint, "--max-tokens", "100000") as server:
        body = {"model": "tiny", "prompt": "A", "max_tokens": 100000, "stream": True}
        with httpx.stream("POST", server.url + "/v1/completions", json=body, timeout=30) as stream:
            lines = stream.iter_lines()
            next(lines)
            server.process.send_signal(15)
            started = time.monotonic()
            rest = [line for line in lines if line]
        assert time.monotonic() - started < 5
        assert rest[-1] == "data: [DONE]" and "the server is shutting down" in json.loads(rest[-2][6:])["error"]["message"]
        status, err = server.stop()
    assert status == 0 and "Traceback" not in err


def test_without_the_extra_one_line_names_it(checkpoint):
    import subprocess
    import sys

    code = ("import sys; sys.modules['starlette'] = None\n"
            "from charrnn.cli import cli; cli(['serve', '--checkpoint', sys.argv[1]])")
    result = subprocess.run([sys.executable, "-c", code, str(checkpoint)], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip() == "Error: charrnn serve needs starlette: pip install 'charrnn[serve]'"
