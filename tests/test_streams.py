"""The batch of streams behind every door (charrnn/streams.py): a stream's text, log-probability
and end do not depend on its batch-mates, on when it joined or who left, or on where blocks
end; each stream keeps its own options, generator and clamp. Float64, so "the same" is exact."""

import numpy as np
import pytest

import charrnn
from charrnn.choose import SampleOptions, generator
from charrnn.hooks import Clamp
from charrnn.inference import log_likelihood
from charrnn.model import init_state
from charrnn.streams import StopStrings, Stream
from serving import make_checkpoint

PLAIN = SampleOptions(temperature=0.9)
VARIED = [PLAIN, SampleOptions(greedy=True), SampleOptions(temperature=1.3, top_k=5, top_p=0.8),
          SampleOptions(temperature=0.7, repetition_penalty=1.5, repetition_window=8, no_repeat_ngram=3)]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return charrnn.load(make_checkpoint(tmp_path_factory.mktemp("streams") / "m.npz", dtype="float64"))


def make(model, options, seed, n=120, stops=(), clamp=None):
    return Stream(options, None if options.greedy else generator(seed, 0), n, StopStrings(stops) if stops else None,
                  clamp=None if clamp is None else Clamp(model.config, clamp))


def run(model, joins, block=7):
    """Joins [(at step, prompt text, streams)] into one batch, stepped `block` steps at a time,
    the ended streams leaving after each block; returns each stream's text."""
    batch, step, pending = model.streams(), 0, sorted(joins, key=lambda join: join[0])
    with np.errstate(over="ignore"):
        while pending or len(batch):
            while pending and pending[0][0] <= step:
                _, text, streams = pending.pop(0)
                batch.join(streams, model.prompt(text, clamp=CLAMP if streams[0].clamp else None).read_all())
            step += batch.run(block) if len(batch) else 1
            batch.leave(lambda stream: stream.done)
    return [stream for _, _, streams in joins for stream in streams]


def text(stream):
    return b"".join(data for data, _ in stream.out)


CLAMP = {(0, "c", 3): 1.5}


def test_a_stream_is_what_it_is_alone_whoever_joins_or_leaves(model):
    alone = [run(model, [(0, "ROMEO:", [make(model, options, seed)])], block=50)[0]
             for seed, options in enumerate(VARIED)]
    crowd = run(model, [(0, "ROMEO:", [make(model, VARIED[0], 0)]), (3, "ROMEO:", [make(model, VARIED[1], 1)]),
                        (10, "ROMEO:", [make(model, VARIED[2], 2), make(model, VARIED[3], 3)]),
                        (10, "JULIET:", [make(model, PLAIN, 9, n=5)])])  # leaves early
    for one, many in zip(alone, crowd):
        assert text(one) == text(many) and one.chars == many.chars == 120
        assert one.logprob == pytest.approx(many.logprob, rel=1e-13)  # summed a block at a time
    assert len({text(stream) for stream in crowd}) == 5


def test_a_clamped_stream_beside_free_ones(model):
    alone = run(model, [(0, "ROMEO:", [make(model, PLAIN, 4, clamp=CLAMP)])])[0]
    free = run(model, [(0, "ROMEO:", [make(model, PLAIN, 4)])])[0]
    crowd = run(model, [(0, "ROMEO:", [make(model, PLAIN, 5)]), (2, "ROMEO:", [make(model, PLAIN, 4, clamp=CLAMP)])])
    beside = run(model, [(0, "ROMEO:", [make(model, PLAIN, 5)])])[0]
    assert text(crowd[1]) == text(alone) != text(free) and text(crowd[0]) == text(beside)  # held in its own row only


def test_logprob_is_the_models_probability_of_the_text(model):
    stream = run(model, [(0, "ROMEO:", [make(model, PLAIN, 8)])])[0]
    ids = model.vocab.encode("ROMEO:" + text(stream).decode())[0]
    with np.errstate(over="ignore"):
        logp, _ = log_likelihood(model.params, model.config, ids[None, :-1], ids[None, 1:], init_state(model.config, 1))
    assert stream.logprob == pytest.approx(logp[0, 5:].sum(), rel=1e-12)


@pytest.mark.parametrize("block", [1, 3, 64])
def test_a_stop_string_ends_the_text_wherever_blocks_end(model, block):
    whole = text(run(model, [(0, "ROMEO:", [make(model, PLAIN, 11, n=400)])], block)[0])
    stop = whole[150:153]
    first = whole.find(stop)
    stopped = run(model, [(0, "ROMEO:", [make(model, PLAIN, 11, n=400, stops=(b"\x00never", stop))])], block)[0]
    assert text(stopped) == whole[:first] and stopped.finish_reason == "stop"
    assert stopped.chars == len(whole[:first + 3].decode())  # the stop string's characters count


def test_stop_strings_end_at_the_first_to_complete():
    rule = StopStrings([b"xyz", b"y", b"ab"])
    assert rule.find(b"..xyz") == (3, 4)  # "y" completes first: the text ends before it
    assert rule.find(b"..abc") == (2, 4)
    assert rule.find(b"nothing") is None
    assert [rule.hold(t) for t in (b"..x", b"..a", b"..c", b"...")] == [1, 1, 0, 0]  # what could still start one
