"""Run the server: the engine thread, uvicorn on a socket bound here (so `--port 0` can say
which port it got before anything listens), and a shutdown that ends open streams.

SIGTERM or Ctrl-C: uvicorn stops accepting and waits up to GRACE seconds for connections,
while the engine, told at once, ends every stream with an error event and `[DONE]` and new
requests get 503. uvicorn then re-raises the signal it caught; the no-op handlers installed
here receive it, so the process exits 0.
"""

import signal
import socket
import sys

import uvicorn

from ..api import CharrnnError
from .app import Service, build_app
from .engine import Engine

GRACE = 5  # seconds


class Server(uvicorn.Server):
    def __init__(self, config, engine):
        super().__init__(config)
        self.engine = engine

    def handle_exit(self, sig, frame):
        self.engine.stop()
        super().handle_exit(sig, frame)


def bind(host, port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on such sockets' connections, and without
    # it Nagle holds each small SSE event until the client's delayed ACK, ~40 ms later
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise CharrnnError(f"cannot listen on {host}:{port}: {e.strerror}") from None
    sock.listen(2048)
    return sock


def run(backend, host, port, api_key, limits, threads=1, announce=lambda: None):
    """Serve `backend` until SIGTERM or Ctrl-C; prints `Listening on http://HOST:PORT` on stderr,
    after `announce()` (called once the address is known to be good). `threads`: BLAS threads for a
    batch of many streams (threads.py)."""
    sock = bind(host, port)
    announce()
    engine = Engine(backend.model, limits.max_streams, limits.max_waiting, threads)
    service = Service(backend, engine, limits, api_key, loopback=host in ("127.0.0.1", "localhost", "::1"))
    config = uvicorn.Config(build_app(service), log_level="warning", access_log=False, lifespan="off",
                            timeout_graceful_shutdown=GRACE)
    engine.start()
    shown = f"[{host}]" if ":" in host else host
    print(f"Listening on http://{shown}:{sock.getsockname()[1]}", file=sys.stderr, flush=True)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)  # lands the signal uvicorn re-raises after its graceful stop
    Server(config, engine).run(sockets=[sock])
    engine.stop()
    engine.join(GRACE)
