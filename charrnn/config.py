"""Every setting, its default and the reason for it, in one frozen dataclass.

One name per setting everywhere: `hidden_size` in YAML, `--hidden-size` on the command
line, `config.hidden_size` in code. Precedence is defaults < `--config` YAML < flags.
A flat dataclass (rather than model/train sections) keeps that one-to-one mapping
trivial for the CLI, which generates a flag for every field.
"""

import dataclasses
import math
import reprlib
import sys
from dataclasses import dataclass, field
from importlib import resources

import yaml

from .cells import CELLS, plain_lstm
from .errors import CharrnnError
from .optim import OPTIMIZERS, SCHEDULES

FRACTION = (lambda v: 0 < v < 1, "must be between 0 and 1 (exclusive)")
POSITIVE = (lambda v: v > 0, "must be > 0")
NON_NEGATIVE = (lambda v: v >= 0, "must be >= 0")
UNICODE = (lambda v: not any("\ud800" <= c <= "\udfff" for c in v), "must be Unicode text, without a lone surrogate")


def choice(names):
    names = sorted(names)
    return (lambda v: v in names, f"must be one of: {', '.join(names)}")


def setting(default, reason, check=None, parse=None):
    """A config field; `parse` turns a string (YAML or a flag) into its value."""
    return field(default=default, metadata={"help": reason, "check": check, "parse": parse})


def parse_duration(text):
    """Seconds in '90', '90s', '10m', '1h', '1h30m' or '2.5m'; raises ValueError otherwise."""
    units, total, number = {"s": 1, "m": 60, "h": 3600}, 0.0, ""
    for ch in str(text).strip().lower():
        if ch.isdigit() or ch == ".":
            number += ch
        elif ch in units and number:
            total, number = total + float(number) * units[ch], ""
        else:
            raise ValueError(text)
    total += float(number) if number else 0.0
    if not math.isfinite(total) or not str(text).strip():
        raise ValueError(text)
    return total



@dataclass(frozen=True)
class Config:
    # --- model ---
    cell: str = setting("lstm", "recurrent cell; LSTMs hold context far longer than a tanh RNN; qrnn and "
                       "mingru gate on the input alone, so a window trains as one product and a scan",
                       choice(CELLS))
    hidden_size: int = setting(128, "units per layer; 128 trains in minutes on a laptop CPU", POSITIVE)
    num_layers: int = setting(2, "stacked layers; two is char-rnn's and torch-rnn's default", POSITIVE)
    embedding_size: int = setting(0, "learned input embedding width; 0 = one-hot input (a row lookup)", NON_NEGATIVE)
    dropout: float = setting(0.2, "inverted dropout between layers and before the head; unless you set it, "
                             "train picks 0.1-0.4 by the model's weights times the passes the run makes over the "
                             "corpus (docs/time-budget.md)",
                             (lambda v: 0 <= v < 1, "must be in [0, 1)"))
    qrnn_window: int = setting(2, "inputs each QRNN layer's gates read: 2 = x_{t-1} and x_t (the width AWD-QRNN "
                               "gives its first layer), so the first layer's gates, its forget gate too, see a "
                               "pair of characters rather than one; 1 = x_t alone, half the input weights",
                               (lambda v: v in (1, 2), "must be 1 or 2"))
    peephole: bool = setting(False, "LSTM gates also see the cell state (Gers & Schmidhuber 2000)")
    coupled_gates: bool = setting(False, "LSTM input gate tied to the forget gate: i = 1 - f")
    layer_norm: bool = setting(False, "LSTM gates and cell state normalised over the units (Ba et al. 2016); "
                               "unless you set it, train turns it on for a plain LSTM narrower than 256 that makes "
                               "under 20 passes over its text, where it measured better")
    init: str = setting("lecun", "weight initialisation: lecun (uniform, variance 1/fan_in; measured better than "
                        "char-rnn's ±0.08 at every size tried), uniform(±init_scale) or normal(0, init_scale)",
                        choice(["uniform", "normal", "lecun"]))
    init_scale: float = setting(0.08, "for init uniform or normal; char-rnn's uniform ±0.08", POSITIVE)
    dtype: str = setting("float32", "float32 is twice as fast; float64 for gradient checks",
                         choice(["float32", "float64"]))
    kernels: str = setting("auto", "auto: numba-compiled fused steps for float32 rnn, lstm and gru, the NumPy "
                           "reference otherwise; numpy: the reference always; numba: fused or an error",
                           choice(["auto", "numpy", "numba"]))
    products: str = setting("auto", "the matrix products: auto (MKL's sgemm where charrnn[mkl] is installed and the "
                            "CPU is Intel's, else NumPy's OpenBLAS), openblas, mkl (charrnn[mkl]) or bf16 (bfloat16 "
                            "inputs, float32 accumulation: MKL on a CPU with AVX512-BF16 or AMX); docs/performance.md",
                            choice(["auto", "openblas", "mkl", "bf16"]))
    # --- corpus ---
    val_fraction: float = setting(0.1, "last 10% of the text is held out for validation", FRACTION)
    val_max_chars: int = setting(250_000, "validation scores at most this many characters, as 64 fixed chunks spread "
                                 "over the split, so its cost does not grow with the corpus; 0 = all",
                                 NON_NEGATIVE)
    test_fraction: float = setting(0.0, "optional test split after validation; 0 = none",
                                   (lambda v: 0 <= v < 1, "must be in [0, 1)"))
    bytes: bool = setting(False, "model raw bytes (vocab <= 256) instead of Unicode codepoints")
    min_count: int = setting(1, "symbols seen fewer times are folded into one rare symbol", POSITIVE)
    lowercase: bool = setting(False, "fold case before building the vocab")
    nfc: bool = setting(True, "NFC-normalise text so one visible character has one encoding")
    encoding_errors: str = setting("strict", "invalid UTF-8 is an error (strict) or U+FFFD (replace)",
                                   choice(["strict", "replace"]))
    file_separator: str = setting("", "text placed between joined files", UNICODE)
    include: str = setting("", "glob that files found in directories must match (e.g. '*.py'); empty = all")
    # --- optimisation ---
    batch_size: int = setting(32, "parallel streams per step; fills the CPU's matmul units", POSITIVE)
    seq_length: int = setting(100, "characters of backpropagation through time per window (char-rnn's 100)",
                              POSITIVE)
    optimizer: str = setting("adam", "Adam: every cell trains under it (a GRU diverged under Adagrad 0.05)",
                             choice(OPTIMIZERS))
    learning_rate: float = setting(0.01, "Adam at 0.01 for 2x128: 1.640 after one minute, 2.007 at 2e-3 "
                                   "(docs/time-budget.md)", POSITIVE)
    lr_schedule: str = setting("cosine", "constant, step (x lr_decay every lr_decay_every steps) or cosine "
                               "(to min_lr over lr_decay_every steps)", choice(SCHEDULES))
    lr_decay: float = setting(0.97, "char-rnn's decay factor for the step schedule",
                              (lambda v: 0 < v <= 1, "must be in (0, 1]"))
    lr_decay_every: int = setting(2400, "steps per decay period of the step and cosine schedules", POSITIVE)
    warmup_steps: int = setting(200, "steps of linear warm-up from 0 to learning_rate before the schedule "
                                "(Adam's early steps are noisy)",
                                NON_NEGATIVE)
    min_lr: float = setting(0.001, "where the cosine schedule ends: a tenth of the default rate", NON_NEGATIVE)
    rmsprop_decay: float = setting(0.95, "char-rnn's RMSProp decay", FRACTION)
    ema_decay: float = setting(0.998, "validate, save and sample a moving average of the weights with this decay, "
                               "shortened early to (1 + t)/(10 + t) at step t; it never lost: 0.001-0.004 at the end "
                               "of each plan measured, up to 0.02 mid-run (docs/time-budget.md); 0 = the weights "
                               "themselves",
                               (lambda v: 0 <= v < 1, "must be in [0, 1)"))
    state_reset: float = setting(0.01, "share of the streams restarted from a zero state at each window, as every "
                                 "prompt, eval and sample starts: without it a War and Peace model read 22 nats/char "
                                 "on one stream in 64 from a zero state; with it, none (docs/zero-state.md)",
                                 (lambda v: 0 <= v < 1, "must be in [0, 1)"))
    grad_clip: float = setting(0.05, "bound on the gradient per character, whatever the seq_length; 0.05 "
                               "clips nearly every step, which with Adam measured best (docs/configuration.md); "
                               "0 = off",
                               NON_NEGATIVE)
    clip_mode: str = setting("norm", "global-norm (norm) or element-wise (value) clipping; norm measured 1.792 "
                             "against 1.853",
                             choice(["value", "norm"]))
    # --- run ---
    max_steps: int = setting(2600, "under 2 minutes on a 2-core machine: 1.50 nats/char on tiny-shakespeare",
                             POSITIVE)
    max_time: float = setting(0.0, "stop after this long: seconds, or 90s, 10m, 1h30m; 0 = no limit", NON_NEGATIVE,
                              parse_duration)
    eval_every: int = setting(260, "steps between full validation passes (and checkpoints)", POSITIVE)
    checkpoint_every: int = setting(0, "steps between saves of `latest`; 0 = at every evaluation", NON_NEGATIVE)
    log_every: int = setting(50, "steps between metrics.jsonl lines", POSITIVE)
    sample_every: int = setting(0, "steps between short samples printed to stderr; 0 = never", NON_NEGATIVE)
    random_seed: int = setting(1234, "seeds the one RNG behind init, dropout and samples during training",
                               NON_NEGATIVE)
    patience: int = setting(5, "stop early after this many evaluations without a better validation loss; "
                            "0 = never", NON_NEGATIVE)
    divergence_factor: float = setting(3.0, "stop if the loss exceeds this x its initial value (char-rnn's 3); "
                                       "0 = off", NON_NEGATIVE)

    def to_dict(self):
        return dataclasses.asdict(self)


FIELDS = {f.name: f for f in dataclasses.fields(Config)}
# Settings that may change when a run is resumed: they say how long and how loudly to
# train, not what is trained, so the resumed steps are the same as uninterrupted ones
# (`products`: within round-off, or bfloat16's rounding for bf16; a run may move machines).
RESUMABLE = {"max_steps", "max_time", "eval_every", "checkpoint_every", "log_every", "sample_every",
             "divergence_factor", "patience", "products"}  # products: how, on this machine, not what


SHORT = reprlib.Repr()
SHORT.maxlevel, SHORT.maxlist, SHORT.maxdict, SHORT.maxstring, SHORT.maxother = 2, 4, 4, 60, 60


def shown(value):
    """A value in a message, cut short: a YAML alias bomb's whole repr would never end."""
    return SHORT.repr(value)


def _checked(name, value):
    if name not in FIELDS:
        raise CharrnnError(f"unknown config key {shown(name)} (valid keys: {', '.join(FIELDS)})")
    kind, parse = FIELDS[name].type, FIELDS[name].metadata["parse"]
    if parse and isinstance(value, str):
        try:
            value = parse(value)
        except ValueError:
            raise CharrnnError(f"config key {name!r} must be a duration such as 90s, 10m or 1h, "
                               f"got {shown(value)}") from None
    ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value) if abs(value) <= sys.float_info.max else math.inf, True  # int 10**400: not finite
    if not ok:
        raise CharrnnError(f"config key {name!r} must be {kind.__name__}, "
                           f"got {type(value).__name__} {shown(value)}")
    if kind is float and not math.isfinite(value):
        raise CharrnnError(f"config key {name!r} must be a finite number, got {shown(value)}")
    check = FIELDS[name].metadata["check"]
    if check and not check[0](value):
        raise CharrnnError(f"config key {name!r} {check[1]}, got {shown(value)}")
    return value


def make_config(values=None, base=None):
    """Config from `base` (default: the defaults) with `values` applied and checked."""
    values = {k: _checked(k, v) for k, v in (values or {}).items()}
    config = dataclasses.replace(base or Config(), **values)
    if config.val_fraction + config.test_fraction >= 1:
        raise CharrnnError("val_fraction + test_fraction must be < 1")
    if config.layer_norm and not plain_lstm(config):
        raise CharrnnError("layer_norm covers the plain LSTM: --cell lstm, without peephole or coupled_gates")
    return config


PRESETS = resources.files(__package__) / "configs"  # shipped in the package: a wheel has them too


def preset_names():
    return sorted(p.name.removesuffix(".yaml") for p in PRESETS.iterdir() if p.name.endswith(".yaml"))


def _config_text(path):
    """The text of the YAML file at `path`, else of the preset that `path` names (`lstm-2x512`
    or `lstm-2x512.yaml`): a file that exists wins."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError as e:
        name = str(path).removesuffix(".yaml")
        if name not in preset_names():
            raise CharrnnError(f"cannot read config {path}: {e.strerror}, and no preset has that name (the presets: "
                               f"{', '.join(preset_names())})") from None
        return (PRESETS / f"{name}.yaml").read_text(encoding="utf-8")
    except OSError as e:
        raise CharrnnError(f"cannot read config {path}: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise CharrnnError(f"config {path} is not UTF-8 text ({e.reason})") from None


def load_yaml(path):
    """The mapping in a YAML file or preset (see _config_text); syntax errors name the line."""
    try:
        data = yaml.safe_load(_config_text(path))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise CharrnnError(f"YAML syntax error in {path}{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CharrnnError(f"config {path} must be a mapping of key: value")
    return data


def load_config(yaml_path=None, flags=None, base=None):
    """Resolve defaults (or `base`) < YAML file < flags."""
    config = make_config(load_yaml(yaml_path) if yaml_path else {}, base)
    return make_config(flags or {}, config)
