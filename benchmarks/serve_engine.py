"""The serve engine alone, without HTTP: characters per second of CPU at N concurrent streams.

CPU seconds (time.process_time), not wall-clock ones, so that the figure does not move with
the share of a loaded machine the process happens to get: the ratio between N streams and
one is what batching gains per unit of work. Same model as benchmarks/serve_load.py (a
random-weight 2x256 LSTM over tiny-shakespeare's characters, float32 kernels); every stream
makes --chars characters at temperature 0.8. The engine picks its BLAS threads per block as the
server does, up to --threads (one below threads.SPLIT streams); on two cores the CPU column then
counts OpenBLAS's waiting thread, so compare the wall-clock one.

    python benchmarks/serve_engine.py --streams 1,32,64
"""

import argparse
import tempfile
import time


import charrnn
from charrnn.serve.engine import Engine
from charrnn.serve.jobs import new_job, sampling
from workload import serving_checkpoint


def streams_at_once(model, count, chars, threads):
    """Run `count` streams together to their end: (wall seconds, CPU seconds of this process)."""
    engine = Engine(model, max_streams=count, max_waiting=count, threads=threads)
    engine.start()
    jobs = [new_job(model.vocab, 3600, ["ROMEO:"], [sampling(0.8)], seed, chars) for seed in range(count)]
    wall, cpu = time.perf_counter(), time.process_time()
    for job in jobs:
        engine.submit(job)
    while not all(job.done for job in jobs):
        time.sleep(0.005)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    engine.stop()
    return wall, cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--streams", default="1,8,32,64", help="stream counts, one run each")
    parser.add_argument("--chars", type=int, default=2000, help="characters per stream")
    parser.add_argument("--threads", type=int, default=2, help="BLAS threads for a batch of threads.SPLIT or "
                        "more (the server's default)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = charrnn.load(serving_checkpoint(tmp))
        rows = [(count, *streams_at_once(model, count, args.chars, args.threads))
                for count in map(int, args.streams.split(","))]
    alone_wall, alone_cpu = args.chars / rows[0][1], args.chars / rows[0][2]
    print("| streams | chars/s, wall (x one stream) | chars per CPU-second (x one stream) |")
    print("|---:|---:|---:|")
    for count, wall, cpu in rows:
        made = count * args.chars
        print(f"| {count} | {made / wall:,.0f} ({made / wall / alone_wall:.1f}x) "
              f"| {made / cpu:,.0f} ({made / cpu / alone_cpu:.1f}x) |")


if __name__ == "__main__":
    main()
