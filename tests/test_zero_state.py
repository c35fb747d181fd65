"""Every prompt starts from a zero state: a trained model must work from one (issue 29).

Per-stream validation shows a broken start, `--state-reset` trains the zero state, and
sample, eval and info read a run's best checkpoint.
"""

import json
import math

import numpy as np
import pytest

import charrnn.training
from charrnn.checkpoint import load_checkpoint
from charrnn.corpus import Tokens
from charrnn.evaluation import EvalResult, Streams, evaluate
from charrnn.inference import log_likelihood
from charrnn.model import init_state
from charrnn.training import restart_streams
from conftest import TINY, invoke, make_text, tiny_config


def test_state_reset_zeroes_a_random_share_of_the_streams():
    config = tiny_config(batch_size=400, state_reset=0.25)
    state = [tuple(np.ones((400, 16), np.float32) for _ in range(2))]
    h, c = restart_streams(state, config, np.random.default_rng(0), slice(None))[0]
    zeroed = ~h.any(axis=1)
    assert (zeroed == ~c.any(axis=1)).all() and 60 < zeroed.sum() < 140  # 100 expected
    assert (h[~zeroed] == 1).all()
    rank_state = [tuple(s[100:200] for s in state[0])]
    again = restart_streams(rank_state, config, np.random.default_rng(0), slice(100, 200))[0][0]
    assert (~again.any(axis=1) == zeroed[100:200]).all()  # drawn for the whole batch: the ranks agree


def test_state_reset_changes_training_and_zero_keeps_it(tmp_path, corpus_file):
    def weights(*flags):
        run_dir = tmp_path / "-".join(flags or ["plain"])
        assert invoke("train", corpus_file, "--run-dir", run_dir, *TINY, *flags).exit_code == 0
        return load_checkpoint(run_dir / "latest.npz").params["head.W"]

    default = weights()
    assert np.array_equal(default, weights("--state-reset", "0.01"))
    assert not np.array_equal(default, weights("--state-reset", "0"))
    assert not np.array_equal(default, weights("--state-reset", "0.5"))


def test_per_stream_figures_add_up_to_the_total(corpus_file):
    config = tiny_config(dtype="float64")
    params = charrnn.model.init_params(config, 30, np.random.default_rng(0))
    tokens = Tokens(np.random.default_rng(1).integers(0, 30, 5000).astype(np.int32))
    result = evaluate(params, config, tokens)
    streams = result.streams
    assert len(streams.starts) == 5000 // 256 and streams.chars.sum() == result.chars == 4999
    assert math.isclose(streams.nats.sum(), result.nats, rel_tol=1e-12)
    first = tokens.read(streams.starts[3], streams.starts[3] + streams.chars[3] + 1)[None]
    logp, _ = log_likelihood(params, config, first[:, :-1], first[:, 1:], init_state(config, 1))
    assert math.isclose(-logp.sum(), streams.nats[3], rel_tol=1e-12)  # each stream from a zero state


def test_eval_per_stream_names_the_worst_streams(trained, corpus_file):
    text = invoke("eval", corpus_file, "--checkpoint", trained, "--per-stream")
    assert text.exit_code == 0 and text.stdout.count("\n") == 2
    assert "23 streams: median" in text.stdout.splitlines()[1]
    result = json.loads(invoke("eval", corpus_file, "--checkpoint", trained, "--per-stream", "--json").stdout)
    worst = result["worst_streams"]
    assert len(worst) == 3 and worst[0]["nats_per_char"] >= worst[1]["nats_per_char"] >= worst[2]["nats_per_char"]
    assert worst[0]["nats_per_char"] >= result["median_stream"]
    assert make_text()[worst[0]["start"]:].startswith(worst[0]["text"])
    assert "worst_streams" not in json.loads(invoke("eval", corpus_file, "--checkpoint", trained, "--json").stdout)


def scripted_validation(monkeypatch, figures):
    """Validation returns these streams' nats/char in turn: 4 streams of 100 chars each."""
    results = iter(figures)

    def fake(*args, **kwargs):
        per_stream = np.array(next(results), float)
        return EvalResult(400, per_stream.sum() * 100, streams=Streams(np.arange(4) * 100, per_stream * 100,
                                                                      np.full(4, 100)))

    monkeypatch.setattr(charrnn.training, "evaluate", fake)


def test_a_broken_stream_is_named_once_not_called_overfitting(tmp_path, corpus_file, monkeypatch):
    scripted_validation(monkeypatch, [[3, 3, 3, 3], [2, 2, 2, 9], [2, 2, 2, 8]])
    flags = [f for f in TINY if f != "--quiet"]
    result = invoke("train", corpus_file, "--run-dir", tmp_path / "run", *flags, "--max-steps", "30")
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "character 300 reads 9.00 nats/char, 4.5x the median" in warnings[0]
    assert "which is not overfitting" in warnings[0] and "try --dropout" not in result.stderr
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["val_worst_stream"] for r in records if "val_loss" in r] == [3, 9, 8]
    assert [r["val_median_stream"] for r in records if "val_loss" in r] == [3, 2, 2]


@pytest.mark.parametrize("last, says", [(3.015, False), (3.5, True)])
def test_closing_line_says_when_the_last_validation_is_far_above_the_best(tmp_path, corpus_file, monkeypatch,
                                                                           last, says):
    scripted_validation(monkeypatch, [[3, 3, 3, 3], [3.02, 3.02, 3.02, 3.02 + 4 * (last - 3.02)]])
    result = invoke("train", corpus_file, "--run-dir", tmp_path / "run", *TINY)
    closing = result.stderr.strip().splitlines()[-1]
    assert closing.startswith("step 20: best validation 3.0000")
    assert ("far above the best: best.npz keeps the best" in closing) == says


def test_sample_eval_and_info_read_the_best_checkpoint_and_say_so(tmp_path, corpus_file, monkeypatch):
    scripted_validation(monkeypatch, [[3, 3, 3, 3], [4, 4, 4, 4]])  # best at step 10, latest at step 20
    run_dir = tmp_path / "checkpoints" / "run"  # where `info` alone looks for the newest run
    assert invoke("train", corpus_file, "--run-dir", run_dir, *TINY).exit_code == 0
    best, latest = load_checkpoint(run_dir / "best.npz"), load_checkpoint(run_dir / "latest.npz")
    assert (best.meta["step"], latest.meta["step"]) == (10, 20)
    for command in (["sample", "--checkpoint", run_dir, "--random-seed", "1"], ["eval", "--checkpoint", run_dir],
                    ["info", run_dir], ["info"]):
        result = invoke(*command)
        assert result.exit_code == 0, result.stderr
        assert result.stderr.startswith("reading ") and "run/best.npz (step 10, validation 3.0000)" in result.stderr
    assert json.loads(invoke("info", run_dir, "--json").stdout)["step"] == 10
    explicit = invoke("info", run_dir / "latest.npz", "--json")
    assert json.loads(explicit.stdout)["step"] == 20 and explicit.stderr == ""  # a file named is the file read
    scripted_validation(monkeypatch, [[4, 4, 4, 4]])
    resumed = invoke("train", "--resume", run_dir, "--max-steps", "30", "--quiet")
    assert resumed.exit_code == 0 and load_checkpoint(run_dir / "latest.npz").meta["step"] == 30  # from latest


def test_from_a_zero_state_the_model_agrees_with_a_carried_state_after_a_warm_up(tmp_path):
    """A tiny model trained with --state-reset: scoring text from a zero state and from the
    state its preceding text left agree after a short warm-up, and any single character as a
    prime gives a finite, sane loss on what follows."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(make_text(12000))
    run_dir = tmp_path / "run"
    flags = ["--hidden-size", "24", "--batch-size", "8", "--seq-length", "32", "--max-steps", "150",
             "--eval-every", "150", "--learning-rate", "0.01", "--quiet"]
    assert invoke("train", corpus, "--run-dir", run_dir, *flags, "--state-reset", "0.1").exit_code == 0
    ck = load_checkpoint(run_dir / "latest.npz")
    config = ck.config
    ids, _ = ck.vocab.encode(make_text(1500, seed=7))
    before, text = ids[None, :500].astype(np.int64), ids[None, 500:].astype(np.int64)

    def score(state, inputs):
        return log_likelihood(ck.weights, config, inputs[:, :-1], inputs[:, 1:], state)

    _, carried = score(init_state(config, 1), np.concatenate([before, text[:, :1]], axis=1))
    from_carried, _ = score(carried, text)
    from_zero, _ = score(init_state(config, 1), text)
    warm = 50
    assert np.abs(from_zero[0, warm:] - from_carried[0, warm:]).max() < 0.05
    mean = -from_carried[0].mean()
    for symbol in range(ck.vocab.size):  # a prime of any one character
        primed = np.concatenate([[[symbol]], text[:, :200]], axis=1)
        logp, _ = score(init_state(config, 1), primed)
        assert np.isfinite(logp).all() and -logp[0, 1:].mean() < 1.5 * mean + 0.5
