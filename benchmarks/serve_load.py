"""make bench-serve: does continuous batching share the model among many streaming clients?

Starts `charrnn serve` on a random-weight 2x256 LSTM over tiny-shakespeare's characters
(speed does not depend on the weights), then runs C concurrent streaming clients over
loopback for a fixed time at each C, every client asking for one completion after another.
Reports per C: aggregate and per-client characters per second, time to first character
(p50, p99) and failed requests. Issue 25's targets: 32 clients >= 10x one client's
aggregate, each >= 30% of the lone client, and zero failures over 60 s at 64 clients.
docs/serving.md holds the measurements.

    python benchmarks/serve_load.py --seconds 15 --long 60
"""

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from serving import Server, make_checkpoint  # noqa: E402

SHAKESPEARE = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "tiny-shakespeare.txt"


async def client(url, model, until, max_tokens, stats):
    """Stream completions back to back until `until`; record characters, first-character times, failures."""
    async with httpx.AsyncClient(timeout=60) as http:
        while time.monotonic() < until:
            started, first = time.monotonic(), None
            body = {"model": model, "prompt": "ROMEO:", "max_tokens": max_tokens, "stream": True, "temperature": 0.8}
            try:
                async with http.stream("POST", url + "/v1/completions", json=body) as reply:
                    if reply.status_code != 200:
                        raise RuntimeError(f"status {reply.status_code}")
                    async for line in reply.aiter_lines():
                        if not line.startswith("data: {"):
                            continue
                        event = json.loads(line[6:])
                        if "error" in event:
                            raise RuntimeError(event["error"]["message"])
                        text = "".join(c["text"] for c in event["choices"])
                        if text and first is None:
                            first = time.monotonic() - started
                            stats["ttfc"].append(first)
                        stats["chars"] += len(text)
                        if time.monotonic() > until:  # the phase is over: count no further
                            break
            except (httpx.HTTPError, RuntimeError) as e:
                stats["failures"].append(str(e))


async def phase(url, model, clients, seconds, max_tokens):
    stats = [{"chars": 0, "ttfc": [], "failures": []} for _ in range(clients)]
    until = time.monotonic() + seconds
    await asyncio.gather(*(client(url, model, until, max_tokens, s) for s in stats))
    per_client = [s["chars"] / seconds for s in stats]
    ttfc = sorted(t for s in stats for t in s["ttfc"])
    return {"clients": clients, "seconds": seconds, "aggregate": sum(per_client), "min_client": min(per_client),
            "ttfc_p50": statistics.median(ttfc), "ttfc_p99": ttfc[min(len(ttfc) - 1, int(0.99 * len(ttfc)))],
            "requests": len(ttfc), "failures": sum(len(s["failures"]) for s in stats)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", default="1,8,32,64", help="client counts, one phase each")
    parser.add_argument("--seconds", type=float, default=15, help="length of each phase")
    parser.add_argument("--long", type=float, default=60, help="length of the phase at the largest count")
    parser.add_argument("--max-tokens", type=int, default=400, help="characters per request")
    args = parser.parse_args()
    counts = [int(c) for c in args.clients.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = make_checkpoint(Path(tmp) / "shakespeare.npz", hidden_size=256, num_layers=2,
                                     alphabet=SHAKESPEARE.read_text())
        with Server(checkpoint) as server:
            rows = [asyncio.run(phase(server.url, "shakespeare", c, args.long if c == max(counts) else args.seconds,
                                      args.max_tokens)) for c in counts]
    alone = rows[0]["aggregate"]
    print("| clients | seconds | requests | chars/s, all | chars/s, slowest client (x lone) | first char p50 | p99 | failed |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['clients']} | {r['seconds']:.0f} | {r['requests']} | {r['aggregate']:,.0f} ({r['aggregate'] / alone:.1f}x) "
              f"| {r['min_client']:,.0f} ({r['min_client'] / alone:.2f}) | {r['ttfc_p50'] * 1000:.0f} ms "
              f"| {r['ttfc_p99'] * 1000:.0f} ms | {r['failures']} |")


if __name__ == "__main__":
    main()
