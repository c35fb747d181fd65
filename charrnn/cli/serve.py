"""`charrnn serve` (the `serve` extra): the model over HTTP."""

import os

import click

from .group import checkpoint_option, cli, kernels_ready, say_source


@cli.command()
@checkpoint_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; the default, loopback, keeps it off the network.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="0 picks a free port (printed on stderr).")
@click.option("--api-key", help="Require `Authorization: Bearer KEY` on every API call.")
@click.option("--max-prompt", type=click.IntRange(1), default=8000, show_default=True, help="Characters per prompt.")
@click.option("--max-tokens", type=click.IntRange(1), default=4096, show_default=True,
              help="Characters per completion.")
@click.option("--max-n", type=click.IntRange(1), help="Completions per request (prompts × n) [default: 8, or "
              "--max-streams when fewer].")
@click.option("--max-streams", type=click.IntRange(1), default=64, show_default=True,
              help="Completions generated together, one batched step each.")
@click.option("--max-waiting", type=click.IntRange(0), default=64, show_default=True,
              help="Requests queued when every stream is busy; beyond that, 429.")
@click.option("--time-limit", type=click.FloatRange(min=0, min_open=True), default=120, show_default=True,
              help="Seconds a request may run.")
@click.option("--threads", type=click.IntRange(1), help="BLAS threads for a batched step of 4 streams or more "
              "(fewer get one) [default: 2, or fewer on one core or under OPENBLAS_NUM_THREADS].")
def serve(checkpoint, host, port, api_key, max_prompt, max_tokens, max_n, max_streams, max_waiting, time_limit,
          threads):
    """Serve a model over HTTP: OpenAI completions, rnn-writer's API and a web page at /."""
    try:
        from ..serve.server import run
    except ImportError as e:
        missing = (e.name or "starlette").split(".")[0]
        raise click.ClickException(f"charrnn serve needs {missing}: pip install 'charrnn[serve]'") from None
    from ..serve.backend import load
    from ..serve.validate import Limits

    max_n = min(8, max_streams) if max_n is None else max_n
    threads = threads or default_threads()
    if max_n > max_streams:
        raise click.BadParameter(f"{max_n} is more than --max-streams {max_streams}", param_hint="--max-n")
    backend = load(checkpoint)
    kernels_ready(backend.config)
    run(backend, host, port, api_key, Limits(max_prompt, max_tokens, max_n, max_streams, max_waiting, time_limit),
        threads, announce=lambda: say_source(backend.model.checkpoint, checkpoint))


def default_threads():
    """2 (only two cores were measured, and each BLAS thread spins on a core while it waits), or
    fewer where the process may use fewer cores or OPENBLAS_NUM_THREADS / OMP_NUM_THREADS say so."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    capped = [int(value) for value in map(os.environ.get, ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"))
              if value and value.isdigit() and int(value) > 0]
    return min([2, cores] + capped[:1])
