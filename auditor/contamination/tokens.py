"""Normalised word tokens and their 64-bit n-gram hashes, computed with numpy over whole batches.

Why numpy and not `re.findall` plus a hash per token: the detector sees every document of the
corpus, so per-token Python work is the cost to avoid. A batch of texts is joined, turned into an
array of code points, lower-cased and split into words by lookup tables, and every token and
n-gram hash is a handful of vector operations (polynomial hashes from prefix sums, mod 2**64).

Normalisation, the same for benchmark items and documents:
- lower case (one-to-one code point mapping, so offsets stay those of the original text);
- the characters in `IGNORED` are deleted before splitting (apostrophes, quotes, brackets,
  `,;:!?`): a leak with them stripped (`f(x)` -> `fx`, `3,000` -> `3000`, `don't` -> `dont`)
  still yields the same tokens;
- words are runs of letters, digits, marks and `_`; everything else (spaces, newlines, other
  punctuation) separates words, so whitespace changes do not matter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Characters deleted before tokenising (the punctuation that leaks most often lose or change).
IGNORED = ",;:!?\"'()\u2018\u2019\u201c\u201d\u00ab\u00bb"
#: Code points above this are treated as separators (emoji and rare scripts); the tables stay small.
_TABLE_SIZE = 0x30000
#: Odd 64-bit multipliers of the polynomial hashes (any odd constants; fixed forever, since
#: stored indexes depend on them).
_CHAR_BASE = np.uint64(0x9E3779B97F4A7C15)
_TOKEN_BASE = np.uint64(0xC2B2AE3D27D4EB4F)
_MASK64 = (1 << 64) - 1

#: Code of deleted characters in the normalisation table (0 is a separator, else the lower-cased
#: code point of a word character).
_DELETED = np.uint32(0xFFFFFFFF)
_table: np.ndarray | None = None
_powers: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _normalisation_table() -> np.ndarray:
    """Code point -> lower-cased code point (word characters), 0 (separator) or `_DELETED`.
    One table, so normalising a batch is one gather."""
    global _table
    if _table is None:
        chars = [chr(c) for c in range(_TABLE_SIZE)]
        table = np.array([(ord(lo) if len(lo := ch.lower()) == 1 else ord(ch))
                          if (ch.isalnum() or ch == "_" or 0x300 <= ord(ch) < 0x370) else 0
                          for ch in chars], dtype=np.uint32)
        table[[ord(c) for c in IGNORED]] = _DELETED
        table[-1] = 0  # code points beyond the table are clipped to this one: separators
        _table = table
    return _table


def _inverse(a: int) -> int:
    return pow(a, -1, 1 << 64)


def _power_arrays(base: np.uint64, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(base**i, base**-i) mod 2**64 for i < n, cached and grown by doubling."""
    key = int(base)
    have = _powers.get(key)
    if have is None or len(have[0]) < n:
        size = max(1 << 16, 1 << (max(n, 1) - 1).bit_length())
        with np.errstate(over="ignore"):
            fwd = np.full(size, base, dtype=np.uint64)
            fwd[0] = 1
            fwd = np.cumprod(fwd, dtype=np.uint64)
            inv = np.full(size, np.uint64(_inverse(key)), dtype=np.uint64)
            inv[0] = 1
            inv = np.cumprod(inv, dtype=np.uint64)
        have = _powers[key] = (fwd, inv)
    return have


def _segment_hash(values: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                  base: np.uint64) -> np.ndarray:
    """Polynomial hash sum(v[j] * base**(end-1-j)) of each segment [start, end), vectorised:
    prefix sums of v[j] * base**-j, then one multiplication per segment."""
    fwd, inv = _power_arrays(base, len(values) + 1)
    with np.errstate(over="ignore"):
        prefix = np.empty(len(values) + 1, dtype=np.uint64)
        prefix[0] = 0
        np.multiply(values, inv[:len(values)], out=prefix[1:], dtype=np.uint64)
        np.cumsum(prefix[1:], out=prefix[1:])
        return (prefix[ends] - prefix[starts]) * fwd[ends - 1]


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads token hashes so n-gram hashes of similar words differ."""
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(30))
        x = x * np.uint64(0xBF58476D1CE4E5B9)
        x = x ^ (x >> np.uint64(27))
        x = x * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


@dataclass(frozen=True)
class TokenBatch:
    """Tokens of a batch of texts. `hashes[i]` is token i's 64-bit hash; `doc_starts[d]` and
    `doc_starts[d+1]` bound document d's tokens. Character offsets are computed only for the
    tokens asked about (`char_span`), since only matches need them."""

    hashes: np.ndarray
    doc_starts: np.ndarray
    _pos: np.ndarray  # original position (in the joined batch) of each kept character
    _starts: np.ndarray  # first kept character of each token
    _ends: np.ndarray  # one past its last kept character
    _text_offsets: np.ndarray  # where each text starts in the joined batch

    def n_tokens(self, doc: int) -> int:
        return int(self.doc_starts[doc + 1] - self.doc_starts[doc])

    def char_span(self, doc: int, first: int, last: int) -> tuple[int, int]:
        """Characters of document `doc` from token `first`'s start to token `last`'s end."""
        base = int(self._text_offsets[doc])
        return (int(self._pos[self._starts[first]]) - base,
                int(self._pos[self._ends[last] - 1]) + 1 - base)


def tokenize(texts: list[str]) -> TokenBatch:
    """Normalised word tokens of every text (see the module docstring)."""
    table = _normalisation_table()
    joined = "\n".join(texts)
    cp = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    text_offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    if texts:
        np.cumsum([len(t) + 1 for t in texts], out=text_offsets[1:])
    norm = table[np.minimum(cp, _TABLE_SIZE - 1)]
    pos = np.flatnonzero(norm != _DELETED)
    cp = norm[pos]
    edges = np.diff((cp != 0).view(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    hashes = _mix(_segment_hash(cp, starts, ends, _CHAR_BASE)
                  ^ ends.astype(np.uint64) - starts.astype(np.uint64))
    # a text's first token is the first one starting at or after the text's first kept char
    doc_starts = np.searchsorted(starts, np.searchsorted(pos, text_offsets[:-1]))
    doc_starts = np.append(doc_starts, len(starts)).astype(np.int64)
    return TokenBatch(hashes=hashes, doc_starts=doc_starts, _pos=pos, _starts=starts,
                      _ends=ends, _text_offsets=text_offsets)


class NgramHasher:
    """N-gram hashes of one token batch for any n, sharing one prefix sum (the matcher asks for
    several n: the index's n and the lengths of short items)."""

    def __init__(self, tokens: TokenBatch):
        m = len(tokens.hashes)
        self.m = m
        fwd, inv = _power_arrays(_TOKEN_BASE, m + 1)
        self._fwd = fwd
        with np.errstate(over="ignore"):
            self._prefix = np.zeros(m + 1, dtype=np.uint64)
            np.cumsum(tokens.hashes * inv[:m], out=self._prefix[1:])
        self._doc_end = np.repeat(tokens.doc_starts[1:], np.diff(tokens.doc_starts))

    def hashes(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(hash, first token index) of every n-gram that lies inside one document."""
        if self.m < n:
            return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
        k = self.m - n + 1
        with np.errstate(over="ignore"):
            h = (self._prefix[n:] - self._prefix[:k]) * self._fwd[n - 1:n - 1 + k]
        valid = np.arange(n, self.m + 1) <= self._doc_end[:k]
        first = np.flatnonzero(valid)
        return h[first], first


    def hash_at(self, start: int, n: int) -> int:
        """The hash of the n-gram starting at token `start` (which must fit in the batch)."""
        with np.errstate(over="ignore"):
            return int((self._prefix[start + n] - self._prefix[start]) * self._fwd[start + n - 1])


def ngram_hashes(tokens: TokenBatch, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(hash, first token index) of every n-gram that lies inside one document of the batch."""
    return NgramHasher(tokens).hashes(n)


def whole_hashes(tokens: TokenBatch) -> np.ndarray:
    """The hash `ngram_hashes` gives to each text's whole token sequence (0 for a text
    without tokens): one vectorised pass, for keying items by their normalised text."""
    starts, ends = tokens.doc_starts[:-1], tokens.doc_starts[1:]
    out = np.zeros(len(starts), dtype=np.uint64)
    some = ends > starts
    if some.any():
        out[some] = _segment_hash(tokens.hashes, starts[some], ends[some], _TOKEN_BASE)
    return out


def segment_ngram_hash(token_hashes: np.ndarray) -> int:
    """The hash `ngram_hashes` gives to an n-gram made of exactly these tokens."""
    m = len(token_hashes)
    return int(_segment_hash(token_hashes, np.array([0]), np.array([m]), _TOKEN_BASE)[0])
