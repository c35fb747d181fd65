"""make bench-serve: does continuous batching share the model among many streaming clients?

Starts `charrnn serve` on a random-weight 2x256 LSTM over tiny-shakespeare's characters
(speed does not depend on the weights), then runs C concurrent streaming clients over
loopback for a fixed time at each C, every client asking for one completion after another.
After a short warm-up, reports per C: aggregate and per-client characters per second, time
to first character (p50, p99), failed requests, the CPU the server and this load generator
used (% of one core; the server's counts OpenBLAS's waiting thread, which spins), and
characters per second of server CPU: on a shared machine the CPU share a phase gets
varies, and that ratio between counts shows what batching gains whatever the share.
The clients are raw asyncio streams that parse only the SSE data lines (one json.loads per
event), so that the load generator, which shares the cores with the server, takes little
of them. Issue 25's targets: 32 clients >= 10x one client's
aggregate, each >= 30% of the lone client, and zero failures over 60 s at 64 clients.
docs/serving.md holds the measurements.

    python benchmarks/serve_load.py --seconds 15 --long 60
"""

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from serving import Server  # noqa: E402
from workload import serving_checkpoint  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
WARM_UP = 4  # seconds at the largest client count, then alone, before the phases


def post(host, port, body):
    """One HTTP/1.1 request for a keep-alive connection."""
    return (f"POST /v1/completions HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def texts(reader):
    """Yield each SSE event's text of one chunked reply until `[DONE]`, then read the final chunk.
    Each event is one chunk ("data: {...}\\n\\n"); the chunk-size lines are skipped unread."""
    status = await reader.readline()
    if b" 200 " not in status:
        raise RuntimeError(status.decode(errors="replace").strip() or "connection closed")
    while await reader.readline() not in (b"\r\n", b""):  # headers
        pass
    while True:
        line = await reader.readline()
        if not line:
            raise RuntimeError("connection closed mid-stream")
        if line.startswith(b"data: {"):
            event = json.loads(line[6:])
            if "error" in event:
                raise RuntimeError(event["error"]["message"])
            yield "".join(c["text"] for c in event["choices"])
        elif line.startswith(b"data: [DONE]"):
            break
    while await reader.readline() != b"0\r\n":  # the last chunk, then its blank line
        pass
    await reader.readline()


async def client(address, until, request, stats):
    """Stream completions back to back on one connection until `until`; record characters,
    first-character times and failures (a failure reconnects)."""
    connection = None
    while time.monotonic() < until:
        started, first = time.monotonic(), True
        try:
            connection = connection or await asyncio.open_connection(*address)
            connection[1].write(request)
            async for text in texts(connection[0]):
                if text and first:
                    first = False
                    stats["ttfc"].append(time.monotonic() - started)
                stats["chars"] += len(text)
                if time.monotonic() > until:  # the phase is over: count no further
                    break
        except (OSError, RuntimeError, ValueError) as e:
            stats["failures"].append(str(e))
            connection = connection[1].close() if connection else None
    if connection:
        connection[1].close()


def cpu_seconds(pid):
    """User + system CPU seconds of process `pid` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


async def phase(server, clients, seconds, max_tokens):
    address = urlsplit(server.url).hostname, urlsplit(server.url).port
    body = json.dumps({"model": "shakespeare", "prompt": "ROMEO:", "max_tokens": max_tokens, "stream": True,
                       "temperature": 0.8}).encode()
    stats = [{"chars": 0, "ttfc": [], "failures": []} for _ in range(clients)]
    server_cpu, own_cpu, until = cpu_seconds(server.process.pid), time.process_time(), time.monotonic() + seconds
    await asyncio.gather(*(client(address, until, post(*address, body), s) for s in stats))
    per_client = [s["chars"] / seconds for s in stats]
    ttfc = sorted(t for s in stats for t in s["ttfc"])
    return {"clients": clients, "seconds": seconds, "aggregate": sum(per_client), "min_client": min(per_client),
            "ttfc_p50": statistics.median(ttfc), "ttfc_p99": ttfc[min(len(ttfc) - 1, int(0.99 * len(ttfc)))],
            "requests": len(ttfc), "failures": sum(len(s["failures"]) for s in stats),
            "server_cpu": (cpu_seconds(server.process.pid) - server_cpu) / seconds,
            "client_cpu": (time.process_time() - own_cpu) / seconds}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", default="1,8,32,64", help="client counts, one phase each")
    parser.add_argument("--seconds", type=float, default=15, help="length of each phase")
    parser.add_argument("--long", type=float, default=60, help="length of the phase at the largest count")
    parser.add_argument("--max-tokens", type=int, default=400, help="characters per request")
    parser.add_argument("--threads", help="the server's --threads (default: its own default)")
    args = parser.parse_args()
    counts = [int(c) for c in args.clients.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = serving_checkpoint(tmp)
        with Server(checkpoint, *(["--threads", args.threads] if args.threads else [])) as server:
            load_before = os.getloadavg()[0]
            for clients in (max(counts), 1):  # warm-up, not reported: the lone client ran up to 30% slower cold
                asyncio.run(phase(server, clients, WARM_UP, args.max_tokens))
            rows = [asyncio.run(phase(server, c, args.long if c == max(counts) else args.seconds, args.max_tokens))
                    for c in counts]
    print(f"load average (1 min) {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} cores; "
          f"server threads: {args.threads or 'default'}")
    alone = rows[0]["aggregate"]
    print("| clients | seconds | requests | chars/s, all | chars/s, slowest client (x lone) | first char p50 | p99 "
          "| failed | CPU: server, load generator | chars per server CPU-second (x lone) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    alone_per_cpu = alone / rows[0]["server_cpu"]
    for r in rows:
        print(f"| {r['clients']} | {r['seconds']:.0f} | {r['requests']} | {r['aggregate']:,.0f} ({r['aggregate'] / alone:.1f}x) "
              f"| {r['min_client']:,.0f} ({r['min_client'] / alone:.2f}) | {r['ttfc_p50'] * 1000:.0f} ms "
              f"| {r['ttfc_p99'] * 1000:.0f} ms | {r['failures']} "
              f"| {r['server_cpu']:.0%}, {r['client_cpu']:.0%} "
              f"| {r['aggregate'] / r['server_cpu']:,.0f} ({r['aggregate'] / r['server_cpu'] / alone_per_cpu:.1f}x) |")


if __name__ == "__main__":
    main()
