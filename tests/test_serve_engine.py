"""The engine's blocks of steps, driven directly (no HTTP): a block ends early when a request
waits or a client leaves, a stream's uniforms do not depend on where blocks end, and the
server's connections send each event at once (TCP_NODELAY)."""

import asyncio
import os
import socket
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("starlette")

from serving import make_checkpoint  # noqa: E402

from charrnn.choose import Uniforms, generator  # noqa: E402
from charrnn.inference import run_layers  # noqa: E402
from charrnn.model import init_state  # noqa: E402
from charrnn.serve.backend import load  # noqa: E402
from charrnn.serve.choices import Choice  # noqa: E402
from charrnn.serve.engine import FLUSH_STEPS, Engine  # noqa: E402
from charrnn.serve.jobs import Job, sampling, start  # noqa: E402
from charrnn.serve.priming import Prompts  # noqa: E402
from charrnn.serve.server import bind  # noqa: E402
from charrnn.serve.threads import SPLIT, BlasThreads  # noqa: E402
from charrnn.serve.validate import Limits  # noqa: E402
from charrnn.streams import SLICE  # noqa: E402

ENDLESS = 10**6  # steps: a block this long would not end within the test


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    return load(make_checkpoint(tmp_path_factory.mktemp("engine") / "tiny.npz"))


@pytest.fixture
def engine(backend):
    """An engine whose blocks end only early: never by length or time within a test."""
    engine = Engine(backend.model, max_streams=4, max_waiting=4, block=ENDLESS, flush=3600)
    engine.start()
    yield engine
    engine.stop()
    engine.join(10)


def job(backend, max_tokens, seed=0, prompt="A", n=1):
    job = Job([prompt], deadline=time.monotonic() + 3600)
    job.choices = [Choice(i, job, sampling(1.0), generator(seed, i), max_tokens, vocab=backend.vocab)
                   for i in range(n)]
    return job


def wait_for(condition, seconds=60):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the engine did not get there"
        time.sleep(0.01)


def test_uniforms_drawn_ahead_are_the_generators_own_sequence():
    uniforms, one_by_one = Uniforms(np.random.default_rng(5)), np.random.default_rng(5)
    taken = []
    for ahead, used in [(32, 3), (32, 32), (8, 0), (40, 17), (1, 1)]:  # blocks that end early use only some
        taken += list(uniforms.next(ahead)[:used])
        uniforms.used(used)
    assert taken == [one_by_one.random() for _ in taken]


def test_a_waiting_request_ends_the_block_in_progress(backend, engine):
    long = job(backend, ENDLESS)
    engine.submit(long)
    wait_for(lambda: engine.load == (1, 0))
    time.sleep(0.2)  # well into the first block
    assert not long.choices[0].out  # nothing handed out: the block runs on
    short = job(backend, 5, seed=1)
    engine.submit(short)
    wait_for(lambda: short.done)
    assert len(short.choices[0].text) == 5 and short.choices[0].finish_reason == "length"
    assert 0 < long.choices[0].chars < ENDLESS and not long.done  # its block ended when the request came


def test_waiting_jobs_join_only_while_streams_are_free(backend, engine):
    running = job(backend, ENDLESS)
    engine.submit(running)
    wait_for(lambda: engine.load == (1, 0))
    with engine.cond:  # all three wait at once: each would fit beside the running stream alone
        for seed in (1, 2, 3):
            engine.submit(job(backend, ENDLESS, seed=seed, n=2))
    wait_for(lambda: engine.load[0] > 1)
    time.sleep(0.1)
    assert engine.load == (3, 2)  # --max-streams 4: one pair joined, two wait


def test_a_client_leaving_ends_the_block_in_progress(backend, engine):
    leaving = job(backend, ENDLESS)
    engine.submit(leaving)
    wait_for(lambda: engine.load == (1, 0))
    leaving.cancel()
    wait_for(lambda: engine.load == (0, 0))  # dropped after the step in progress, not after a whole block
    assert leaving.choices[0].chars < ENDLESS


def test_a_block_is_no_longer_than_the_stream_has_left(backend, engine):
    short = job(backend, 7)
    engine.submit(short)
    wait_for(lambda: short.done)  # nothing else would end this engine's block: no text before it ends
    assert (len(short.choices[0].text), short.choices[0].finish_reason) == (7, "length")


def test_a_long_prompt_is_read_a_slice_at_a_time_while_others_generate(backend, engine):
    running = job(backend, ENDLESS)
    engine.submit(running)
    wait_for(lambda: engine.load == (1, 0))
    made_by_then, read = [], engine.prompts.read

    def reading(chars, join):  # on the engine's thread, between blocks
        made_by_then.append(running.choices[0].chars)
        read(chars, join)

    engine.prompts.read = reading
    long = job(backend, 5, seed=1, prompt="AB" * (5 * SLICE) + "A")  # ten slices
    engine.submit(long)
    wait_for(lambda: long.done)
    assert len(long.choices[0].text) == 5 and len(made_by_then) >= 10
    # between two slices, the running stream made a block of FLUSH_STEPS steps or more
    assert all(later - earlier >= FLUSH_STEPS for earlier, later in zip(made_by_then[1:], made_by_then[2:]))


def test_a_request_that_leaves_while_its_prompt_is_read_is_dropped(backend, engine):
    running = job(backend, ENDLESS)
    engine.submit(running)
    long = job(backend, 5, prompt="AB" * (500 * SLICE) + "A")  # a thousand slices
    engine.submit(long)
    wait_for(lambda: len(engine.prompts) == 1)
    long.cancel()
    wait_for(lambda: engine.load == (1, 0))
    assert long.choices[0].chars == 0 and not running.done


def test_a_short_prompt_is_not_held_behind_a_long_one(backend, engine):
    """A client's next request, arriving while a long prompt is read, joins at the next gap
    (the fewest characters left go first), not after the whole long prompt."""
    running = job(backend, ENDLESS)
    engine.submit(running)
    long = job(backend, 5, prompt="AB" * (500 * SLICE) + "A")  # a thousand slices
    engine.submit(long)
    wait_for(lambda: len(engine.prompts) == 1)
    short = job(backend, 5, seed=1)
    engine.submit(short)
    wait_for(lambda: short.done)
    assert not long.done and engine.prompts.jobs == [long]  # still being read


def test_a_streams_pause_ends_when_its_job_does(backend, engine):
    """The 30 ms pause between a stream's events ends at once when its request is done, so the
    last event and [DONE] (and the client's next request) do not wait it out."""
    async def stream_until_done():
        service = SimpleNamespace(engine=engine, backend=backend, limits=Limits())
        short = await start(service, None, ["A"], [sampling(1.0)], 0, 5, coalesce=60)
        started = time.monotonic()
        parts = [part async for part in short]
        return short.done, parts[-1][4], time.monotonic() - started

    done, finish, waited = asyncio.run(stream_until_done())
    assert done and finish == "length" and waited < 30


def test_a_prompt_read_in_slices_reaches_the_state_read_in_one_go(backend):
    prompt = "AB" * SLICE + "BA" * (SLICE // 2) + "C"  # 2.5 slices, then the first input
    first, second = (Job(prompts, [None] * len(prompts), time.monotonic() + 3600) for prompts in ([prompt, "A"], ["A"]))
    prompts, joined = Prompts(backend.model), []
    prompts.add(first)
    prompts.add(second)
    prompts.read(2 * SLICE, lambda *ready: joined.append(ready))
    assert [ready[0] for ready in joined] == [second]  # the fewest characters left goes first
    assert prompts.jobs == [first] and prompts.streams == 2
    prompts.read(None, lambda *ready: joined.append(ready))  # until a job is ready
    assert len(prompts) == 0 and prompts.streams == 0
    job, read = joined[1]
    ids = backend.vocab.encode(prompt)[0]
    assert job is first and [p.ids[-1] for p in read] == [ids[-1], backend.vocab.encode("A")[0][-1]]
    with np.errstate(over="ignore"):
        _, in_one_go = run_layers(backend.model.params, backend.config, ids[None, :-1], init_state(backend.config, 1))
    for sliced, whole in zip(read[0].state, in_one_go):
        np.testing.assert_allclose(sliced, whole, rtol=1e-5, atol=1e-6)


def test_connections_send_each_event_at_once():
    """TCP_NODELAY on the server's connections: without it Nagle's algorithm holds a small
    event until the client acknowledges the previous one (up to 40 ms of delayed ACK)."""
    sock = bind("127.0.0.1", 0)

    async def nodelay_of_accepted():
        accepted = asyncio.get_running_loop().create_future()

        def on_connection(reader, writer):
            accepted.set_result(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(on_connection, sock=sock)
        _, writer = await asyncio.open_connection(*sock.getsockname())
        flag = await asyncio.wait_for(accepted, 30)
        writer.close()
        server.close()
        return flag

    assert asyncio.run(nodelay_of_accepted()) != 0


def test_blas_threads_one_for_a_few_streams_all_given_from_split():
    """Set from a thread of its own, as the engine's: threadpoolctl would ignore a thread that
    does not control OpenBLAS, and the count is process-wide (hence the 1 left at the end)."""
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads():
        return max(lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas")

    with threadpool_limits(2, "blas"):
        most = blas_threads()  # 1 where OpenBLAS was built for one thread
    seen = []

    def engine_thread():
        blas = BlasThreads(2)
        for streams in (1, SPLIT - 1, SPLIT, 64, 0):
            blas.use_for(streams)
            seen.append(blas_threads())

    thread = threading.Thread(target=engine_thread)
    thread.start()
    thread.join()
    assert seen == [1, 1, most, most, 1]


@pytest.mark.parametrize("environ, expected", [({}, 2), ({"OPENBLAS_NUM_THREADS": "1"}, 1),
                                               ({"OMP_NUM_THREADS": "1"}, 1), ({"OPENBLAS_NUM_THREADS": "8"}, 2),
                                               ({"OPENBLAS_NUM_THREADS": "x"}, 2)])
def test_serve_threads_default_to_two_or_what_the_environment_allows(monkeypatch, environ, expected):
    from charrnn.cli.serve import default_threads

    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    cores = len(os.sched_getaffinity(0))
    assert default_threads() == min(expected, cores)
