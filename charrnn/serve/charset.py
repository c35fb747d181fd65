"""The characters a model's prompts may hold, as a JSON Schema pattern for the API schema:
each character that validate.check_prompt accepts on its own.

A text vocab reads a prompt NFC-normalised (and lowercased, for a lowercase vocab), so a
character outside the vocab can still be accepted: U+212A KELVIN SIGN reads as "K". The
pattern holds those too. It cannot say that a sequence normalises into the vocab (e + U+0301
is é), so for a vocab with precomposed letters the server accepts a little more than the
pattern. A byte vocab takes any character whose UTF-8 bytes it holds.
"""

import functools
import unicodedata

SURROGATES = range(0xD800, 0xE000)
REGEX_SPECIAL = set("\\]^-[")


@functools.lru_cache(maxsize=8)  # once per server: scanning Unicode takes a few tenths of a second
def prompt_pattern(backend):
    """`^[…]*$` over the characters a prompt may hold, in runs ("A-Z")."""
    allowed = backend.allowed
    accepted = [c for c in _candidates(backend)
                if c not in SURROGATES and set(backend.symbols(chr(c))) <= allowed]
    return f"^[{''.join(_runs(sorted(set(accepted))))}]*$"


def _candidates(backend):
    """Code points worth asking about: the vocab's own, and those normalising or lowercasing to others."""
    vocab = backend.vocab
    if vocab.byte_mode:
        return range(0x110000) if any(b >= 0xC2 for b in backend.allowed) else range(0x80)  # 0xC2: a lead byte
    changing = _decomposable() + (_cased() if vocab.lowercase else [])
    return [*backend.allowed, *changing]


@functools.cache
def _decomposable():
    """Code points with a canonical decomposition (NFC may turn them into others)."""
    return [c for c in range(0x110000)
            if c not in SURROGATES and unicodedata.decomposition(chr(c))[:1] not in ("", "<")]


@functools.cache
def _cased():
    return [c for c in range(0x110000) if c not in SURROGATES and chr(c).lower() != chr(c)]


def _runs(codes):
    """Sorted code points as a character class's body: runs of three or more as ranges."""
    start = 0
    while start < len(codes):
        end = start
        while end + 1 < len(codes) and codes[end + 1] == codes[end] + 1:
            end += 1
        if end - start >= 2:
            yield f"{_escaped(codes[start])}-{_escaped(codes[end])}"
        else:
            yield from map(_escaped, codes[start:end + 1])
        start = end + 1


def _escaped(code):
    """A character as ECMA-262 and Python's re both read it inside a class."""
    char = chr(code)
    if code < 0x20 or 0x7F <= code < 0xA0:
        return f"\\u{code:04x}"
    return "\\" + char if char in REGEX_SPECIAL else char
