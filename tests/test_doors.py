"""The same seed gives the same text at every door: `charrnn sample --num-samples K
--random-seed S`, Model.samples(num_samples=K, seed=S) and the server's n=K, seed=S (one
batch of streams, stream k drawing from generator(S, k)). In float64, exactly; sample 0 is
also what a lone sample of the seed gives. For an LSTM and for the cells that scan a window
in training and step one character at a time here."""

import pytest

pytest.importorskip("starlette")
httpx = pytest.importorskip("httpx")

import charrnn  # noqa: E402
from conftest import run_cli  # noqa: E402
from serving import Server, make_checkpoint  # noqa: E402

K, N, SEED = 4, 150, 5
OPTIONS = {  # server field: (CLI flag, API keyword)
    "plain": {"temperature": 0.9},
    "top": {"temperature": 1.2, "top_k": 12, "top_p": 0.9},
    "repetition": {"temperature": 0.8, "repetition_penalty": 1.4, "repetition_window": 12, "no_repeat_ngram": 3},
}


@pytest.fixture(scope="module", params=["lstm", "qrnn-2", "mingru"])
def checkpoint(tmp_path_factory, request):
    return make_checkpoint(tmp_path_factory.mktemp("doors") / "doors.npz", dtype="float64", hidden_size=24,
                           cell=request.param)


@pytest.fixture(scope="module")
def server(checkpoint):
    with Server(checkpoint) as server:
        yield server


def cli_texts(checkpoint, options, num_samples=K):
    flags = [item for name, value in options.items() for item in (f"--{name.replace('_', '-')}", str(value))]
    result = run_cli("sample", "--checkpoint", checkpoint, "--seed", "ROMEO:", "--no-echo-seed", "--n", N,
                     "--num-samples", num_samples, "--random-seed", SEED, "--separator", "\\0", *flags)
    assert result.returncode == 0, result.stderr
    return result.stdout.decode().split("\0")


@pytest.mark.parametrize("options", OPTIONS.values(), ids=OPTIONS)
def test_cli_api_and_server_give_the_same_texts(checkpoint, server, options):
    cli = cli_texts(checkpoint, options)
    api = charrnn.load(checkpoint).samples("ROMEO:", num_samples=K, n=N, seed=SEED, **options)
    reply = httpx.post(server.url + "/v1/completions", timeout=60,
                       json=dict(model="doors", prompt="ROMEO:", n=K, max_tokens=N, seed=SEED, **options)).json()
    served = [choice["text"] for choice in reply["choices"]]
    assert cli == api == served
    assert len(set(cli)) == K  # K streams of their own, not one text K times
    assert cli[0] == cli_texts(checkpoint, options, num_samples=1)[0]


def test_the_ngram_ban_holds_over_http(server):
    reply = httpx.post(server.url + "/v1/completions", timeout=60,
                       json=dict(model="doors", prompt="A", max_tokens=400, seed=1, no_repeat_ngram=1)).json()
    text = reply["choices"][0]["text"]
    assert len(set(text)) == len(text)  # no character twice: the text ends when none is left
    assert reply["choices"][0]["finish_reason"] == "stop" and len(text) < 400
