"""`charrnn serve` through the official `openai` client: what it gets back, and each error
as the exception it raises. One server for the module (float32 kernels, as users run it)."""

import pytest

openai = pytest.importorskip("openai")
pytest.importorskip("starlette")

from conftest import run_cli  # noqa: E402
from serving import Server, make_checkpoint  # noqa: E402

MODEL = "tiny"
ARGS = dict(model=MODEL, prompt="ROMEO:", max_tokens=120, temperature=0.9, seed=7)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("serve") / f"{MODEL}.npz")


@pytest.fixture(scope="module")
def server(checkpoint):
    with Server(checkpoint, "--api-key", "sekrit", "--max-prompt", "500") as server:
        yield server


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="sekrit", max_retries=0, timeout=30)


def text_of(client, **overrides):
    return client.completions.create(**dict(ARGS, **overrides)).choices[0].text


def test_models_list_names_the_checkpoint(client):
    assert [m.id for m in client.models.list().data] == [MODEL]


def test_a_completion_has_openais_fields(client):
    c = client.completions.create(**ARGS)
    assert c.object == "text_completion" and c.model == MODEL and c.id.startswith("cmpl-")
    assert len(c.choices) == 1 and c.choices[0].finish_reason == "length" and len(c.choices[0].text) == 120
    assert (c.usage.prompt_tokens, c.usage.completion_tokens, c.usage.total_tokens) == (6, 120, 126)


def test_a_seed_gives_what_charrnn_sample_gives(client, checkpoint):
    sampled = run_cli("sample", "--checkpoint", checkpoint, "--seed", "ROMEO:", "--no-echo-seed", "--n", "120",
                      "--temperature", "0.9", "--random-seed", "7")
    assert sampled.returncode == 0, sampled.stderr
    assert text_of(client) == sampled.stdout.decode()


def test_temperature_zero_is_greedy(client, checkpoint):
    greedy = run_cli("sample", "--checkpoint", checkpoint, "--seed", "ROMEO:", "--no-echo-seed", "--n", "120",
                     "--greedy")
    assert text_of(client, temperature=0, seed=None) == greedy.stdout.decode() == text_of(client, temperature=0, seed=3)


def test_the_stream_joins_to_the_same_text(client):
    long = dict(ARGS, max_tokens=4000)  # long enough to take several coalescing periods
    chunks = list(client.completions.create(**long, stream=True, stream_options={"include_usage": True}))
    texts = [c.choices[0].text for c in chunks if c.choices]
    assert len(texts) > 2 and "".join(texts) == text_of(client, max_tokens=4000)
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 4000


def test_n_two_gives_two_different_choices(client):
    c = client.completions.create(**ARGS, n=2)
    assert [choice.index for choice in c.choices] == [0, 1]
    assert c.choices[0].text == text_of(client) and c.choices[1].text != c.choices[0].text


def test_several_prompts_with_n(client):
    c = client.completions.create(**dict(ARGS, prompt=["ROMEO:", "JULIET:"], temperature=0), n=2)
    assert [choice.index for choice in c.choices] == [0, 1, 2, 3]
    assert c.choices[0].text == c.choices[1].text == text_of(client, temperature=0)
    assert c.choices[2].text == text_of(client, prompt="JULIET:", temperature=0)


@pytest.mark.parametrize("stream", [False, True])
def test_stop_ends_before_the_stop_string(client, stream):
    full = text_of(client)
    stops = [full[30:33], full[50:52]]  # strings known to occur, the first at or before 30
    expected = full[:min(full.find(s) for s in stops)]
    if stream:
        chunks = list(client.completions.create(**ARGS, stop=stops, stream=True))
        text = "".join(c.choices[0].text for c in chunks)
        reason = chunks[-1].choices[0].finish_reason
    else:
        choice = client.completions.create(**ARGS, stop=stops).choices[0]
        text, reason = choice.text, choice.finish_reason
    assert (text, reason) == (expected, "stop")


def test_echo_puts_the_prompt_first(client):
    assert text_of(client, echo=True) == "ROMEO:" + text_of(client)


def test_logprobs_cover_each_character(client):
    choice = client.completions.create(**ARGS, logprobs=3).choices[0]
    lp = choice.logprobs
    assert "".join(lp.tokens) == choice.text and len(lp.token_logprobs) == 120
    assert all(len(top) == 3 and max(top.values()) >= logp for top, logp in zip(lp.top_logprobs, lp.token_logprobs))
    assert lp.text_offset[:3] == [0, 1, 2]


@pytest.mark.parametrize("overrides, exception, message", [
    (dict(model="gpt-4"), openai.NotFoundError, "the model 'gpt-4' does not exist"),
    (dict(temperature=3), openai.BadRequestError, "temperature must be a number from 0 to 2"),
    (dict(prompt="ROMEO€#"), openai.BadRequestError, "2 characters of the prompt are not in the model's vocabulary"),
    (dict(prompt="x" * 501), openai.APIStatusError, "this server's limit is 500"),
    (dict(max_tokens=10**6), openai.BadRequestError, "max_tokens must be an integer from 0 to 4096"),
    (dict(n=9), openai.BadRequestError, "n must be an integer from 1 to 8"),
    (dict(logit_bias={"50256": -100}), openai.BadRequestError, "logit_bias is not supported"),
    (dict(best_of=3), openai.BadRequestError, "best_of is not supported"),
    (dict(suffix="end"), openai.BadRequestError, "suffix is not supported"),
    (dict(prompt=[1, 2, 3]), openai.BadRequestError, "token ids mean nothing"),
], ids=["model", "temperature", "vocab", "prompt cap", "max_tokens", "n", "logit_bias", "best_of", "suffix", "ids"])
def test_errors_surface_as_openai_exceptions(client, overrides, exception, message):
    with pytest.raises(exception) as raised:
        client.completions.create(**dict(ARGS, **overrides))
    assert message in raised.value.message


def test_a_wrong_key_is_an_authentication_error(server):
    wrong = openai.OpenAI(base_url=server.url + "/v1", api_key="guess", max_retries=0)
    with pytest.raises(openai.AuthenticationError, match="a valid API key is required"):
        wrong.models.list()
