"""One completion of a request (a "choice"): a stream of the model's batch (charrnn's
streams.Stream, through charrnn.api) whose released bytes become text here, on the engine
thread, for the event loop to send.

The batch hands each stream its characters once per block; the stream keeps back what
could still turn into a stop string and releases the rest, which `Choice.release` decodes
(UTF-8, invalid bytes of a byte model as U+FFFD) into `out`, a deque the response side
drains from the event loop (deque appends and pops are thread-safe).
"""

import codecs
from collections import deque

from ..api import Stream


class Choice(Stream):
    """Stream `index` of `job` (a jobs.Job); `text` is what it has released so far, and each
    `out` entry is (offset of its text in `text`, text, [(token, logprob, {token: logprob})])."""

    def __init__(self, index, job, options, rng, max_tokens, end=None, logprobs=None, vocab=None):
        super().__init__(options, rng, max_tokens, end, logprobs)
        self.index, self.job, self.vocab, self.text, self.out = index, job, vocab, "", deque()
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")  # byte mode splits characters

    def release(self, data, entries):
        """Decode released bytes; with logprobs, each character's token is what it adds to the text."""
        flush = self.finish_reason == "length"  # a byte model may end inside a character
        if entries is None:
            text, shown = self.decoder.decode(data, final=flush), ()
        else:
            shown = [(self.decoder.decode(self.vocab.pieces[i]), logp, self._alternatives(top))
                     for i, logp, top in entries]
            text = "".join(token for token, _, _ in shown) + self.decoder.decode(b"", final=flush)
        if text or shown:
            self.out.append((len(self.text), text, shown))
            self.text += text

    def _alternatives(self, top):
        """{token: logprob} of the likeliest characters at a step, or None when not asked for."""
        if top is None:
            return None
        ids, logps = top
        return {self.vocab.strings[i]: float(logp) for i, logp in zip(ids.tolist(), logps)}

    def drain(self):
        """(offset, text, logprob entries) released since the last drain, joined; called from the event loop."""
        parts = [self.out.popleft() for _ in range(len(self.out))]
        if not parts:
            return None
        return parts[0][0], "".join(p[1] for p in parts), [e for p in parts for e in p[2]]
