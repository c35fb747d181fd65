"""`sample --beam` and the repetition controls, through the real CLI, against brute force."""

import itertools
import math
import re

import numpy as np
import pytest

import charrnn
import charrnn.errors
from charrnn.beam import BeamOptions, beam_search
from charrnn.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from charrnn.config import make_config
from charrnn.inference import log_likelihood
from charrnn.model import init_params, init_state
from charrnn.optim import OPTIMIZERS
from charrnn.repetition import ngram_bans, penalise_repeats
from charrnn.vocab import Vocab
from conftest import VARIANTS, invoke

SYMBOLS = "abc"  # V = 3


def sample(*args):
    result = invoke("sample", *args)
    assert result.exit_code == 0, result.stderr
    return result


def logprobs(stderr):
    return [float(x) for x in re.findall(r"log-probability (-?[\d.]+) nats", stderr)]


@pytest.fixture(params=[("rnn", 9), ("qrnn-2", 0), ("mingru", 2)], ids=lambda param: param[0])
def small(tmp_path, request):
    """A random float64 RNN (or QRNN, minGRU) over 'abc' whose likeliest 6 characters after 'a'
    greedy sampling misses (the seeds found by enumerating): (checkpoint path, params, config, vocab)."""
    variant, seed = request.param
    config = make_config({"hidden_size": 6, "num_layers": 1, "dtype": "float64", **VARIANTS[variant]})
    params = {k: v * 3 for k, v in init_params(config, 3, np.random.default_rng(seed)).items()}
    vocab = Vocab([ord(c) for c in SYMBOLS])
    meta = {"step": 0, "epoch": 0, "window": 0, "rng": {}, "best_val": None, "initial_loss": None, "elapsed": 0.0}
    path = tmp_path / "small.npz"
    save_checkpoint(path, Checkpoint(config, vocab, params, OPTIMIZERS[config.optimizer](params, config).slots,
                                     init_state(config, config.batch_size), meta))
    return path, params, config, vocab


def continuation_logprob(params, config, vocab, prime, text):
    """log p(text | prime) from a zero state: prime + text scored, only text's characters counted."""
    ids, _ = vocab.encode(prime + text)
    logp, _ = log_likelihood(params, config, ids[None, :-1], ids[None, 1:], init_state(config, 1))
    return float(logp[0, len(prime) - 1:].sum())


def test_beam_finds_the_exact_likeliest_string(small):
    path, params, config, vocab = small
    n = 6
    texts = ["".join(t) for t in itertools.product(SYMBOLS, repeat=n)]
    scores = [continuation_logprob(params, config, vocab, "a", text) for text in texts]
    best = texts[int(np.argmax(scores))]
    greedy = sample("--checkpoint", path, "--seed", "a", "--n", n, "--greedy", "--no-echo-seed").stdout
    assert greedy != best  # the search has something to find
    found = sample("--checkpoint", path, "--seed", "a", "--n", n, "--beam", 3 ** (n - 1), "--no-echo-seed",
                   "--logprob")
    assert found.stdout == best
    assert logprobs(found.stderr)[0] == pytest.approx(max(scores), abs=1e-4)


def test_beam_of_one_is_greedy(trained):
    args = ["--checkpoint", trained, "--seed", "The ", "--n", "300"]
    assert sample(*args, "--beam", "1").stdout == sample(*args, "--greedy").stdout


def test_the_python_api_searches_as_the_cli_does(small):
    path, *_ = small
    model = charrnn.load(path)
    best = "".join(model.generate("a", n=6, beam=3 ** 5))
    assert best == sample("--checkpoint", path, "--seed", "a", "--n", 6, "--beam", 3 ** 5, "--no-echo-seed").stdout
    assert "".join(model.generate("a", n=6, beam=1)) == "".join(model.generate("a", n=6, greedy=True))
    held = {(0, "h", 0): 0.9}  # a clamp reaches the search as it reaches sampling
    assert "".join(model.generate("a", n=6, beam=1, clamp=held)) == "".join(
        model.generate("a", n=6, greedy=True, clamp=held))
    with pytest.raises(charrnn.errors.CharrnnError, match="temperature, top_k, top_p, greedy and seed"):
        model.generate("a", beam=2, temperature=0.5)


def test_logprob_is_the_models_probability_of_each_beam(trained):
    """Each written beam's figure is log p(beam | prime) as a zero-state forward pass over
    prime + beam gives it, and the beams come best first."""
    ck = load_checkpoint(trained / "best.npz")
    result = sample("--checkpoint", trained, "--seed", "The do", "--n", "40", "--beam", "6", "--num-samples", "4",
                    "--separator", "|", "--logprob")
    beams = result.stdout.split("|")
    figures = logprobs(result.stderr)
    assert len(beams) == len(figures) == 4 and figures == sorted(figures, reverse=True)
    for beam, figure in zip(beams, figures):
        assert beam.startswith("The do") and len(beam) == 46
        assert figure == pytest.approx(continuation_logprob(ck.weights, ck.config, ck.vocab, "The do", beam[6:]),
                                       abs=2e-4)  # printed to 4 decimals, float32 model


def test_stop_ends_beams_and_ranks_them_per_character(small):
    path, params, config, vocab = small
    options = BeamOptions(width=9, n=12, num_beams=3, stop=b"cc")
    beams = beam_search(params, config, vocab, "a", options)
    assert len(beams) == 3 and [b.rank for b in beams] == sorted([b.rank for b in beams], reverse=True)
    for beam in beams:
        text = vocab.decode(beam.ids)
        assert beam.text.decode() == (text[:text.index("cc")] if "cc" in text else text)
        assert beam.logprob == pytest.approx(continuation_logprob(params, config, vocab, "a", text), rel=1e-9)
        assert beam.rank == pytest.approx(beam.logprob / len(beam.ids))  # no controls: the score is the log-prob
    totals = beam_search(params, config, vocab, "a", BeamOptions(width=9, n=12, num_beams=3, stop=b"cc",
                                                                 length_penalty=0))
    assert [b.rank for b in totals] == sorted([b.logprob for b in totals], reverse=True)


def repeated_ngrams(text, n):
    grams = [text[i:i + n] for i in range(len(text) - n + 1)]
    return len(grams) - len(set(grams))


@pytest.mark.parametrize("mode, n", [(["--greedy"], 4), (["--random-seed", "5"], 2), (["--beam", "4"], 4)])
def test_no_repeated_ngram(trained, mode, n):
    args = ["--checkpoint", trained, "--seed", "The ", "--n", "150", "--no-echo-seed", *mode]
    assert repeated_ngrams(sample(*args).stdout, n) > 0  # this model repeats itself
    assert repeated_ngrams(sample(*args, "--no-repeat-ngram", n).stdout, n) == 0


def test_ngram_ban_ends_a_sample_with_nothing_left(small):
    """Over 3 symbols no continuation of more than 3 + 1 characters avoids repeating a bigram."""
    path = small[0]
    for mode in (["--greedy"], ["--beam", "3"]):
        text = sample("--checkpoint", path, "--seed", "a", "--n", "50", "--no-repeat-ngram", "2", "--no-echo-seed",
                      *mode).stdout
        assert 2 <= len(text) <= 10 and repeated_ngrams(text, 2) == 0


def test_repetition_penalty_of_one_changes_nothing(trained):
    args = ["--checkpoint", trained, "--seed", "The ", "--n", "300", "--random-seed", "7", "--num-samples", "2"]
    plain = sample(*args).stdout
    assert sample(*args, "--repetition-penalty", "1").stdout == plain
    assert sample(*args, "--repetition-penalty", "1.5").stdout != plain
    beam = ["--checkpoint", trained, "--seed", "The ", "--n", "100", "--beam", "3"]
    assert sample(*beam, "--repetition-penalty", "1").stdout == sample(*beam).stdout


def test_repetition_penalty_lowers_every_seen_logit():
    logits = np.array([[2.0, -1.0, 0.5, -3.0]])
    penalise_repeats(logits, np.array([[0, 1, 1]]), 2.0)  # seen twice: penalised once
    assert logits.tolist() == [[1.0, -2.0, 0.5, -3.0]]


def test_ngram_bans():
    history = np.array([[0, 1, 2, 0, 1, 0, 1]])  # last bigram-prefix "1": followed by 2 and 0 before
    assert np.flatnonzero(ngram_bans(history, 2, 4)[0]).tolist() == [0, 2]
    assert np.flatnonzero(ngram_bans(history, 3, 4)[0]).tolist() == [0, 2]  # "01" was followed by 2 and 0
    assert np.flatnonzero(ngram_bans(history, 1, 4)[0]).tolist() == [0, 1, 2]


def test_beam_steps_as_one_batch(small, monkeypatch):
    """K beams advance with one batched step per character, not K steps."""
    import charrnn.beam as beam_module

    calls = []
    real = beam_module.make_stepper

    def counting(params, config):
        step = real(params, config)

        def counted(ids, state, hook=None):
            calls.append(len(ids))
            return step(ids, state, hook)
        return counted

    monkeypatch.setattr(beam_module, "make_stepper", counting)
    path, params, config, vocab = small
    beam_search(params, config, vocab, "a", BeamOptions(width=8, n=10))
    assert len(calls) == 10 and max(calls) == 8 and math.prod(calls) > 1
