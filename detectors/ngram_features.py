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

Two implementations of the same features: `featurize` (numpy, builds the sparse matrix; what
training uses) and `LinearScorer` (what scoring uses: a numba kernel that never builds the
matrix, or a numpy fallback where numba is missing). Tests check that they agree.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from auditor.jit import compiled

if TYPE_CHECKING:
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
    normalise: bool = False  # digits -> 0, typographic quotes/dashes -> ASCII, whitespace runs -> " "

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
                   word_bigrams=bool(d["word_bigrams"]), max_chars=int(d["max_chars"]),
                   normalise=bool(d.get("normalise", False)))


#: Typographic characters mapped to ASCII by `normalise`: which quote or dash a page uses says
#: more about its editor or site than about who wrote it (measured: it moved held-out scores).
_TYPOGRAPHY = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
                             "\u2013": "-", "\u2014": "-", "\u2026": "...", "\u00a0": " "})
_DIGITS = re.compile(r"[0-9]")
_SPACES = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    """What the classifier reads when `HashingParams.normalise` is set: digits as 0, ASCII
    quotes and dashes, single spaces. Numbers, typography and layout (line breaks of a web page
    or a data set's formatting) vary by source, not by author, and do not transfer."""
    return _SPACES.sub(" ", _DIGITS.sub("0", text.translate(_TYPOGRAPHY))).strip()


def _to_bytes(text: object, max_chars: int, normalise: bool = False) -> bytes:
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    if normalise:
        return normalise_text(text[:max_chars + max_chars // 4])[:max_chars].lower().encode(
            "utf-8", "replace")
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
    import scipy.sparse as sp  # here, not at module level: scoring never needs it

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
    import scipy.sparse as sp

    texts = list(texts)
    parts = []
    for start, stop in _chunks(texts, params):
        n = stop - start
        blocks = [_block(rows, cols, n, params.bits)
                  for rows, cols in _hashes(texts[start:stop], params)]
        parts.append(sp.hstack(blocks, format="csr", dtype=np.float32))
    return parts[0] if len(parts) == 1 else sp.vstack(parts, format="csr")


class LinearScorer:
    """`featurize(texts) @ weights` (up to float rounding) for one weight vector, without
    building the matrix: what `NgramClassifier.score` runs on every document of a scan.

    `engine`: "numba" runs one compiled pass per document (hash, count and dot product in a
    scratch table: no per-n-gram Python or numpy object); "numpy" is the vectorised fallback
    for machines without numba (several times slower, see reports/detectors.md); "auto" takes
    numba when it imports. Both compute the features of `featurize`, which tests check.
    The numba engine keeps the weights in a compact form built once here, and its scratch
    space per call: `scores` may be called from several threads at once.
    """

    def __init__(self, params: HashingParams, weights: np.ndarray, engine: str = "auto") -> None:
        if engine not in ("auto", "numba", "numpy"):
            raise ValueError(f"linear scoring: engine must be auto, numba or numpy, got {engine!r}")
        weights = np.asarray(weights, dtype=np.float32).ravel()
        if weights.size != params.n_features:
            raise ValueError(f"linear scoring: {weights.size} weights for {params.n_features} "
                             "features; the weights do not match the hashing parameters")
        self.params = params
        self.weights = weights
        self._kernel = _numba_kernel() if engine != "numpy" else None
        if self._kernel is None and engine == "numba":
            raise ImportError("linear scoring: engine='numba' needs numba (pip install numba)")
        self.engine = "numba" if self._kernel is not None else "numpy"
        self._ngrams = np.asarray(sorted(set(params.char_ngrams)), dtype=np.int64)
        self._mask, self._rank, self._values = _compact_weights(weights)

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """One float per text (no intercept)."""
        if self._kernel is None:
            return _linear_scores_numpy(list(texts), self.params, self.weights)
        encoded = [_to_bytes(t, self.params.max_chars, self.params.normalise) for t in texts]
        out = np.zeros(len(encoded), dtype=np.float64)
        if not encoded:
            return out
        ends = np.cumsum(np.fromiter((len(b) for b in encoded), dtype=np.int64,
                                     count=len(encoded)))
        arr = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        self._kernel(arr, ends, self._ngrams, self.params.bits, self.params.word_bigrams,
                     self._mask, self._rank, self._values, out)
        return out


def _compact_weights(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bitmap of non-zero weights as uint64 words, rank of each word's first bit, non-zero
    values in index order): weight k is values[rank[k // 64] + popcount(bits of word k // 64
    below k % 64)] when its bit is set, else 0."""
    nz = np.flatnonzero(weights)
    n_words = (weights.size + 63) // 64
    bitmap = np.zeros(n_words * 64, dtype=bool)
    bitmap[nz] = True
    mask = np.packbits(bitmap, bitorder="little").view(np.uint64).copy()
    per_word = np.bincount(nz >> 6, minlength=n_words)
    rank = np.zeros(n_words, dtype=np.int32)
    np.cumsum(per_word[:-1], out=rank[1:])
    return mask, rank, weights[nz].astype(np.float32)


def linear_scores(texts: Sequence[str], params: HashingParams, weights: np.ndarray,
                  engine: str = "auto") -> np.ndarray:
    """`featurize(texts) @ weights` (up to float rounding); see `LinearScorer`, which callers
    scoring many batches with the same weights should keep."""
    return LinearScorer(params, weights, engine).scores(texts)


def engine_name() -> str:
    """The engine `linear_scores(engine="auto")` uses here (for reports)."""
    return "numba" if _numba_kernel() is not None else "numpy"


def _numba_kernel():
    """`_score_docs` compiled (`auditor.jit.compiled`), or None without numba."""
    return compiled(_score_docs)


def _score_docs(arr, ends, ngrams, bits, word_bigrams, mask, rank, values, out
                 ):  # pragma: no cover - compiled by numba
    """For each document `arr[ends[d-1]:ends[d]]`: the hashes of `_hashes` (same constants, same
    mod-2^64 polynomial hash, so the same buckets), counted per block; then the sum of
    weight * log1p(count) over the l2 norm of the log1p counts, added to out[d].

    Memory, not arithmetic, sets the speed (measured): every distinct n-gram is a random access.
    So counts go to a small open-addressing table sized for one document (it stays in the
    core's cache) rather than a 2**bits array, and weights are read from a compact form (see
    `_compact_weights`: a bitmap of the non-zero buckets, each word's rank, the non-zero values)
    of about 1.6 MB for the shipped model instead of the dense 8 MB vector.
    """
    width = 1 << bits
    shift = np.uint64(64 - bits)
    p = np.uint64(1099511628211)
    mix = np.uint64(0x9E3779B97F4A7C15)
    bigram = np.uint64(0xC2B2AE3D27D4EB4F)
    salt = np.uint64(0x165667B19E3779F9)
    kmax = ngrams[-1]
    longest = 0
    start = 0
    for d in range(ends.size):
        longest = max(longest, ends[d] - start)
        start = ends[d]
    most = longest * max(ngrams.size, 2) + 1  # items of one block of one document, at most
    size = 16
    while size < 2 * most:
        size *= 2
    slot_mask = size - 1
    table = np.zeros(size, dtype=np.int64)  # (bucket + 1) << 32 | count; 0 = empty
    touched = np.empty(most, dtype=np.int64)
    log1p = np.log1p(np.arange(most + 1).astype(np.float64))
    start = 0
    for d in range(ends.size):
        stop = ends[d]
        for block in range(2):
            nt = 0
            if block == 0:  # words (runs of [a-z0-9] or non-ASCII bytes) and word bigrams
                prev = np.uint64(0)
                have_prev = False
                i = start
                while i < stop:
                    b = arr[i]
                    if not (b >= 0x80 or (b >= 0x61 and b <= 0x7A) or (b >= 0x30 and b <= 0x39)):
                        i += 1
                        continue
                    h = np.uint64(0)
                    pw = np.uint64(1)
                    while i < stop:
                        b = arr[i]
                        if not (b >= 0x80 or (b >= 0x61 and b <= 0x7A)
                                or (b >= 0x30 and b <= 0x39)):
                            break
                        h += (np.uint64(b) + np.uint64(1)) * pw
                        pw *= p
                        i += 1
                    for g in range(2):
                        if g == 0:
                            k = np.int64((h * mix) >> shift)
                        elif word_bigrams and have_prev:
                            k = np.int64(((prev * bigram + h) * mix) >> shift)
                        else:
                            break
                        tag = (k + 1) << 32
                        s = k & slot_mask
                        while table[s] != 0 and (table[s] >> 32) != k + 1:
                            s = (s + 1) & slot_mask
                        if table[s] == 0:
                            table[s] = tag
                            touched[nt] = s
                            nt += 1
                        table[s] += 1
                    prev = h
                    have_prev = True
            else:  # byte n-grams inside the document
                for i in range(start, stop):
                    h = np.uint64(0)
                    pw = np.uint64(1)
                    j = 0
                    for m in range(min(kmax, stop - i)):
                        h += (np.uint64(arr[i + m]) + np.uint64(1)) * pw
                        pw *= p
                        if j < ngrams.size and ngrams[j] == m + 1:
                            j += 1
                            k = np.int64(((h + np.uint64(m + 1) * salt) * mix) >> shift)
                            s = k & slot_mask
                            while table[s] != 0 and (table[s] >> 32) != k + 1:
                                s = (s + 1) & slot_mask
                            if table[s] == 0:
                                table[s] = (k + 1) << 32
                                touched[nt] = s
                                nt += 1
                            table[s] += 1
            dot = 0.0
            sq = 0.0
            for t in range(nt):
                entry = table[touched[t]]
                table[touched[t]] = 0
                k = (entry >> 32) - 1 + block * width
                v = log1p[entry & 0xFFFFFFFF]
                sq += v * v
                word = mask[k >> 6]
                below = word & ((np.uint64(1) << np.uint64(k & 63)) - np.uint64(1))
                if (word >> np.uint64(k & 63)) & np.uint64(1):
                    # popcount(below), SWAR
                    x = below - ((below >> np.uint64(1)) & np.uint64(0x5555555555555555))
                    x = (x & np.uint64(0x3333333333333333)) + \
                        ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
                    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
                    x = (x * np.uint64(0x0101010101010101)) >> np.uint64(56)
                    dot += np.float64(values[rank[k >> 6] + np.int64(x)]) * v
            if sq > 0:
                out[d] += dot / np.sqrt(sq)
        start = stop


def _linear_scores_numpy(texts: list[str], params: HashingParams,
                         weights: np.ndarray) -> np.ndarray:
    """The numpy engine of `linear_scores`.

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
    encoded = [_to_bytes(t, params.max_chars, params.normalise) for t in texts]
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
