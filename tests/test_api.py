"""charrnn.load(path) -> Model: generate, score and activations, against the CLI, eval and a
plain NumPy forward, and the clamp on a model built by hand."""

import json
import shutil
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

import charrnn
from charrnn.batches import eval_streams
from charrnn.cells import build_cell
from charrnn.errors import CharrnnError
from charrnn.hooks import value_kinds
from charrnn.records import CharScores
from charrnn.vocab import Vocab
from conftest import invoke, make_text
from planted import ABC, as_model, head_link, random_model, reference_forward, save_model, scan_link

TEXT = make_text(1500, seed=3)
VOCAB = Vocab(sorted(set(map(ord, TEXT))))
VARIANTS = {"rnn": dict(cell="rnn"), "lstm": dict(cell="lstm"), "peephole": dict(cell="lstm", peephole=True),
            "coupled": dict(cell="lstm", coupled_gates=True),
            "peephole coupled": dict(cell="lstm", peephole=True, coupled_gates=True),
            "layer norm": dict(cell="lstm", layer_norm=True), "gru": dict(cell="gru", embedding_size=3),
            "qrnn": dict(cell="qrnn", qrnn_window=1),
            "qrnn window 2": dict(cell="qrnn", qrnn_window=2, embedding_size=3), "mingru": dict(cell="mingru")}


def variant_model(name, dtype="float64"):
    config, params = random_model(VOCAB, num_layers=2, hidden_size=5, **VARIANTS[name])
    if dtype == "float32":  # the same weights, run by the fused kernels where they cover the cell
        config = replace(config, dtype="float32")
        params = {k: v.astype(np.float32) for k, v in params.items()}
    return as_model(config, VOCAB, params), params


# ---------------------------------------------------------------- load, info, generate


def test_load_is_lazy_and_reads_the_newest_run(trained):
    code = "import sys, charrnn; assert 'charrnn.api' not in sys.modules and 'numpy' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
    with pytest.raises(CharrnnError, match="no checkpoint found under checkpoints/"):
        charrnn.load()
    shutil.copytree(trained, "checkpoints/run")
    assert charrnn.load().path.parent.resolve() == (trained.parent / "checkpoints" / "run").resolve()
    assert charrnn.load(trained).path.parent == trained and isinstance(charrnn.load(trained), charrnn.Model)


def test_info_is_what_charrnn_info_prints(trained):
    model = charrnn.load(trained)
    assert model.info() == json.loads(invoke("info", trained, "--json").stdout)
    assert model.vocab.size == model.info()["vocab_size"] and model.config.hidden_size == 16


@pytest.mark.parametrize("args, kwargs", [
    (["--seed", "The", "--n", "150"], dict(prime="The", n=150)),
    (["--n", "120", "--temperature", "0.6", "--top-k", "5"], dict(n=120, temperature=0.6, top_k=5)),
    (["--seed", "a", "--n", "300", "--top-p", "0.8", "--stop", "."], dict(prime="a", n=300, top_p=0.8, stop=".")),
    (["--seed", "Dog", "--n", "80", "--greedy"], dict(prime="Dog", n=80, greedy=True)),
])
def test_generate_equals_charrnn_sample(trained, args, kwargs):
    model = charrnn.load(trained)
    cli = invoke("sample", "--checkpoint", trained, "--random-seed", "11", *args)
    assert cli.exit_code == 0, cli.stderr
    chunks = list(model.generate(seed=11, **kwargs))
    assert len(chunks) > 1 or kwargs.get("stop")  # it streams
    assert cli.stdout == kwargs.get("prime", "") + "".join(chunks)


def test_samples_equal_charrnn_sample_num_samples(trained):
    model = charrnn.load(trained)
    cli = invoke("sample", "--checkpoint", trained, "--random-seed", "4", "--seed", "The", "--num-samples", "3",
                 "--n", "60")
    texts = model.samples("The", num_samples=3, n=60, seed=4)
    assert cli.stdout == "\n\n".join("The" + text for text in texts) and len(set(texts)) == 3


def test_generate_checks_its_options_when_called(trained):
    model = charrnn.load(trained)
    for kwargs, message in [(dict(n=-1), "--n must be >= 0"), (dict(prime="~"), "not in the vocab"),
                            (dict(clamp={(0, "h", 99): 1.0}), "no unit 99")]:
        with pytest.raises(CharrnnError, match=message):
            model.generate(**kwargs)  # not on the first next()


# ---------------------------------------------------------------- score


@pytest.mark.parametrize("name", ["lstm", "gru", "layer norm", "qrnn window 2", "mingru"])
def test_score_equals_a_plain_forward_of_each_stream(name):
    model, params = variant_model(name)
    ids = VOCAB.encode(TEXT)[0]
    scores = model.score(TEXT, top_k=VOCAB.size)
    starts, length = eval_streams(len(ids) - 1)
    assert len(starts) == 5 and scores.position.tolist() == list(range(1, len(ids)))
    for n, start in enumerate(starts):  # stream n reads ids[start:] from zero state
        rows = scores.stream == n
        _, logp = reference_forward(model.config, params, ids[start:start + length])
        targets = ids[start + 1:start + length + 1]
        assert scores.position[rows].tolist() == list(range(start + 1, start + 1 + len(targets)))
        np.testing.assert_allclose(scores.logprob[rows], logp[np.arange(len(targets)), targets], rtol=0, atol=1e-12)
        np.testing.assert_allclose(scores.entropy[rows], -(np.exp(logp) * logp).sum(1)[:len(targets)], atol=1e-12)
        expected_rank = 1 + (logp[np.arange(len(targets)), :] > logp[np.arange(len(targets)), targets][:, None]).sum(1)
        assert (scores.rank[rows] == expected_rank).all()
        assert (scores.top_ids[rows] == np.argsort(-logp, axis=1, kind="stable")[:len(targets)]).all()
    assert np.allclose(scores.top_probs.sum(1), 1, rtol=0, atol=1e-12)
    assert (np.diff(scores.top_probs, axis=1) <= 0).all()


def test_score_totals_equal_eval(trained, tmp_path):
    model = charrnn.load(trained)
    text = make_text(5000, seed=9)
    (tmp_path / "held.txt").write_text(text)
    scores = model.score(text)
    cli = json.loads(invoke("eval", "--checkpoint", trained, "held.txt", "--json").stdout)
    assert cli["chars"] == len(scores) == len(text) - 1
    assert scores.nats / len(scores) == cli["nats_per_char"]  # the same sum, to the last bit
    assert scores.nats == model.evaluate(text).nats
    assert abs(-scores.logprob.sum() - scores.nats) <= 1e-12 * scores.nats  # summed in another order


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_score_in_uneven_chunks_is_bit_identical(dtype):
    model, _ = variant_model("lstm", dtype)
    at_once = model.score(TEXT)
    stream_length = eval_streams(len(TEXT) - 1)[1]
    for chunk in (1, 7, 64, 100, stream_length):
        pieces = list(model.score_chunks(TEXT, chunk=chunk))
        assert len(pieces) == -(-stream_length // chunk)
        collected = CharScores.concat(pieces)
        for name in ("position", "stream", "target", "logprob", "rank", "entropy", "top_ids", "top_probs"):
            assert np.array_equal(getattr(collected, name), getattr(at_once, name)), (chunk, name)
        assert abs(collected.nats - at_once.nats) <= 1e-12 * at_once.nats


def test_score_ties_rank_and_records():
    config, vocab, params = head_link()  # "a" and "b" logits never change: ")" −4, "a" 1, "b" 0
    params["head.b"][:] = 1, 1, 0  # a tie between ")" and "a"
    scores = as_model(config, vocab, params).score("aab)a", top_k=3)
    assert scores.top_ids.tolist() == [[0, 1, 2]] * 4  # equal probabilities: the lower id first
    assert scores.rank.tolist() == [1, 3, 1, 1]  # "a" ties with ")": nothing is likelier than it
    records = list(scores.records(vocab))
    assert json.loads(json.dumps(records[2])) == records[2]
    assert records[2]["char"] == ")" and records[2]["position"] == 3 and records[2]["top"][2][0] == "b"
    assert records[2]["logprob"] == pytest.approx(np.log(np.e / (2 * np.e + 1)), abs=1e-12)


def test_score_unknown_characters(trained):
    model = charrnn.load(trained)
    with pytest.raises(CharrnnError, match="not in the vocab"):
        model.score("the ~dog")
    assert len(model.score("the ~dog", unknown="skip")) == len("the dog") - 1


# ---------------------------------------------------------------- activations


@pytest.mark.parametrize("name", VARIANTS)
def test_activations_equal_the_reference_cells(name):
    model, params = variant_model(name)
    kinds = value_kinds(model.config)
    assert kinds == {"rnn": ("h",), "gru": ("h", "z", "r", "n"), "qrnn": ("h", "c", "f", "o", "g"),
                     "mingru": ("h", "z", "n")}.get(model.config.cell, kinds)
    text = TEXT[:300]
    steps, _ = reference_forward(model.config, params, VOCAB.encode(text)[0])
    values = model.activations(text, kinds=kinds)
    assert sorted(values) == sorted((layer, kind) for layer in (0, 1) for kind in kinds)
    for (layer, kind), array in values.items():
        assert array.shape == (300, 5) and array.dtype == np.float64
        np.testing.assert_allclose(array, [step[layer, kind] for step in steps], rtol=0, atol=1e-12)
    chunked = [c for c in model.activation_chunks(text, [1], kinds, chunk=7)]
    assert [c.start for c in chunked] == list(range(0, 300, 7))
    for kind in kinds:
        assert np.array_equal(np.concatenate([c.values[1, kind] for c in chunked]), values[1, kind])


@pytest.mark.parametrize("name", ["rnn", "lstm", "layer norm", "gru", "qrnn window 2", "mingru"])
def test_fused_kernels_record_the_same_activations(name):
    model64, _ = variant_model(name)
    model32, _ = variant_model(name, "float32")
    cell = build_cell(model32.config)
    step = cell.scan_forward.keywords["pool"] if cell.scans else getattr(cell.step_forward, "func", cell.step_forward)
    assert step.__module__.endswith("kernels")
    kinds = value_kinds(model32.config)
    expected, got = model64.activations(TEXT[:200], kinds=kinds), model32.activations(TEXT[:200], kinds=kinds)
    for key, array in got.items():
        assert array.dtype == np.float32
        np.testing.assert_allclose(array, expected[key], rtol=0, atol=5e-5, err_msg=str(key))


def test_activations_bad_arguments(trained):
    model = charrnn.load(trained)
    for kwargs, message in [(dict(kinds=("z",)), "the lstm has no 'z'; its kinds are h, c, i, f, o, g"),
                            (dict(layers=[1]), "no layer 1; the model's layers are 0-0")]:
        with pytest.raises(CharrnnError, match=message.replace("(", r"\(")):
            model.activations("the dog", **kwargs)


# ---------------------------------------------------------------- the clamp


def test_clamping_one_unit_makes_its_character_the_likeliest():
    model = as_model(*head_link())
    assert ABC.encode(")ab")[0].tolist() == [0, 1, 2]  # the ids head_link's weights name
    greedy = dict(prime="ab", n=200, greedy=True)
    assert ")" not in "".join(model.generate(**greedy))  # never without the clamp
    assert "".join(model.generate(**greedy, clamp={(0, "h", 0): 1.0})) == ")" * 200
    assert "".join(model.generate(**greedy, clamp={(0, "c", 0): 1.0})) == ")" * 200  # set during the prime
    assert "".join(model.generate("a", n=5, greedy=True, clamp={(0, "c", 0): 1.0})) == "a))))"  # after one step
    assert ")" not in "".join(model.generate(**greedy, clamp={(0, "c", 0): 0.7}))  # tanh(0.7)·8 < 5
    assert ")" not in "".join(model.generate(**greedy, clamp={(0, "h", 1): 1.0}))  # unit 1 is not linked


@pytest.mark.parametrize("variant", ["qrnn-1", "qrnn-2", "mingru"])
def test_clamping_a_scanning_cells_unit_makes_its_character_the_likeliest(variant):
    model = as_model(*scan_link(variant))
    greedy = dict(prime="ab", n=200, greedy=True)
    assert ")" not in "".join(model.generate(**greedy))  # never without the clamp
    assert "".join(model.generate(**greedy, clamp={(0, "h", 0): 1.0})) == ")" * 200
    assert ")" not in "".join(model.generate(**greedy, clamp={(0, "h", 1): 1.0}))  # unit 1 is not linked
    if variant == "mingru":
        with pytest.raises(CharrnnError, match="clamp 0:c:0: the mingru's state has no 'c', only h"):
            model.generate(**greedy, clamp={(0, "c", 0): 1.0})
        return
    assert "".join(model.generate(**greedy, clamp={(0, "c", 0): 1.0})) == ")" * 200  # set during the prime
    assert "".join(model.generate("a", n=5, greedy=True, clamp={(0, "c", 0): 1.0})) == "a))))"  # h = o⊙C next step
    assert ")" not in "".join(model.generate(**greedy, clamp={(0, "c", 0): 0.5}))  # h ≈ ½: 8·½ − 4 < 1
    held = model.activations("abab", kinds=("h", "c", "f"), clamp={(0, "c", 0): 1.0})
    assert (held[0, "c"][:, 0] == 1).all() and held[0, "h"][0, 0] == 0 and (held[0, "h"][1:, 0] > 0.99).all()


def test_a_clamp_to_the_value_a_unit_has_changes_nothing():
    model = as_model(*head_link())  # c₀ is exactly 0 at every step
    free = "".join(model.generate("ab", n=300, seed=5))
    assert ")" in free and free == "".join(model.generate("ab", n=300, seed=5, clamp={(0, "c", 0): 0.0}))
    text = "ab)ab" * 50
    assert np.array_equal(model.score(text).logprob, model.score(text, clamp={(0, "c", 0): 0.0}).logprob)


def test_clamp_in_score_and_activations():
    model = as_model(*head_link())
    held = model.score("abab)", clamp={(0, "h", 0): 1.0})
    assert held.rank[-1] == 1 and model.score("abab)").rank[-1] == 3
    values = model.activations("abab", kinds=("h", "c", "i"), clamp={(0, "h", 0): 0.5})
    assert (values[0, "h"][:, 0] == 0.5).all() and (values[0, "c"][:, 0] == 0).all()


@pytest.mark.parametrize("variant, kind", [("lstm", "c"), ("qrnn-2", "c"), ("mingru", "h")])
def test_sample_clamp_flag(tmp_path, variant, kind):
    path = save_model(tmp_path / "link.npz", *(head_link() if variant == "lstm" else scan_link(variant)))
    free = invoke("sample", "--checkpoint", path, "--seed", "ab", "--n", "40", "--greedy")
    held = invoke("sample", "--checkpoint", path, "--seed", "ab", "--n", "40", "--greedy", "--clamp", f"0:{kind}:0=1",
                  "--clamp", "0:h:1=-0.5")
    assert free.stdout == "ab" + "a" * 40 and held.stdout == "ab" + ")" * 40, held.stderr
