"""make bench-soak: does `charrnn serve` stay flat and correct under ten minutes of churn?

Starts the server on serve_load's model (workload.serving_checkpoint: a random-weight 2x256
LSTM over tiny-shakespeare's characters) and runs 64 clients (--clients) against it. Each joins (a
new connection), makes a few requests, leaves, pauses and joins again; its requests are
completions (streamed or whole, with prompts of 6 to 1,000 characters and a mix of options),
now and then an inspect or an rnn-writer request, and one in eight a bad request whose status
is known. A third of the clients cut most of their streams after a few events. Each interval
(a minute by default) reports the requests done, the p50/p99 time to first character of the
streams that began in it, the server's peak resident memory in it (VmRSS, sampled each
second from /proc) and its VmHWM, and failures: a 5xx, a wrong status for a bad request, a
valid request refused, a stream that ends without `[DONE]` (other than those the client cut)
or a reply that takes more than TIMEOUT seconds. Targets (issue 37): resident memory grows at
most 5% from the first interval to the last, and no request fails.

    python benchmarks/soak.py                          # 10 minutes (make bench-soak)
    python benchmarks/soak.py --minutes 1 --interval 15
"""

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from serve_load import texts
from workload import DEFAULT_CORPUS, serving_checkpoint

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from serving import Server  # noqa: E402

MODEL = "shakespeare"
TIMEOUT = 150  # seconds; the server's --time-limit is 120


def body(data):
    return json.dumps(data).encode()


BAD = [  # (method, path, body, the status it must get)
    ("POST", "/v1/completions", b'{"model": "shakespeare",', 400),
    ("POST", "/v1/completions", b"[" * 100_000 + b"]" * 100_000, 400),
    ("POST", "/v1/completions", body({"model": "gpt-4"}), 404),
    ("POST", "/v1/completions", body({"model": MODEL, "temperature": "hot"}), 400),
    ("POST", "/v1/completions", body({"model": MODEL, "prompt": "a" * 8001}), 413),
    ("POST", "/v1/completions", body({"model": MODEL, "prompt": "ROMEO€#"}), 400),
    ("POST", "/v1/completions", body({"model": MODEL, "n": 9}), 400),
    ("POST", "/v1/completions", body({"model": MODEL, "stop": "\ud800"}), 400),  # a lone surrogate
    ("POST", "/v1/inspect", body({"text": "a"}), 400),
    ("GET", "/v1/inspect", b"", 405),
    ("GET", "/generate?start_text=Hi&n=0", b"", 400),
    ("POST", "/v1/chat/completions", body({"model": MODEL, "messages": []}), 404),
]


def request(method, path, address, data=b""):
    head = f"{method} {path} HTTP/1.1\r\nHost: {address[0]}:{address[1]}\r\n"
    if data:
        head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
    return (head + "\r\n").encode() + data


async def reply(reader):
    """(status, headers, body) of a reply with a Content-Length (every one but a stream)."""
    status = await reader.readline()
    if not status:
        raise RuntimeError("connection closed before the reply")
    headers = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status.split()[1]), headers, await reader.readexactly(int(headers.get("content-length", 0)))


class Client:
    """One client's churn; what it saw goes to `log` (the run's Log)."""

    def __init__(self, index, address, corpus, log, seed):
        self.address, self.corpus, self.log = address, corpus, log
        self.rng = random.Random(f"{seed}-{index}")
        self.cutter = index % 3 == 0
        self.connection = None

    async def run(self, until):
        while time.monotonic() < until:
            self.connection = await asyncio.open_connection(*self.address)
            for _ in range(self.rng.randint(1, 8)):
                if not self.connection or time.monotonic() >= until:
                    break
                try:
                    await asyncio.wait_for(self.one(), TIMEOUT)
                except (OSError, RuntimeError, ValueError, asyncio.IncompleteReadError, TimeoutError) as e:
                    self.log.failure(f"{type(e).__name__}: {e}")
                    self.leave()
            self.leave()
            await asyncio.sleep(self.rng.uniform(0, 1))

    def leave(self):
        if self.connection:
            self.connection[1].close()
        self.connection = None

    async def one(self):
        draw = self.rng.random()
        if draw < 0.125:
            method, path, data, wanted = self.rng.choice(BAD)
            await self.exchange(method, path, data, wanted, "bad")
        elif draw < 0.15:
            data = body({"text": self.prompt(2, 400), "top_k": 3, "layer": 1})
            await self.exchange("POST", "/v1/inspect", data, 200, "other")
        elif draw < 0.16:
            await self.exchange("GET", "/generate?start_text=ROMEO%3A%20&n=3", b"", 200, "other")
        else:
            await self.completion()

    async def exchange(self, method, path, data, wanted, kind):
        """A request whose reply has a Content-Length; a failure unless its status is `wanted`."""
        self.connection[1].write(request(method, path, self.address, data))
        status, headers, _ = await reply(self.connection[0])
        self.log.done(kind)
        if status != wanted:
            self.log.failure(f"{method} {path}: got {status}, wanted {wanted}")
        if headers.get("connection") == "close":
            self.leave()

    def prompt(self, shortest, longest):
        start = self.rng.randrange(len(self.corpus) - longest)
        return self.corpus[start:start + self.rng.randint(shortest, longest)]

    def options(self):
        rng = self.rng
        options = {"model": MODEL, "prompt": self.prompt(6, 1000 if rng.random() < 0.03 else 100),
                   "max_tokens": rng.randint(20, 400), "temperature": rng.choice([0, 0.5, 0.8, 1.2]),
                   "n": rng.choice([1, 1, 1, 2])}
        extras = [("seed", rng.randrange(1000)), ("top_k", 10), ("top_p", 0.9), ("stop", ["\n\n", "."]),
                  ("logprobs", 2), ("echo", True), ("repetition_penalty", 1.3), ("no_repeat_ngram", 4)]
        return dict(options, **dict(e for e in extras if rng.random() < 0.2))

    async def completion(self):
        options, streamed = self.options(), self.rng.random() < 0.7
        data = body(dict(options, stream=streamed))
        if not streamed:
            return await self.exchange("POST", "/v1/completions", data, 200, "other")
        cut_after = self.rng.randint(1, 5) if self.cutter and self.rng.random() < 0.7 else None
        started, events = time.monotonic(), 0
        self.connection[1].write(request("POST", "/v1/completions", self.address, data))
        async for text in texts(self.connection[0]):
            if text and events == 0:
                self.log.first_character(time.monotonic() - started)
            events += 1
            if events == cut_after:
                self.log.done("cut")
                return self.leave()
        self.log.done("stream")


class Log:
    """Counts, first-character times and failures of the interval in progress."""

    def __init__(self):
        self.rows, self.failures = [], []
        self.start_interval()

    def start_interval(self):
        self.counts, self.ttfc, self.failed, self.rss = {}, [], 0, 0

    def done(self, kind):
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def first_character(self, seconds):
        self.ttfc.append(seconds)

    def failure(self, message):
        self.failed += 1
        self.failures.append(message)


def memory(pid):
    """(VmRSS, VmHWM) of process `pid` in MB (Linux /proc)."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return tuple(int(fields[name].split()[0]) / 1024 for name in ("VmRSS", "VmHWM"))


async def watch(pid, log, intervals, seconds):
    """Sample the server's memory each second; close each interval's row."""
    start = time.monotonic()
    for index in range(1, intervals + 1):
        while time.monotonic() < start + index * seconds:
            log.rss = max(log.rss, memory(pid)[0])
            await asyncio.sleep(1)
        ttfc = sorted(log.ttfc)
        log.rows.append({"interval": index, **log.counts, "failed": log.failed, "rss": log.rss,
                         "hwm": memory(pid)[1], "p50": statistics.median(ttfc) if ttfc else None,
                         "p99": ttfc[min(len(ttfc) - 1, int(0.99 * len(ttfc)))] if ttfc else None})
        log.start_interval()


async def soak(server, clients, intervals, seconds, seed):
    address = urlsplit(server.url).hostname, urlsplit(server.url).port
    corpus, log = DEFAULT_CORPUS.read_text(), Log()
    until = time.monotonic() + intervals * seconds
    await asyncio.gather(watch(server.process.pid, log, intervals, seconds),
                         *(Client(i, address, corpus, log, seed).run(until) for i in range(clients)))
    return log


def report(log, seconds, err):
    """The table, the targets' figures and the failures; True when both targets are met."""
    print("| until | streams | cut | whole, inspect, writer | bad | first char p50 | p99 | server RSS peak | VmHWM "
          "| failed |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in log.rows:
        p50, p99 = ("-" if t is None else f"{t * 1000:.0f} ms" for t in (r["p50"], r["p99"]))
        print(f"| {r['interval'] * seconds / 60:.2g} min | {r.get('stream', 0)} | {r.get('cut', 0)} "
              f"| {r.get('other', 0)} | {r.get('bad', 0)} | {p50} | {p99} | {r['rss']:.0f} MB | {r['hwm']:.0f} MB "
              f"| {r['failed']} |")
    first, last = log.rows[0], log.rows[-1]
    growth = (last["rss"] - first["rss"]) / first["rss"]
    print(f"\nresident memory, first interval to last: {first['rss']:.1f} → {last['rss']:.1f} MB ({growth:+.1%}; "
          f"target ≤ +5%); VmHWM {first['hwm']:.1f} → {last['hwm']:.1f} MB; failed requests: {len(log.failures)} "
          f"(target 0); requests the server ended at its time limit: {err.count('ran past the time limit')}")
    for message in sorted(set(log.failures))[:20]:
        print(f"  {log.failures.count(message)} × {message}")
    if "Traceback" in err:
        print(f"\nthe server's log holds a traceback:\n{err[-3000:]}")
    return growth <= 0.05 and not log.failures and "Traceback" not in err


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10, help="length of the run")
    parser.add_argument("--interval", type=float, default=60, help="seconds per report row")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0, help="the clients' choices")
    args = parser.parse_args()
    intervals = max(1, round(args.minutes * 60 / args.interval))
    with tempfile.TemporaryDirectory() as tmp:
        with Server(serving_checkpoint(tmp)) as server:
            load_before = os.getloadavg()[0]
            log = asyncio.run(soak(server, args.clients, intervals, args.interval, args.seed))
            status, err = server.stop()
    print(f"{args.clients} clients for {intervals} × {args.interval:.0f} s; load average (1 min) {load_before:.1f} "
          f"before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} cores; server exit {status}")
    sys.exit(0 if report(log, args.interval, err) else 1)


if __name__ == "__main__":
    main()
