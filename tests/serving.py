"""A `charrnn serve` in a subprocess for the serve tests, on a checkpoint built by hand.

    with Server(checkpoint, "--max-streams", "2") as server:
        httpx.get(server.url + "/health")

The model's weights are random: the tests check the plumbing (what reaches the client, in
what shape, in what order), and compare the server's text with `charrnn sample`'s.
"""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np

from charrnn.config import make_config
from charrnn.model import init_params
from charrnn.vocab import Vocab
from conftest import VARIANTS
from planted import save_model

ALPHABET = "\n !&',-./:;<>?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
STARTUP = 60  # seconds: a cold numba cache compiles the kernels first


def make_checkpoint(path, dtype="float32", hidden_size=32, num_layers=2, seed=0, alphabet=ALPHABET, likely="",
                    cell=None):
    """A random-weight LSTM (or the `cell` a conftest.VARIANTS name gives) over `alphabet`, saved at
    `path`; its head is scaled up so the text is varied, and each character of `likely` gets a head
    bias of +6: after anything, one such character of 66 has p ≈ e⁶ / (e⁶ + 65) ≈ 0.86 and every
    other character ≈ 0.002."""
    config = make_config({"cell": "lstm", "hidden_size": hidden_size, "num_layers": num_layers, "dtype": dtype,
                          "batch_size": 4, "seq_length": 16, "ema_decay": 0.0,  # no average: the model is `params`
                          **VARIANTS[cell or "lstm"]})
    vocab = Vocab(sorted({ord(c) for c in alphabet}))
    params = init_params(config, vocab.size, np.random.default_rng(seed))
    params["head.W"] *= 4
    params["head.b"][[vocab.symbols.index(ord(c)) for c in likely]] += 6
    return save_model(path, config, vocab, params)


def joined(text):
    """The text of a streamed completion's server-sent events (`text`: the whole body), ending in [DONE]."""
    events = [line[6:] for line in text.split("\n\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    return "".join(c["text"] for e in events[:-1] for c in json.loads(e)["choices"])


class Server:
    """`python -m charrnn serve --port 0 ...` until the `with` block ends (then SIGTERM). Its
    stderr is read all along (a long fuzz or soak run must not fill the pipe and stall it)."""

    def __init__(self, checkpoint, *flags):
        self.args = [sys.executable, "-m", "charrnn", "serve", "--checkpoint", str(checkpoint), "--port", "0", *flags]

    def __enter__(self):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
        self.process = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                        env=env)
        deadline, lines = time.monotonic() + STARTUP, []
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            lines.append(line)
            match = re.match(r"Listening on (http://\S+)", line)
            if match:
                self.url, self.log = match.group(1), []
                self.reader = threading.Thread(target=lambda: self.log.extend(self.process.stderr), daemon=True)
                self.reader.start()
                return self
            if not line and self.process.poll() is not None:
                break
        self.process.kill()
        raise RuntimeError(f"the server did not start: {''.join(lines)}")

    def stop(self, timeout=15):
        """SIGTERM; returns (exit status, stderr after the Listening line)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.reader.join()
        return self.process.returncode, "".join(self.log)

    def __exit__(self, *exc):
        self.stop()
