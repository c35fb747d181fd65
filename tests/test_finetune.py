"""Fine-tuning (`train NEW_TEXT --init-from RUN`): the grown vocab and weights, step 0 equal to
the parent, lineage, the kept-text loss, exact resume, through the real CLI."""

import hashlib
import json

import numpy as np
import pytest
import yaml

from charrnn.checkpoint import load_checkpoint
from charrnn.config import make_config
from charrnn.finetune import STEP0_TOLERANCE, grow_params, new_symbol_bias, top_h_bounds
from charrnn.inference import log_likelihood, run_layers
from charrnn.model import init_params, init_state
from charrnn.vocab import Vocab
from conftest import TINY, invoke, make_text

NEW_CHARS = "Zé€"  # none of them in make_text's lexicon


@pytest.fixture
def new_text(tmp_path):
    """Text of the same kind with characters the parent never saw, one of them rare."""
    text = make_text(6000, seed=1)
    lines = text.splitlines(keepends=True)
    text = "".join(line.replace("T", "Z") + ("é" if n % 3 == 0 else "") for n, line in enumerate(lines)) + "€"
    path = tmp_path / "new.txt"
    path.write_text(text)
    return path


def train(*args):
    result = invoke("train", *args)
    assert result.exit_code == 0, result.stderr
    return result


def test_grown_vocab_keeps_old_ids_and_folds_the_new_texts_rare_symbols():
    config = make_config({"min_count": 2})
    parent = Vocab.from_counts(np.bincount([ord(c) for c in "aabbbccx"], minlength=200), config)  # x folded
    new_text = Vocab.from_counts(np.bincount([ord(c) for c in "aazzqb"], minlength=200), config)  # z new, q rare
    grown = parent.grown(new_text)
    old_ids, _ = parent.encode("abcx")
    assert grown.encode("abcx")[0].tolist() == old_ids.tolist() == [0, 1, 2, 3]  # x is the rare id, 3
    assert grown.encode("zq")[0].tolist() == [4, 3] and grown.size == 5
    assert Vocab.from_json(json.loads(json.dumps(grown.to_json()))) == grown
    assert grown.decode(np.arange(5)) == "abc\ufffdz"


@pytest.mark.parametrize("overrides", [{"cell": "lstm"}, {"cell": "gru", "embedding_size": 5},
                                       {"cell": "rnn", "num_layers": 2}, {"cell": "lstm", "layer_norm": True},
                                       {"cell": "qrnn", "qrnn_window": 2}, {"cell": "mingru", "num_layers": 2},
                                       {"cell": "mingru", "embedding_size": 5}])
def test_new_symbols_leave_every_old_prediction_as_it_was(overrides):
    """Large head weights, the hardest case for the bias bound: per character, each old
    symbol's log-probability moves by less than the tolerance, at every position."""
    config = make_config({"hidden_size": 16, "num_layers": 1, "dtype": "float64", **overrides})
    rng = np.random.default_rng(0)
    old = init_params(config, 6, rng)
    old["head.W"] *= 20
    old["head.b"] = rng.normal(0, 5, 6)
    grown = grow_params(old, config, 9, rng)
    assert grown["head.W"].shape == (16, 9) and (grown.get("embed", grown["rnn.0.Wx"]).shape[0] == 9)
    ids = rng.integers(0, 6, (3, 80))
    before, _ = log_likelihood(old, config, ids[:, :-1], ids[:, 1:], init_state(config, 3))
    after, _ = log_likelihood(grown, config, ids[:, :-1], ids[:, 1:], init_state(config, 3))
    change = before - after
    assert change.min() > -1e-12 and change.max() <= STEP0_TOLERANCE


@pytest.mark.parametrize("num_layers, embedding_size", [(1, 0), (2, 0), (2, 5)])
def test_the_bias_bound_holds_where_a_mingrus_h_passes_1(num_layers, embedding_size):
    """A minGRU's h is as large as the candidates it mixes (a + ½), not within [−1, 1]. With every
    head weight negative, a large h pulls every old logit below what a bound for |h| ≤ 1 allows,
    and new symbols given that bound's β take tens of nats from the old ones; the bound from
    the weights (finetune.top_h_bounds) holds, and h stays within it."""
    config = make_config({"hidden_size": 16, "num_layers": num_layers, "embedding_size": embedding_size,
                          "dtype": "float64", "cell": "mingru"})
    rng = np.random.default_rng(0)
    old = init_params(config, 6, rng)
    old["head.W"] = -np.abs(old["head.W"]) * 20
    old["rnn.0.Wx"] *= 4
    old["head.b"] = rng.normal(0, 5, 6)
    ids = rng.integers(0, 6, (3, 200))
    top, _ = run_layers(old, config, ids, init_state(config, 3))
    low, high = top_h_bounds(old, config)
    assert top.max() > 2 and (top >= low).all() and (top <= high).all()
    grown = grow_params(old, config, 9, rng)
    naive = dict(grown, **{"head.b": grown["head.b"].copy()})
    naive["head.b"][6:] = new_symbol_bias(old["head.W"], old["head.b"], 3, (-np.ones(16), np.ones(16)))
    before, _ = log_likelihood(old, config, ids[:, :-1], ids[:, 1:], init_state(config, 3))
    for params, holds in ((grown, True), (naive, False)):
        after, _ = log_likelihood(params, config, ids[:, :-1], ids[:, 1:], init_state(config, 3))
        assert ((before - after).max() <= STEP0_TOLERANCE) == holds


@pytest.mark.parametrize("cell", [["lstm"], ["qrnn", "--qrnn-window", "2"], ["mingru"]],
                         ids=["lstm", "qrnn-2", "mingru"])
def test_fine_tuned_run_starts_where_the_parent_is(tmp_path, corpus_file, new_text, cell):
    """Step 0 of the fine-tuned run scores the parent's validation sample as `charrnn eval` of
    the parent does (within 1e-3 nats/char); then its metrics report that loss at each evaluation."""
    parent, child = tmp_path / "parent", tmp_path / "child"
    train(corpus_file, *TINY, "--cell", *cell, "--run-dir", parent)  # the later --cell wins
    result = train(new_text, "--init-from", parent, *TINY[2:], "--run-dir", child, "--max-steps", "20")
    figure = json.loads(invoke("eval", "--checkpoint", parent, "--json").stdout)["nats_per_char"]
    ck = load_checkpoint(child / "latest.npz")
    assert abs(ck.meta["keep_eval"]["start"] - figure) < 1e-3
    old = load_checkpoint(parent / "best.npz").vocab
    assert ck.vocab.symbols[:old.size] == old.symbols and set(map(ord, NEW_CHARS)) <= set(ck.vocab.symbols)
    evals = [json.loads(line) for line in (child / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in evals if "val_loss" in r]
    assert [r["step"] for r in evals] == [10, 20] and all(np.isfinite(r["kept_loss"]) for r in evals)
    assert "at step 0" not in result.stderr  # --quiet: no step-0 note


def test_lineage_and_kept_text_in_the_log(tmp_path, corpus_file, new_text):
    parent, child, grandchild = tmp_path / "parent", tmp_path / "child", tmp_path / "grandchild"
    train(corpus_file, *TINY, "--run-dir", parent)
    train(new_text, "--init-from", parent, *TINY, "--run-dir", child)
    args = [*TINY[:-1], "--keep-eval", corpus_file, "--run-dir", grandchild]  # not quiet
    result = train(corpus_file, "--init-from", child / "latest.npz", *args)
    assert "kept text at step 0" in result.stderr and "| kept text " in result.stderr
    info = json.loads(invoke("info", grandchild, "--json").stdout)["fine_tuned_from"]
    sha = hashlib.sha256((child / "latest.npz").read_bytes()).hexdigest()
    assert info.startswith(f"{child / 'latest.npz'} (step 20, sha256 {sha[:12]})")
    assert f"<- {parent / 'best.npz'} (step 20" in info
    assert json.loads(invoke("info", parent, "--json").stdout)["fine_tuned_from"] is None


def test_resume_of_a_fine_tuned_run_is_exact(tmp_path, corpus_file, new_text):
    parent, straight, split = tmp_path / "parent", tmp_path / "straight", tmp_path / "split"
    train(corpus_file, *TINY, "--run-dir", parent)
    train(new_text, "--init-from", parent, *TINY, "--max-steps", "30", "--run-dir", straight)
    train(new_text, "--init-from", parent, *TINY, "--max-steps", "15", "--run-dir", split)
    train("--resume", split, "--max-steps", "30", "--quiet")
    with np.load(straight / "latest.npz") as a, np.load(split / "latest.npz") as b:
        assert a.files == b.files
        for key in set(a.files) - {"meta"}:  # which holds the seconds each took
            assert a[key].tobytes() == b[key].tobytes(), key
    kept = [{r["step"]: r["kept_loss"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
             if "kept_loss" in r} for run in (straight, split)]
    assert kept[0][20] == kept[1][20] and kept[0][30] == kept[1][30]  # after the resume, at 15


def test_time_budget_keeps_the_parents_width(tmp_path, corpus_file, new_text):
    parent = tmp_path / "parent"
    train(corpus_file, *TINY, "--run-dir", parent)
    train(new_text, "--init-from", parent, "--time", "8s", "--quiet", "--run-dir", tmp_path / "child")
    config = yaml.safe_load((tmp_path / "child" / "config.yaml").read_text())
    assert (config["hidden_size"], config["num_layers"], config["cell"]) == (16, 1, "lstm")
    assert config["max_time"] < 8 and config["batch_size"] == 32  # the rest is the plan's
