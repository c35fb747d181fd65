"""`charrnn.load(path) -> Model`: a trained model in use, the one object behind the `sample`,
`eval` and `info` commands and whatever else runs a model (inspect, serve, export).

    import charrnn
    model = charrnn.load()                                   # newest run under ./checkpoints
    print("".join(model.generate("ROMEO:", n=200, seed=1)))
    scores = model.score(open("held-out.txt").read())        # CharScores, rows in text order
    acts = model.activations("To be, or not to be")          # {(layer, kind): (T, H)}

Everything runs the model's one forward (model.forward and inference.make_stepper) on the
checkpoint's weight average, as `charrnn sample` and `charrnn eval` do. Two layouts of the
state, on purpose: `score` reads text as eval does (up to 64 streams each from zero state,
batches.eval_streams), so its total is eval's; `activations` reads the text as one stream
from zero state, so a unit's value at any character depends on everything before it.
"""

import codecs
import functools
from dataclasses import replace

import numpy as np

from .batches import EVAL_WINDOW
from .beam import BeamOptions, beam_search
from .checkpoint import find_checkpoint, load_checkpoint
from .choose import SampleOptions, generator
from .errors import CharrnnError
from .evaluation import encode_for_scoring, eval_log_probs, score_text
from .hooks import Recorder, make_clamp, state_kinds, value_kinds, value_scales
from .inference import make_stepper, prompt, run_layers
from .model import init_params, init_state
from .records import ActivationChunk, CharScores
from .sample import Sampler
from .streams import SLICE, StopStrings, Stream, Streams

# What the model's users (the server among them) take from here, beside Model: a stream's
# options and generator, the stream and batch classes, and the one error type.
__all__ = ["BeamOptions", "CharrnnError", "Model", "SLICE", "SampleOptions", "StopStrings", "Stream", "Streams",
           "generator", "load"]


def load(path=None):
    """The model in a checkpoint file or run directory (default: the newest run under ./checkpoints)."""
    return Model(load_checkpoint(find_checkpoint(path)))


def _as_bytes(text):
    """str as UTF-8, bytes as they are; a str that is not Unicode text (a lone surrogate) is one CharrnnError."""
    if not isinstance(text, str):
        return text
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise CharrnnError(f"the text is not valid Unicode: {text[e.start]!r} at {e.start} is half a surrogate "
                           "pair") from None


class Model:
    """A checkpoint's model: `config`, `vocab`, `params` (the weight average, which sample and
    eval use) and `checkpoint` (everything the file holds).

    `clamp`, wherever it is taken, is {(layer, kind, index): value}: unit `index` of layer
    `layer`'s "h" or "c" held at `value` after every step (hooks.Clamp), the causal test of
    what a unit means. Text arguments are str or bytes (UTF-8, or raw bytes for a byte vocab).
    """

    def __init__(self, checkpoint):
        self.checkpoint, self.config, self.vocab = checkpoint, checkpoint.config, checkpoint.vocab
        self.params = checkpoint.weights

    @property
    def path(self):
        return self.checkpoint.path

    def __repr__(self):
        c = self.config
        return f"<charrnn.Model {c.cell} {c.num_layers}x{c.hidden_size}, vocab {self.vocab.size}, {self.path}>"

    def control(self, seed=0):
        """The same architecture and vocab with fresh random weights (init_params, seeded): what
        a unit shows there, it owes to the input characters alone, not to training."""
        params = init_params(self.config, self.vocab.size, np.random.default_rng(seed))
        return Model(replace(self.checkpoint, params=params, slots={key: {} for key in params}))

    def info(self):
        """What `charrnn info` prints: model, vocab, progress and corpus, as a dict."""
        from .scoring import describe  # tqdm and the corpus code load only here

        return describe(self.checkpoint)

    @property
    def kinds(self):
        """Each layer's kinds of value: the state's ("h", and "c" for the LSTM and the QRNN), then the gates'."""
        return value_kinds(self.config)

    @property
    def state_kinds(self):
        return state_kinds(self.config)

    @property
    def scales(self):
        """{kind: "gate" (in (0, 1)), "bounded" (in [−1, 1]) or "unbounded"}: how each kind's values lie."""
        return value_scales(self.config)

    def sampler(self, prime=None, options=SampleOptions(), seed=None, clamp=None):
        """The Sampler behind generate and `charrnn sample`: iterate it for output bytes.
        prime None is the vocab's default seed (a newline); seed an int or None (fresh):
        sample k draws from generator(seed, k), as stream k of the server's n does."""
        prime = self.vocab.default_seed() if prime is None else prime
        return Sampler(self.params, self.config, self.vocab, _as_bytes(prime), options, seed,
                       make_clamp(self.config, clamp))

    def prompt(self, text=None, clamp=None):
        """A streams.Prompt of `text` (None or "": the default seed) to read, a slice at a time
        (SLICE ids, `read_slice`) or whole (`read_all`), for streams to continue."""
        return prompt(self.params, self.config, self.vocab, _as_bytes(text or self.vocab.default_seed()),
                      make_clamp(self.config, clamp))

    def streams(self):
        """An empty batch of streams (streams.Streams) stepping this model: streams join it from
        a read Prompt, `run` steps them a block at a time, `leave` drops them."""
        return Streams(self._stepper, self.vocab)

    @functools.cached_property
    def _stepper(self):  # one per model: its column step keeps transposed copies of the weights
        return make_stepper(self.params, self.config)

    def generate(self, prime="", n=200, temperature=1.0, top_k=None, top_p=1.0, stop=None, seed=None,
                 greedy=False, clamp=None, beam=None, length_penalty=1.0, **repetition):
        """An iterator of the text that follows `prime` ("" = the default seed), in chunks as
        it is generated: `n` characters (0 = without end), ending early before `stop`.
        Sampling as `charrnn sample` (temperature, then top-k, then top-p; greedy takes the
        likeliest); with `seed`, prime + "".join(...) equals `charrnn sample --seed PRIME
        --random-seed SEED`'s output. The prime is not repeated. Options are checked here.
        With `beam` K, the likeliest text a K-wide beam search finds, as `sample --beam K`,
        in one chunk at the end (only then is the best known). `repetition`: repetition_penalty,
        repetition_window and no_repeat_ngram, as sample's --repetition-penalty and the like."""
        stop = _as_bytes(stop or b"")
        if beam is not None:
            if (temperature, top_k, top_p, greedy, seed) != (1.0, None, 1.0, False, None):
                raise CharrnnError("beam search takes the likeliest text: temperature, top_k, top_p, greedy and "
                                   "seed mean nothing to it")
            best = self.beams(prime or None, BeamOptions(beam, n, 1, stop, length_penalty, **repetition), clamp)[0]
            return iter([best.text.decode("utf-8", "replace")])
        options = SampleOptions(n, temperature, top_k, top_p, greedy, 1, stop, echo_seed=False, **repetition)
        return _decoded(self.sampler(prime or None, options, seed, clamp))

    def beams(self, prime=None, options=BeamOptions(), clamp=None):
        """The beam search behind `sample --beam`: options.num_beams Beams (.ids, .text bytes,
        .logprob), best first; prime None is the vocab's default seed."""
        prime = self.vocab.default_seed() if prime is None else prime
        return beam_search(self.params, self.config, self.vocab, _as_bytes(prime), options,
                           make_clamp(self.config, clamp))

    def samples(self, prime="", num_samples=2, n=200, temperature=1.0, top_k=None, top_p=1.0, stop=None, seed=None,
                greedy=False, clamp=None, **repetition):
        """`num_samples` texts generated together (one batch, as `sample --num-samples`), as a
        list; with `seed`, the texts of `charrnn sample --num-samples` and of the server's n."""
        options = SampleOptions(n, temperature, top_k, top_p, greedy, num_samples, _as_bytes(stop or b""),
                                echo_seed=False, **repetition)
        texts = [bytearray() for _ in range(num_samples)]
        for row, piece in self.sampler(prime or None, options, seed, clamp).generate():
            texts[row] += piece or b""
        return [text.decode("utf-8", "replace") for text in texts]

    def evaluate(self, text, unknown="error", errors="strict", progress=lambda n: None):
        """`charrnn eval`'s figures for one text: an EvalResult (chars, nats, skipped; .to_dict(name)).
        unknown "skip" leaves out characters outside the vocab; errors "replace" reads invalid UTF-8 as U+FFFD."""
        return score_text(self.params, self.config, self.vocab, text, unknown, progress, errors)

    def score_chunks(self, text, top_k=5, clamp=None, unknown="error", errors="strict", chunk=EVAL_WINDOW):
        """Per-character scores as eval computes them, in bounded memory: a CharScores for each
        of eval's windows (`chunk` characters of each of up to 64 streams; the figures do not
        depend on it). Rows within a chunk are in text order; chunks interleave the streams,
        so to write a long text in order, keep each stream's rows apart (stream n's come in
        order) and join them at the end. Errors in the text raise before the first chunk."""
        tokens, _ = encode_for_scoring(self.vocab, text, unknown, errors)
        hook = make_clamp(self.config, clamp)
        windows = eval_log_probs(self.params, self.config, tokens, seq_length=chunk, hook=hook)
        return (CharScores.from_window(window, logp, top_k) for window, logp in windows)

    def score(self, text, top_k=5, clamp=None, unknown="error", errors="strict"):
        """Every character's score (all but the first), collected: a CharScores in text order,
        whose .nats is `charrnn eval`'s total for the text. For long texts use score_chunks."""
        return CharScores.concat(self.score_chunks(text, top_k, clamp, unknown, errors))

    def activation_chunks(self, text, layers=None, kinds=None, clamp=None, chunk=1024, unknown="error",
                          errors="strict"):
        """The values inside the model as it reads `text` as ONE stream from zero state (unlike
        score's eval layout), `chunk` characters at a time: an ActivationChunk(start, values)
        each, values[(layer, kind)] (T, H) in the model's dtype, row t the value after reading
        character start + t. Kinds: "h", "c" (LSTM, QRNN) and the activated gates (hooks.py
        lists them per cell), None = the state's; layers None = all; unknown and errors as in
        score. Errors in the arguments raise here."""
        ids, _ = self.vocab.encode(text, unknown, errors)
        if not len(ids):
            raise CharrnnError("no characters to read")
        kinds = self.state_kinds if kinds is None else kinds
        recorder = Recorder(self.config, layers, kinds, make_clamp(self.config, clamp))
        return self._recorded(ids, recorder, chunk)

    def _recorded(self, ids, recorder, chunk):
        state = init_state(self.config, 1)
        for start in range(0, len(ids), chunk):
            _, state = run_layers(self.params, self.config, ids[None, start:start + chunk], state, recorder)
            yield ActivationChunk(start, {key: steps[:, 0] for key, steps in recorder.take().items()})

    def look(self, text, top_k=5, layer=None, kind=None, unit=None, top=10):
        """What the server's "look inside" tab shows of `text`, as JSON-ready data: symbols,
        each character's scores and, with `layer`, one unit of `kind` (default the most variable)
        and the `top` most variable (inspect.analyses.look)."""
        from .inspect.analyses import look

        return look(self, text, top_k, layer, kind, unit, top)

    def activations(self, text, layers=None, kinds=None, clamp=None, unknown="error", errors="strict"):
        """activation_chunks collected: {(layer, kind): (T, H)} for the whole text."""
        chunks = [chunk.values for chunk in self.activation_chunks(text, layers, kinds, clamp, unknown=unknown,
                                                                   errors=errors)]
        return {key: np.concatenate([values[key] for values in chunks]) for key in chunks[0]}


def _decoded(sampler):
    """The sampler's bytes as text; a byte vocab's invalid UTF-8 becomes U+FFFD."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    for piece in sampler:
        text = decoder.decode(piece)
        if text:
            yield text
    tail = decoder.decode(b"", final=True)
    if tail:
        yield tail
