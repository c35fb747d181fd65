"""Does a long prompt hold up the clients streaming beside it? (docs/serving.md, "Long prompts")

Starts `charrnn serve` on the same random-weight 2x256 LSTM as benchmarks/serve_load.py, runs
--clients streaming clients (400-character completions back to back), then sends one
non-streaming request whose prompt is --prompt characters long, and reports the longest gap
between two events of any streaming client before that request and while it ran.

    python benchmarks/serve_long_prompt.py --clients 8 --prompt 8000
"""

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from serving import Server  # noqa: E402
from workload import serving_checkpoint  # noqa: E402

BODY = {"model": "shakespeare", "max_tokens": 400, "stream": True, "temperature": 0.8}


def stream(url, stop, events):
    """Stream completions back to back until `stop`; append (time, gap since the last event)."""
    with httpx.Client(timeout=60) as client:
        while not stop.is_set():
            with client.stream("POST", url + "/v1/completions", json=dict(BODY, prompt="ROMEO:")) as reply:
                last = time.monotonic()
                for line in reply.iter_lines():
                    if line.startswith("data: {"):
                        now = time.monotonic()
                        events.append((now, now - last))
                        last = now


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=8, help="streaming clients")
    parser.add_argument("--prompt", type=int, default=8000, help="characters in the long prompt")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Server(serving_checkpoint(tmp)) as server:
        stop, events = threading.Event(), []
        clients = [threading.Thread(target=stream, args=(server.url, stop, events)) for _ in range(args.clients)]
        for client in clients:
            client.start()
        time.sleep(3)
        prompt = ("ROMEO: what light through yonder window breaks? " * (args.prompt // 40 + 1))[:args.prompt]
        started = time.monotonic()
        reply = httpx.post(server.url + "/v1/completions", timeout=120,
                           json={"model": "shakespeare", "prompt": prompt, "max_tokens": 20})
        ended = time.monotonic()
        time.sleep(1)
        stop.set()
        for client in clients:
            client.join()
    reply.raise_for_status()
    before = max(gap for when, gap in events if started - 2 < when < started)
    during = max(gap for when, gap in events if started <= when <= ended + 0.05)
    print(f"{args.prompt:,}-character prompt beside {args.clients} streaming clients: answered in "
          f"{ended - started:.2f} s; longest gap between a client's events {before * 1000:.0f} ms in the 2 s "
          f"before, {during * 1000:.0f} ms while it ran")


if __name__ == "__main__":
    main()
