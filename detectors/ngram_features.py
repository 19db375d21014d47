"""Hashed word and byte n-gram features, computed for a whole batch at once in numpy.

Why not scikit-learn's HashingVectorizer: its character analyzer builds every n-gram as a Python
string, which caps it near 1,000 two-kilobyte documents a second; the cheap tier must score every
document of a corpus. Here the batch is one byte array, every substring hash comes from a prefix
polynomial hash (mod 2^64, so the odd multiplier is invertible and a substring's hash does not
depend on where it starts), and a batch costs a few vectorised passes plus one sort.

Features, in two blocks each l2-normalised after sublinear tf (log1p of counts):
- words (maximal runs of ASCII letters/digits or non-ASCII bytes, lower-cased) and word bigrams;
- byte n-grams of the lower-cased UTF-8 text (n in `char_ngrams`; equals character n-grams
  for ASCII, and still discriminates in other scripts).
Hashes are deterministic across runs, processes and machines (no Python `hash`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import scipy.sparse as sp

_P = np.uint64(1099511628211)  # odd: invertible mod 2^64
_P_INV = np.uint64(pow(1099511628211, -1, 2**64))
_MIX = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: spreads hashes into the top bits
_BIGRAM = np.uint64(0xC2B2AE3D27D4EB4F)
_NGRAM_SALT = np.uint64(0x165667B19E3779F9)
CHUNK_CHARS = 64_000


@dataclass(frozen=True)
class HashingParams:
    """Everything that fixes the feature space; stored in the model's `model.json`."""

    bits: int = 20  # each block has 2**bits buckets
    char_ngrams: tuple[int, ...] = (3, 4, 5)
    word_bigrams: bool = True
    max_chars: int = 2000  # only the first max_chars characters are read (speed, and robustness)

    @property
    def n_features(self) -> int:
        return 2 * (1 << self.bits)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["char_ngrams"] = list(self.char_ngrams)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> HashingParams:
        return cls(bits=int(d["bits"]), char_ngrams=tuple(int(n) for n in d["char_ngrams"]),
                   word_bigrams=bool(d["word_bigrams"]), max_chars=int(d["max_chars"]))


def _to_bytes(text: object, max_chars: int) -> bytes:
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    # "replace": lone surrogates (from bad decoding upstream) become '?' instead of raising.
    return text[:max_chars].lower().encode("utf-8", "replace")


def _bucket(h: np.ndarray, bits: int) -> np.ndarray:
    return ((h * _MIX) >> np.uint64(64 - bits)).astype(np.int64)


def _block(rows: np.ndarray, cols: np.ndarray, n_docs: int, bits: int) -> sp.csr_matrix:
    """Counts -> log1p -> row l2 normalisation (empty rows stay zero).

    Duplicates are summed through one flat sort of `row << bits | col` as uint32 (numpy's SIMD
    sort), several times faster than scipy's per-row index sorting; hence `featurize` works in
    chunks of at most 2**(32 - bits) documents.
    """
    key = (rows.astype(np.uint32) << np.uint32(bits)) | cols.astype(np.uint32)
    key.sort()
    first = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
    counts = np.diff(np.append(first, key.size)).astype(np.float32)
    uniq = key[first]
    row_of = (uniq >> np.uint32(bits)).astype(np.int64)
    data = np.log1p(counts)
    norm = np.sqrt(np.bincount(row_of, weights=data.astype(np.float64) ** 2, minlength=n_docs))
    norm[norm == 0] = 1.0
    data /= norm[row_of].astype(np.float32)
    indptr = np.zeros(n_docs + 1, dtype=np.int64)
    np.cumsum(np.bincount(row_of, minlength=n_docs), out=indptr[1:])
    return sp.csr_matrix((data, (uniq & np.uint32((1 << bits) - 1)).astype(np.int32), indptr), shape=(n_docs, 1 << bits))


def _chunks(texts: list[str], params: HashingParams) -> list[tuple[int, int]]:
    """(start, stop) ranges of about CHUNK_CHARS characters: keeps the sort in cache (measured:
    2x faster than one big batch) and bounds the row index to 32 - bits bits."""
    max_docs = 1 << (32 - params.bits)
    out, start, budget = [], 0, 0
    for i, t in enumerate(texts):
        budget += min(len(t) if isinstance(t, str) else 0, params.max_chars) + 1
        if budget >= CHUNK_CHARS or i + 1 - start >= max_docs:
            out.append((start, i + 1))
            start, budget = i + 1, 0
    if start < len(texts) or not out:
        out.append((start, len(texts)))
    return out


def featurize(texts: list[str], params: HashingParams) -> sp.csr_matrix:
    """Sparse (len(texts), params.n_features) float32 matrix: [word block | byte n-gram block].

    Used for training; scoring uses `linear_scores`, which gives the same products faster.
    """
    texts = list(texts)
    parts = []
    for start, stop in _chunks(texts, params):
        n = stop - start
        blocks = [_block(rows, cols, n, params.bits)
                  for rows, cols in _hashes(texts[start:stop], params)]
        parts.append(sp.hstack(blocks, format="csr", dtype=np.float32))
    return parts[0] if len(parts) == 1 else sp.vstack(parts, format="csr")


def linear_scores(texts: list[str], params: HashingParams, weights: np.ndarray) -> np.ndarray:
    """`featurize(texts) @ weights` (up to float rounding), without building the matrix.

    De-duplicating n-grams by sorting dominates `featurize`; here each document's buckets are
    counted with a scratch array instead ("last writer wins" scatter, then a bincount of the
    winners): linear time; measured 1.5-2x faster than `featurize` + product on 2 KB texts.
    """
    texts = list(texts)
    width = 1 << params.bits
    scratch = np.zeros(width, dtype=np.int32)
    out = np.zeros(len(texts), dtype=np.float64)
    for start, stop in _chunks(texts, params):
        n = stop - start
        for offset, (rows, cols) in zip((0, width), _hashes(texts[start:stop], params),
                                        strict=True):
            # group by document: a stable radix sort on small ints, linear time
            order = np.argsort(rows.astype(np.uint16), kind="stable")
            cols = cols[order]
            bounds = np.searchsorted(rows[order], np.arange(n + 1))
            pos = np.arange(int(np.diff(bounds).max(initial=0)), dtype=np.int32)
            w = weights[offset:offset + width]
            for d in range(n):
                c = cols[bounds[d]:bounds[d + 1]]
                if c.size == 0:
                    continue
                scratch[c] = pos[:c.size]
                counts = np.bincount(scratch[c], minlength=c.size)
                winners = np.flatnonzero(counts)
                data = np.log1p(counts[winners].astype(np.float32))
                norm = float(np.sqrt(np.dot(data, data)))
                out[start + d] += float(np.dot(w[c[winners]], data)) / norm
    return out


def _hashes(texts: list[str], params: HashingParams
            ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """(rows, bucket) of every word/bigram and of every byte n-gram of a chunk of texts."""
    n = len(texts)
    encoded = [_to_bytes(t, params.max_chars) for t in texts]
    lens = np.fromiter((len(b) for b in encoded), dtype=np.int64, count=n)
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64))
    if n == 0:
        return empty, empty
    joined = b"\x00".join(encoded) + b"\x00"  # separator: no word spans two documents
    arr = np.frombuffer(joined, dtype=np.uint8)
    total = arr.size
    doc_of = np.repeat(np.arange(n), lens + 1)
    doc_end = np.repeat(np.cumsum(lens + 1) - 1, lens + 1)  # index of each doc's separator

    vals = arr.astype(np.uint64) + np.uint64(1)
    pw = np.full(total, _P, dtype=np.uint64)
    pw[0] = 1
    np.cumprod(pw, out=pw)
    pinv = np.full(total, _P_INV, dtype=np.uint64)
    pinv[0] = 1
    np.cumprod(pinv, out=pinv)
    prefix = np.zeros(total + 1, dtype=np.uint64)
    np.cumsum(vals * pw, out=prefix[1:])

    def sub_hash(start: np.ndarray, stop: np.ndarray) -> np.ndarray:
        return (prefix[stop] - prefix[start]) * pinv[start]

    # Byte n-grams that lie inside one document.
    crow, ccol = [], []
    pos = np.arange(total, dtype=np.int64)
    for k in params.char_ngrams:
        start = pos[: max(total - k, 0)]
        start = start[start + k <= doc_end[start]]
        h = sub_hash(start, start + k) + np.uint64(k) * _NGRAM_SALT
        crow.append(doc_of[start])
        ccol.append(_bucket(h, params.bits))

    # Words: runs of [a-z0-9] or non-ASCII bytes.
    is_word = (arr >= 0x80) | ((arr >= 0x61) & (arr <= 0x7A)) | ((arr >= 0x30) & (arr <= 0x39))
    edge = np.diff(np.concatenate(([False], is_word, [False])).astype(np.int8))
    w_start = np.flatnonzero(edge == 1)
    w_stop = np.flatnonzero(edge == -1)
    wh = sub_hash(w_start, w_stop)
    wrow = [doc_of[w_start]]
    wcol = [_bucket(wh, params.bits)]
    if params.word_bigrams and wh.size > 1:
        same = doc_of[w_start[:-1]] == doc_of[w_start[1:]]
        bh = wh[:-1][same] * _BIGRAM + wh[1:][same]
        wrow.append(doc_of[w_start[:-1]][same])
        wcol.append(_bucket(bh, params.bits))
    return ((np.concatenate(wrow), np.concatenate(wcol)),
            (np.concatenate(crow) if crow else empty[0],
             np.concatenate(ccol) if ccol else empty[1]))
