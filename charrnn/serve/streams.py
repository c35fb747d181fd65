"""One generated text (a "choice") and the rules that end it, as the engine thread drives them.

The engine calls `Choice.take_block` once per block of steps with the symbols drawn; the
choice decodes them, applies its end rule and releases text that can no longer turn into a
stop string to `out`, a deque the response side drains from the event loop (deque appends
and pops are thread-safe). Plain text (no end rule, no logprobs) is taken a block at a time;
an end rule or logprobs go symbol by symbol (`take`), so where a text ends does not depend on
where a block did.
"""

import codecs
import re
from collections import deque
from dataclasses import InitVar, dataclass, field

import numpy as np

from ..sample import SampleOptions
from .block import Uniforms


class StopStrings:
    """End before the first occurrence of any of `stops`; hold back a tail that could start one."""

    def __init__(self, stops):
        self.stops = tuple(stops)

    def cut(self, text):
        found = [i for i in (text.find(s) for s in self.stops) if i >= 0]
        return min(found) if found else -1

    def hold(self, text):
        """How many trailing characters of `text` are a proper prefix of some stop string."""
        for k in range(min(len(text), max(map(len, self.stops), default=1) - 1), 0, -1):
            tail = text[-k:]
            if any(s.startswith(tail) for s in self.stops):
                return k
        return 0


class SentenceEnd:
    """torch-rnn-server's rule for rnn-writer: end after `.`, `!` or `?` once the text holds
    more than `min_words` words. It keeps no state beyond the text, so nothing is held back."""

    END = re.compile(r"[.!?]")

    def __init__(self, min_words=3):
        self.min_words = min_words

    def cut(self, text):
        for match in self.END.finditer(text):
            if len(text[:match.end()].split()) > self.min_words:
                return match.end()
        return -1

    def hold(self, text):
        return len(text)  # released only when the choice ends: the rule looks at the whole text


@dataclass
class Choice:
    """One stream of one request: its sampling options, generator and end rule, and its text."""

    index: int
    job: object  # the Job it belongs to
    options: SampleOptions  # greedy, or temperature/top-k/top-p for sample.distribution
    rng: InitVar[np.random.Generator]  # None when greedy; kept as its uniforms, drawn a block ahead
    max_tokens: int
    rule: object = None  # StopStrings or SentenceEnd
    logprobs: int = None  # top alternatives to report per character, None = no logprobs
    pieces: list = None  # each vocab id's bytes
    tokens: int = 0
    finish_reason: str = None
    text: str = ""  # released so far
    out: deque = field(default_factory=deque)  # released text (and logprob entries) not yet sent
    pending: str = ""
    entries: list = field(default_factory=list)  # (token, logprob, top) of characters not yet released

    def __post_init__(self, rng):
        self.uniforms = None if rng is None else Uniforms(rng)  # block.Uniforms: what the engine draws from
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")  # byte mode splits characters

    @property
    def done(self):
        return self.finish_reason is not None

    def take_block(self, symbols, logps, every_logp):
        """Add a block's symbols (L,), up to this choice's end: their log-probabilities (L,) and,
        when alternatives are asked for, every symbol's log-probability at each step (L, V)."""
        if self.rule is None and self.logprobs is None:  # the common case, in one piece
            symbols = symbols[:self.max_tokens - self.tokens]
            self.tokens += len(symbols)
            ending = self.tokens >= self.max_tokens
            text = self.decoder.decode(b"".join([self.pieces[s] for s in symbols]), final=ending)
            if text:
                self.out.append((len(self.text), text, ()))
                self.text += text
            if ending:
                self.finish("length")
            return
        for k, symbol in enumerate(symbols):
            if self.done:
                break
            self.take(symbol, logps[k], None if every_logp is None else self.alternatives(every_logp[k]))

    def alternatives(self, row_logp):
        """{token: logprob} of the `logprobs` likeliest symbols, or None when not asked for."""
        if not self.logprobs:
            return None
        best = np.argsort(-row_logp, kind="stable")[:self.logprobs]
        return {self.pieces[i].decode("utf-8", "replace"): float(row_logp[i]) for i in best}

    def take(self, symbol, logp, top):
        """Add one generated symbol (its log-probability and top alternatives when asked for)."""
        self.tokens += 1
        piece = self.decoder.decode(self.pieces[symbol])
        if self.logprobs is not None:
            self.entries.append((piece, logp, top))
        self.pending += piece
        cut = self.rule.cut(self.pending) if self.rule else -1
        if cut >= 0:
            self._release(cut)
            self.finish("stop")
        elif self.tokens >= self.max_tokens:
            self.pending += self.decoder.decode(b"", final=True)
            self._release(len(self.pending))
            self.finish("length")
        else:
            self._release(len(self.pending) - (self.rule.hold(self.pending) if self.rule else 0))

    def _release(self, upto):
        text, self.pending = self.pending[:upto], self.pending[upto:]
        entries = []
        while self.entries and upto > 0:  # the entries whose characters are released
            entry = self.entries.pop(0)
            upto -= len(entry[0])
            entries.append(entry)
        if text or entries:
            self.out.append((len(self.text), text, entries))
            self.text += text

    def finish(self, reason):
        if not self.done:
            self.finish_reason = reason

    def drain(self):
        """(offset, text, logprob entries) released since the last drain, joined; called from the event loop."""
        parts = [self.out.popleft() for _ in range(len(self.out))]
        if not parts:
            return None
        return parts[0][0], "".join(p[1] for p in parts), [e for p in parts for e in p[2]]
