"""`charrnn sample`: generate text to stdout, sampled or by beam search."""

import math
import os
import sys

import click

from .group import checkpoint_option, cli, kernels_ready, say_source, unescape


def repetition_options(command):
    """The controls against repetitive text, which sampling and --beam share."""
    for decls, kwargs in reversed([
            (["--no-repeat-ngram"], dict(type=int, metavar="N", help="No character N-gram twice in one output.")),
            (["--repetition-penalty"], dict(type=float, default=1.0, show_default=True, metavar="P",
                                            help="CTRL's: lower the logits of characters seen in the last "
                                                 "--repetition-window characters (divided by P, or times P when "
                                                 "negative); 1 = off.")),
            (["--repetition-window"], dict(type=int, default=20, show_default=True,
                                           help="Characters --repetition-penalty looks back over, the seed's "
                                                "included."))]):
        command = click.option(*decls, **kwargs)(command)
    return command


SAMPLING_ONLY = ("temperature", "top_k", "top_p", "greedy", "random_seed")  # a search has no use for them


@cli.command()
@checkpoint_option
@click.option("--seed", help="Text that primes the model; '-' reads it from stdin [default: a newline, not echoed].")
@click.option("--n", type=int, default=200, show_default=True, help="Characters per sample; 0 = until the pipe closes.")
@click.option("--temperature", type=float, default=1.0, show_default=True, help="< 1 is safer, > 1 wilder.")
@click.option("--top-k", type=int, help="Draw only from the K likeliest characters.")
@click.option("--top-p", type=float, default=1.0, help="Draw only from the smallest set holding mass P.")
@click.option("--greedy", is_flag=True, help="Always take the likeliest character (= --top-k 1).")
@click.option("--random-seed", type=click.IntRange(0), help="Makes the output repeatable [default: fresh, shown on "
              "stderr].")
@click.option("--num-samples", type=int, default=1, show_default=True, help="Samples generated together.")
@click.option("--separator", default="\\n\\n", show_default=True, help="Written between samples (\\0 for xargs -0).")
@click.option("--stop", default="", help="End each sample before the first occurrence of this text.")
@click.option("--no-echo-seed", is_flag=True, help="Leave the seed out of the output.")
@click.option("--logprob", is_flag=True, help="Report each sample's log-probability on stderr.")
@click.option("--clamp", "clamps", multiple=True, metavar="LAYER:KIND:INDEX=VALUE",
              help="Hold a unit of the state (KIND h or c) at VALUE at every step, e.g. 0:c:12=1.0; repeatable.")
@click.option("--beam", type=int, metavar="K", help="Beam search instead of sampling: keep the K likeliest "
              "continuations at every character and write the best (--num-samples M: the M best, best first). "
              "Nothing is written until the search ends, since only then is the best known.")
@click.option("--length-penalty", type=float, default=1.0, show_default=True,
              help="With --beam and --stop: rank beams by log-probability / length^this (1: per character, "
                   "0: the total).")
@repetition_options
def sample(checkpoint, seed, n, temperature, top_k, top_p, greedy, random_seed, num_samples, separator, stop,
           no_echo_seed, logprob, clamps, beam, length_penalty, **repetition):
    """Generate text from a trained model to stdout."""
    from ..api import load
    from ..hooks import parse_clamps

    model = load(checkpoint)
    kernels_ready(model.config)
    echo = not no_echo_seed and seed is not None
    seed = read_seed(seed, model.vocab)
    stop, separator, clamp = unescape(stop, "--stop"), unescape(separator, "--separator"), parse_clamps(clamps)
    if beam is not None:
        from ..beam import BeamOptions

        options = BeamOptions(beam, n, num_samples, stop, length_penalty, **repetition)
        return write_beams(model, checkpoint, seed, echo, options, separator, logprob, clamp)
    from ..sample import SampleOptions

    options = SampleOptions(n, temperature, top_k, top_p, greedy, num_samples, stop, echo, separator, **repetition)
    write_samples(model, checkpoint, seed, options, random_seed, logprob, clamp)


def read_seed(seed, vocab):
    """The seed as bytes: from stdin ('-'), the vocab's default, or the bytes the user typed,
    even if they are not valid UTF-8 (then the vocab refuses them)."""
    if seed == "-":
        return sys.stdin.buffer.read()
    if seed is None:
        return vocab.default_seed()
    return seed.encode("utf-8", "surrogateescape")


def write_samples(model, checkpoint, seed, options, random_seed, logprob, clamp):
    import numpy as np

    fresh = random_seed is None
    if fresh:
        random_seed = int(np.random.SeedSequence().generate_state(1)[0])
    sampler = model.sampler(seed, options, random_seed, clamp)
    say_source(model.checkpoint, checkpoint)  # only once the options and seed text are known to be good
    if fresh:
        click.echo(f"random seed: {random_seed}", err=True)
    out = sys.stdout.buffer
    try:
        for piece in sampler:
            out.write(piece)
            if b"\n" in piece:
                out.flush()
        out.flush()
    except BrokenPipeError:  # the reader has what it wanted (e.g. `| head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    if logprob:
        for k, (nats, chars) in enumerate(zip(sampler.logprob, sampler.chars)):
            say_logprob("sample", k, nats, chars)


def write_beams(model, checkpoint, seed, echo, options, separator, logprob, clamp):
    """`sample --beam`: the search, then each beam written, best first, behind the separator."""
    explicit = [f"--{name.replace('_', '-')}" for name in SAMPLING_ONLY
                if click.get_current_context().get_parameter_source(name).name != "DEFAULT"]
    if explicit:
        raise click.UsageError(f"{', '.join(explicit)} means nothing to a beam search, which takes the likeliest "
                               "text; leave it out, or sample without --beam")
    beams = model.beams(seed, options, clamp)
    say_source(model.checkpoint, checkpoint)
    vocab = model.vocab
    prefix = vocab.decode_bytes(vocab.encode(seed)[0]) if echo else b""
    sys.stdout.buffer.write(separator.join(prefix + beam.text for beam in beams))
    sys.stdout.buffer.flush()
    if logprob:
        for k, beam in enumerate(beams):
            say_logprob("beam", k, beam.logprob, len(beam.ids))


def say_logprob(what, k, nats, chars):
    click.echo(f"{what} {k}: log-probability {nats:.4f} nats, {-nats / chars / math.log(2):.4f} bits/char over "
               f"{chars} chars", err=True)
