"""The real click group end to end: train → sample → eval → info, and one line per bad input."""

import dataclasses
import json
import math

import click
import pytest

from charrnn.checkpoint import load_checkpoint, save_checkpoint
from charrnn.cli import cli
from charrnn.config import make_config
from charrnn.vocab import Vocab
from conftest import TINY, invoke
from planted import random_model, save_model


def test_train_sample_eval_end_to_end(tmp_path, corpus_file):
    result = invoke("train", corpus_file, *TINY, "--cell", "lstm", "--num-layers", "2")
    assert result.exit_code == 0, result.stderr
    run_dir = result.stdout.strip()
    assert run_dir.startswith("checkpoints/corpus-") and "\n" not in run_dir
    assert "chars/s" in result.stderr
    sample = invoke("sample", "--seed", "The", "--n", "50", "--random-seed", "1")  # newest checkpoint
    assert sample.exit_code == 0 and sample.stdout.startswith("The") and len(sample.stdout) == 53
    assert "random seed" not in sample.stderr
    evaluated = invoke("eval", corpus_file, "--checkpoint", run_dir)
    assert evaluated.exit_code == 0 and evaluated.stdout.count("\n") == 1 and "bits/char" in evaluated.stdout
    info = json.loads(invoke("info", run_dir, "--json").stdout)
    assert info["cell"] == "lstm" and info["num_layers"] == 2 and info["step"] == 20


def test_every_command_that_reads_a_checkpoint_takes_the_checkpoint_option():
    """`--checkpoint PATH` works wherever a checkpoint or run is read (train names its own: --resume)."""
    def commands(group):
        for command in group.commands.values():
            yield from commands(command) if isinstance(command, click.Group) else [command]

    for command in commands(cli):
        names = {param.name for param in command.params}
        if command.name != "train" and any("checkpoint" in name or "run_dir" in name for name in names):
            options = {opt for param in command.params for opt in param.opts}
            assert "--checkpoint" in options, command.name


def test_help_and_version():
    assert invoke("--version").stdout.startswith("charrnn, version")
    for command in ("train", "sample", "eval", "info", "plot"):
        assert invoke(command, "--help").exit_code == 0
    assert "--seq-length" in invoke("train", "--help").stdout


def test_config_precedence(tmp_path, corpus_file):
    (tmp_path / "c.yaml").write_text("hidden_size: 12\nseq_length: 8\n")
    result = invoke("train", corpus_file, *TINY, "--config", tmp_path / "c.yaml", "--seq-length", "10",
                    "--run-dir", tmp_path / "r")
    assert result.exit_code == 0, result.stderr
    info = json.loads(invoke("info", tmp_path / "r", "--json").stdout)
    assert info["hidden_size"] == 16  # the flag in TINY beats the YAML
    config = (tmp_path / "r" / "config.yaml").read_text()
    assert "seq_length: 10" in config and "hidden_size: 16" in config


def test_same_seed_same_weights_and_samples(tmp_path, corpus_file):
    outputs = []
    for name in ("a", "b"):
        assert invoke("train", corpus_file, *TINY, "--run-dir", tmp_path / name).exit_code == 0
        outputs.append(invoke("sample", "--checkpoint", tmp_path / name, "--random-seed", "7", "--n", "300").stdout)
    assert outputs[0] == outputs[1]
    assert (tmp_path / "a" / "latest.npz").read_bytes() != b""
    a, b = load_checkpoint(tmp_path / "a"/ "latest.npz"), load_checkpoint(tmp_path / "b" / "latest.npz")
    assert all((a.params[k] == b.params[k]).all() for k in a.params)


def test_eval_json_and_validation_split(trained, corpus_file):
    result = invoke("eval", "--checkpoint", trained, "--json")
    record = json.loads(result.stdout)
    assert record["name"] == "val" and record["chars"] > 0
    assert record["bits_per_char"] == pytest.approx(record["nats_per_char"] / math.log(2))
    metrics = [json.loads(line) for line in (trained / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["val_loss"] == pytest.approx(record["nats_per_char"])


def test_validation_eval_and_sample_use_the_weight_average(tmp_path, corpus_file):
    """With --ema-decay the checkpoint keeps the trained weights (to resume) and their average
    (the model): the same checkpoint rewritten with the average as its weights scores and samples
    the same, and the trained weights themselves score differently."""
    run_dir = tmp_path / "run"
    assert invoke("train", corpus_file, *TINY, "--ema-decay", "0.9", "--run-dir", run_dir).exit_code == 0
    ck = load_checkpoint(run_dir / "latest.npz")
    average = {key: slots.pop("average") for key, slots in ck.slots.items()}
    without = make_config({"ema_decay": 0.0}, ck.config)
    save_checkpoint(tmp_path / "average.npz", dataclasses.replace(ck, config=without, params=average))
    save_checkpoint(tmp_path / "trained.npz", dataclasses.replace(ck, config=without))
    paths = [run_dir, tmp_path / "average.npz", tmp_path / "trained.npz"]
    scores = [json.loads(invoke("eval", "--checkpoint", path, "--json").stdout)["nats_per_char"] for path in paths]
    assert scores[0] == scores[1] != scores[2]
    assert json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])["val_loss"] == pytest.approx(scores[0])
    samples = [invoke("sample", "--checkpoint", path, "--random-seed", "5", "--n", "200").stdout for path in paths]
    assert samples[0] == samples[1] != samples[2]


@pytest.fixture
def bad_files(tmp_path):
    files = {"empty.txt": b"", "short.txt": b"abcdef", "nosplit.txt": b"a" * 18,
             "bad.txt": b"abc" * 100 + b"\xff" + b"abc" * 100, "bin.dat": b"abc\0def" * 100,
             "bad.yaml": b"hidden_size: 12\nseq_length: [1,\n", "unknown.yaml": b"hidden_sise: 12\n",
             "type.yaml": b"hidden_size: big\n", "nan.yaml": b"dropout: .nan\n", "null.yaml": b"cell: null\n",
             "window.yaml": b"cell: qrnn\nqrnn_window: 1.5\n"}
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    (tmp_path / "emptydir").mkdir()
    vocab = Vocab([ord(c) for c in "abc\n"])
    for cell in ("gru", "rnn"):
        config, params = random_model(vocab, cell=cell)
        save_model(tmp_path / f"{cell}.npz", config, vocab, params)
    (tmp_path / "labels.txt").write_text("1 0 1")
    (tmp_path / "words.txt").write_text("one two\n")
    (tmp_path / "outside.txt").write_text("xyz")
    (tmp_path / "abc.txt").write_text("abcab\nca")
    return tmp_path


TRAIN = ["train", "{corpus}", *TINY]
CK = ["--checkpoint", "{trained}"]
INSPECT = ["inspect"]
BAD_INPUTS = [  # (name, argv with {placeholders}, expected message fragment)
    ("missing corpus", ["train", "nope.txt", *TINY], "no such file"),
    ("directory without files", ["train", "emptydir", *TINY], "no files found"),
    ("empty file", ["train", "empty.txt", *TINY], "empty"),
    ("shorter than seq_length", ["train", "short.txt", *TINY], "seq_length + 1"),
    ("too short for validation", ["train", "nosplit.txt", *TINY, "--seq-length", "4"], "validation split"),
    ("invalid utf-8", ["train", "bad.txt", *TINY], "byte offset 300"),
    ("binary", ["train", "bin.dat", *TINY], "NUL byte"),
    ("yaml syntax", [*TRAIN, "--config", "bad.yaml"], "line 3"),
    ("unknown key", [*TRAIN, "--config", "unknown.yaml"], "unknown config key 'hidden_sise'"),
    ("wrong type", [*TRAIN, "--config", "type.yaml"], "must be int"),
    ("flag type", [*TRAIN, "--hidden-size", "big"], "hidden-size"),
    ("hidden_size", [*TRAIN, "--hidden-size", "0"], "hidden_size' must be > 0"),
    ("num_layers", [*TRAIN, "--num-layers", "-1"], "num_layers' must be > 0"),
    ("seq_length", [*TRAIN, "--seq-length", "0"], "seq_length' must be > 0"),
    ("batch_size", [*TRAIN, "--batch-size", "0"], "batch_size' must be > 0"),
    ("learning_rate", [*TRAIN, "--learning-rate", "0"], "learning_rate' must be > 0"),
    ("dropout", [*TRAIN, "--dropout", "1"], "dropout' must be in [0, 1)"),
    ("val_fraction", [*TRAIN, "--val-fraction", "1.5"], "val_fraction' must be between 0 and 1"),
    ("unknown cell", [*TRAIN, "--cell", "transformer"], "must be one of: gru, lstm, mingru, qrnn, rnn"),
    ("qrnn window", [*TRAIN, "--cell", "qrnn", "--qrnn-window", "3"], "'qrnn_window' must be 1 or 2, got 3"),
    ("qrnn window zero", [*TRAIN, "--cell", "qrnn", "--qrnn-window", "0"], "'qrnn_window' must be 1 or 2, got 0"),
    ("qrnn window not a number", [*TRAIN, "--qrnn-window", "two"], "'two' is not a valid integer"),
    ("qrnn window in yaml", [*TRAIN, "--config", "window.yaml"], "'qrnn_window' must be int, got float 1.5"),
    ("layer norm on a qrnn", [*TRAIN, "--cell", "qrnn", "--layer-norm"], "layer_norm covers the plain LSTM"),
    ("numba float64 mingru", [*TRAIN, "--cell", "mingru", "--kernels", "numba", "--dtype", "float64"],
     "--kernels numba covers float32 rnn, lstm, gru, qrnn and mingru"),
    ("unknown optimizer", [*TRAIN, "--optimizer", "sgd"], "must be one of: adagrad, adam, rmsprop"),
    ("layer norm on a gru", [*TRAIN, "--cell", "gru", "--layer-norm"], "layer_norm covers the plain LSTM"),
    ("layer norm with peepholes", [*TRAIN, "--layer-norm", "--peephole"], "layer_norm covers the plain LSTM"),
    ("run dir taken", [*TRAIN, "--run-dir", "{trained}"], "already holds a run"),
    ("negative n", ["sample", *CK, "--n", "-1"], "--n must be >= 0"),
    ("temperature", ["sample", *CK, "--temperature", "0"], "--temperature must be a finite number > 0"),
    ("top-p", ["sample", *CK, "--top-p", "1.5"], "--top-p must be in (0, 1]"),
    ("top-k", ["sample", *CK, "--top-k", "0"], "--top-k must be >= 1"),
    ("seed outside vocab", ["sample", *CK, "--seed", "Q@#"], "not in the vocab: '#' '@'"),
    ("eval invalid utf-8", ["eval", *CK, "bad.txt"], "invalid UTF-8 at byte offset 300"),
    ("eval outside vocab", ["eval", *CK, "bin.dat"], "not in the vocab"),
    ("no checkpoint", ["sample"], "no checkpoint found"),
    ("not a checkpoint", ["sample", "--checkpoint", "{corpus}"], "not a charrnn checkpoint"),
    ("missing checkpoint", ["eval", "--checkpoint", "nope"], "no such checkpoint"),
    ("two different checkpoints", ["info", "{trained}", "--checkpoint", "{corpus}"], "differ; give one"),
    ("missing eval file", ["eval", *CK, "nope.txt"], "cannot read"),
    # out of range, wrong type, empty, odd: every one a single line, never a traceback
    ("stop lone backslash", ["sample", *CK, "--stop", "\\"], "bad backslash escape"),
    ("separator lone backslash", ["sample", *CK, "--separator", "x\\"], "bad backslash escape"),
    ("sample negative random seed", ["sample", *CK, "--random-seed", "-1"], "--random-seed"),
    ("train negative random seed", [*TRAIN, "--random-seed", "-1"], "random_seed' must be >= 0"),
    ("nan learning rate", [*TRAIN, "--learning-rate", "nan"], "learning_rate' must be a finite number"),
    ("inf init scale", [*TRAIN, "--init-scale", "inf"], "init_scale' must be a finite number"),
    ("inf max time", [*TRAIN, "--max-time", "inf"], "max_time' must be a duration such as 90s"),
    ("nan dropout in yaml", [*TRAIN, "--config", "nan.yaml"], "dropout' must be a finite number"),
    ("null in yaml", [*TRAIN, "--config", "null.yaml"], "'cell' must be str"),
    ("empty cell", [*TRAIN, "--cell", ""], "must be one of"),
    ("eval_every zero", [*TRAIN, "--eval-every", "0"], "eval_every' must be > 0"),
    ("val_max_chars negative", [*TRAIN, "--val-max-chars", "-1"], "val_max_chars' must be >= 0"),
    ("huge hidden size", [*TRAIN, "--hidden-size", "99999999999999999999"], "GiB of memory"),
    ("huge num layers", [*TRAIN, "--num-layers", "99999999999999999999"], "GiB of memory"),
    ("huge batch", [*TRAIN, "--batch-size", "99999999999999999999"], "GiB of memory"),
    ("huge embedding", [*TRAIN, "--embedding-size", "99999999999999999999"], "GiB of memory"),
    ("min count folds all", [*TRAIN, "--min-count", "99999999999999999999"], "folds every symbol"),
    ("nan temperature", ["sample", *CK, "--temperature", "nan"], "--temperature must be a finite number"),
    ("inf temperature", ["sample", *CK, "--temperature", "inf"], "--temperature must be a finite number"),
    ("nan top-p", ["sample", *CK, "--top-p", "nan"], "--top-p must be in (0, 1]"),
    ("huge num samples", ["sample", *CK, "--num-samples", "99999999999999999999"], "GiB of memory"),
    ("endless batch of samples", ["sample", *CK, "--n", "0", "--num-samples", "2"], "needs --stop"),
    ("empty seed", ["sample", *CK, "--seed", ""], "seed text is empty"),
    ("seed invalid utf-8", ["sample", *CK, "--seed", "\udcff"], "invalid UTF-8 at byte offset 0"),
    ("empty eval stdin", ["eval", *CK, "-"], "at least 2 characters"),
    ("train empty path", ["train", "", *TINY], "empty path"),
    ("resume nothing", ["train", "--resume", "nope"], "no such checkpoint"),
    ("time not a duration", [*TRAIN, "--time", "soon"], "'soon' is not a duration"),
    ("time zero", [*TRAIN, "--time", "0"], "'0' is not a duration"),
    ("time empty", [*TRAIN, "--time", ""], "is not a duration"),
    ("max-time bad unit", [*TRAIN, "--max-time", "10q"], "must be a duration such as 90s"),
    ("max-time negative", [*TRAIN, "--max-time", "-5"], "must be a duration such as 90s"),
    ("export into a missing directory", ["export", "onnx", "nodir/m.onnx", *CK], "no such directory nodir"),
    ("export web into a missing directory", ["export", "web", "nodir/web", *CK], "no such directory nodir"),
    ("export over a file", ["export", "onnx", "{corpus}", *CK], "exists; pass --overwrite to replace it"),
    ("export web over a file", ["export", "web", "{corpus}", *CK, "--overwrite"], "is a file"),
    ("export onnx over a directory", ["export", "onnx", "emptydir", *CK, "--overwrite"], "is a directory"),
    ("export not a checkpoint", ["export", "onnx", "m.onnx", "--checkpoint", "{corpus}"], "not a charrnn checkpoint"),
    ("export web not a checkpoint", ["export", "web", "web", "--checkpoint", "{corpus}"], "not a charrnn checkpoint"),
    ("export no checkpoint", ["export", "onnx", "m.onnx", "--checkpoint", "nope"], "no such checkpoint"),
    ("clamp c on a gru", ["sample", "--checkpoint", "gru.npz", "--clamp", "0:c:1=1"],
     "clamp 0:c:1: the gru's state has no 'c', only h"),
    ("clamp a gate", ["sample", *CK, "--clamp", "0:f:1=1"], "clamp 0:f:1: the lstm's state has no 'f', only h and c"),
    ("clamp layer out of range", ["sample", *CK, "--clamp", "1:h:0=1"], "no layer 1; the model's layers are 0-0"),
    ("clamp huge layer", ["sample", *CK, "--clamp", "99999999999999999999:h:0=1"], "no layer 99999999999999999999"),
    ("clamp unit out of range", ["sample", *CK, "--clamp", "0:c:16=1"], "no unit 16; the layers' units are 0-15"),
    ("clamp nan", ["sample", *CK, "--clamp", "0:h:1=nan"], "the value must be a finite number, got nan"),
    ("clamp malformed", ["sample", *CK, "--clamp", "0:h=1"], "clamp '0:h=1' is not LAYER:KIND:INDEX=VALUE"),
    ("clamp negative unit", ["sample", *CK, "--clamp", "0:h:-1=1"], "is not LAYER:KIND:INDEX=VALUE"),
    ("clamp not a number", ["sample", *CK, "--clamp", "0:h:1=high"], "is not LAYER:KIND:INDEX=VALUE"),
    ("clamp empty", ["sample", *CK, "--clamp", ""], "clamp '' is not LAYER:KIND:INDEX=VALUE"),
    ("serve missing checkpoint", ["serve", "--checkpoint", "nope"], "no such checkpoint"),
    ("serve not a checkpoint", ["serve", "--checkpoint", "{corpus}"], "not a charrnn checkpoint"),
    ("serve port out of range", ["serve", *CK, "--port", "70000"], "--port"),
    ("serve time limit zero", ["serve", *CK, "--time-limit", "0"], "--time-limit"),
    ("serve threads zero", ["serve", *CK, "--threads", "0"], "--threads"),
    ("serve n above streams", ["serve", *CK, "--max-n", "9", "--max-streams", "8"], "more than --max-streams 8"),
    ("serve host unknown", ["serve", *CK, "--host", "256.1.1.1", "--port", "0"], "cannot listen on 256.1.1.1"),
    ("init-from not a run", [*TRAIN, "--init-from", "{corpus}"], "--init-from"),
    ("init-from missing", [*TRAIN, "--init-from", "nope"], "--init-from nope: no such checkpoint"),
    ("init-from with resume", [*TRAIN, "--init-from", "{trained}", "--resume", "{trained}"], "give one of them"),
    ("init-from other shape", ["train", "{corpus}", "--init-from", "{trained}", "--hidden-size", "512"],
     "--hidden-size 512 contradicts --init-from"),
    ("init-from other cell", ["train", "{corpus}", "--init-from", "{trained}", "--cell", "gru"],
     "--cell gru contradicts --init-from"),
    ("beam zero", ["sample", *CK, "--beam", "0"], "--beam must be >= 1"),
    ("beam with top-k", ["sample", *CK, "--beam", "2", "--top-k", "3"], "--top-k means nothing to a beam search"),
    ("beam with temperature", ["sample", *CK, "--beam", "2", "--temperature", "0.5"], "--temperature means nothing"),
    ("beam with random seed", ["sample", *CK, "--beam", "2", "--random-seed", "1"], "--random-seed means nothing"),
    ("beam without end", ["sample", *CK, "--beam", "2", "--n", "0"], "--beam needs --n >= 1"),
    ("beam fewer than samples", ["sample", *CK, "--beam", "2", "--num-samples", "3"],
     "--num-samples must be between 1 and --beam (2)"),
    ("huge beam", ["sample", *CK, "--beam", "99999999999999999999"], "GiB of memory"),
    ("nan length penalty", ["sample", *CK, "--beam", "2", "--length-penalty", "nan"],
     "--length-penalty must be a finite number"),
    ("no-repeat-ngram zero", ["sample", *CK, "--no-repeat-ngram", "0"], "--no-repeat-ngram must be >= 1"),
    ("beam no-repeat-ngram zero", ["sample", *CK, "--beam", "2", "--no-repeat-ngram", "0"],
     "--no-repeat-ngram must be >= 1"),
    ("repetition penalty zero", ["sample", *CK, "--repetition-penalty", "0"],
     "--repetition-penalty must be a finite number > 0"),
    ("nan repetition penalty", ["sample", *CK, "--beam", "2", "--repetition-penalty", "nan"],
     "--repetition-penalty must be a finite number > 0"),
    ("repetition window zero", ["sample", *CK, "--repetition-window", "0"], "--repetition-window must be >= 1"),
    ("keep-eval without init-from", [*TRAIN, "--keep-eval", "{corpus}"], "needs --init-from"),
    ("keep-eval outside the vocab", [*TRAIN, "--init-from", "{trained}", "--keep-eval", "bin.dat"], "--keep-eval"),
    ("inspect unit out of range", [*INSPECT, "units", "{corpus}", *CK, "--unit", "0:c:16"],
     "unit 0:c:16: no unit 16; the layers' units are 0-15"),
    ("inspect layer out of range", [*INSPECT, "units", "{corpus}", *CK, "--unit", "1:h:0"],
     "unit 1:h:0: no layer 1; the model's layers are 0-0"),
    ("inspect kind the cell lacks", [*INSPECT, "units", "{corpus}", *CK, "--unit", "0:z:0"],
     "unit 0:z:0: the lstm has no 'z'; its kinds are h, c, i, f, o, g"),
    ("inspect unit malformed", [*INSPECT, "units", "{corpus}", *CK, "--unit", "0:c"], "is not LAYER:KIND:INDEX"),
    ("inspect kinds the cell lacks", [*INSPECT, "find", "{corpus}", *CK, "--regex", "the", "--kinds", "h,z"],
     "the lstm has no 'z'"),
    ("inspect gates of an rnn", [*INSPECT, "gates", "abc.txt", "--checkpoint", "rnn.npz"], "the rnn has no gates"),
    ("inspect span outside the text", [*INSPECT, "match", "{corpus}", *CK, "--select", "10:999999"],
     "--select 10:999999 is outside the text, which has 6000 characters"),
    ("inspect empty span", [*INSPECT, "match", "{corpus}", *CK, "--select", "10:10"], "is outside the text"),
    ("inspect span malformed", [*INSPECT, "match", "{corpus}", *CK, "--select", "10-20"], "is not START:END"),
    ("inspect regex", [*INSPECT, "find", "{corpus}", *CK, "--regex", "(the"], "--regex '(the' does not compile"),
    ("inspect labels length", [*INSPECT, "find", "{corpus}", *CK, "--labels", "labels.txt"],
     "--labels labels.txt holds 3 numbers; the text has 6000 characters"),
    ("inspect labels not numbers", [*INSPECT, "find", "{corpus}", *CK, "--labels", "words.txt"],
     "could not convert string to float"),
    ("inspect constant labels", [*INSPECT, "find", "{corpus}", *CK, "--regex", "QQQ"], "the same at every character"),
    ("inspect no concept", [*INSPECT, "find", "{corpus}", *CK], "give one of --hypothesis, --regex or --labels"),
    ("inspect two concepts", [*INSPECT, "find", "{corpus}", *CK, "--regex", "a", "--hypothesis", "indent"],
     "give one of"),
    ("inspect score outside vocab", [*INSPECT, "score", "bin.dat", *CK], "characters not in the vocab: '\\x00'"),
    ("inspect units outside vocab", [*INSPECT, "units", "bin.dat", *CK], "characters not in the vocab"),
    ("inspect score empty", [*INSPECT, "score", "empty.txt", *CK], "need at least 2 characters"),
    ("inspect units empty stdin", [*INSPECT, "units", "-", *CK], "the text is empty"),
    ("inspect empty once skipped", [*INSPECT, "gates", "outside.txt", "--checkpoint", "gru.npz", "--unknown", "skip"],
     "the text is empty once characters outside the vocab are skipped"),
    ("inspect missing file", [*INSPECT, "score", "nope.txt", *CK], "cannot read nope.txt"),
    ("inspect invalid utf-8", [*INSPECT, "score", "bad.txt", *CK], "invalid UTF-8 at byte offset 300"),
    ("inspect clamp a gate", [*INSPECT, "score", "{corpus}", *CK, "--clamp", "0:f:1=1"], "the lstm's state has no 'f'"),
    ("inspect buckets", [*INSPECT, "score", "{corpus}", *CK, "--buckets", "3,1"], "'3,1' is not increasing"),
    ("inspect output into a missing directory", [*INSPECT, "gates", "{corpus}", *CK, "-o", "nodir/r.html"],
     "no such directory nodir"),
    ("inspect output over a directory", [*INSPECT, "gates", "{corpus}", *CK, "-o", "emptydir"], "is a directory"),
]


@pytest.mark.parametrize("name, argv, message", BAD_INPUTS, ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_is_one_line(bad_files, corpus_file, trained, name, argv, message):
    result = invoke(*[str(a).format(corpus=corpus_file, trained=trained) for a in argv], input="")
    assert result.exit_code not in (0, None)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.stderr


def test_unreadable_corpus(corpus_file, monkeypatch):
    import builtins
    real_open = builtins.open

    def deny(path, *args, **kwargs):  # root can read anything, so refuse the way the OS would
        if str(path) == str(corpus_file):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", deny)
    result = invoke("train", corpus_file, *TINY)
    assert result.exit_code == 1 and result.stderr.strip() == f"Error: cannot read {corpus_file}: Permission denied"


def test_progress_lines_samples_and_quiet(tmp_path, corpus_file):
    args = [a for a in TINY if a != "--quiet"]
    result = invoke("train", corpus_file, *args, "--run-dir", tmp_path / "a", "--sample-every", "10")
    lines = result.stderr.splitlines()
    assert any(line.startswith("step 10/20 | epoch 0 | loss ") and "val" in line for line in lines)
    assert "----- sample at step 20" in result.stderr
    quiet = invoke("train", corpus_file, *TINY, "--run-dir", tmp_path / "b")
    assert quiet.stderr.count("\n") == 1 and "chars/s" in quiet.stderr


def test_max_time_stops_training(tmp_path, corpus_file):
    result = invoke("train", corpus_file, *TINY, "--max-steps", "1000000", "--max-time", "1",
                    "--run-dir", tmp_path / "r")
    assert result.exit_code == 0
    step = json.loads(invoke("info", tmp_path / "r", "--json").stdout)["step"]
    assert 0 < step < 1000000
