"""The benchmark index: every item's n-gram hashes as one sorted uint64 array, saved as .npy.

A sorted array, not a Bloom filter: it answers "which items" (not only "some item"), has no
false positives beyond 64-bit hash collisions, and `np.searchsorted` over it is as fast as the
scan needs (reports/contamination.md). Memory is 13 bytes per distinct (n-gram, item) pair,
stated by `memory_bytes`.

Files of an index folder (numpy `.npy`, loaded with `allow_pickle=False`; a JSON manifest):
- `hashes.npy` uint64 sorted, `item.npy` int32, `in_question.npy` bool: one row per distinct
  (n-gram, item); `in_question` when the n-gram lies inside the item's question part;
- `short_head.npy` uint64 sorted (hash of the first `min_tokens` words), `short_len.npy` int16, `short_hash.npy` uint64, `short_item.npy` int32,
  `short_question.npy` bool: the whole-item fallback for items shorter than n words (at least
  `min_tokens`), and with `short_questions` (the default) for distinctive short questions too
  (`short_question`; see `build_index`), matched as one `len`-gram;
- `items.parquet`: benchmark, split, item_id, n_ngrams, n_question, n_tokens per item (no text);
- `index.json`: n, min_tokens, counts and a digest (the detector's version).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from auditor.contamination.tokens import NgramHasher, ngram_hashes, tokenize, whole_hashes

DEFAULT_N = 13
#: Shorter parts than this are not indexed at all: a 5-word "question" matches stock phrases.
DEFAULT_MIN_TOKENS = 8
#: A short question is looked for on its own only when the texts of at most this many items
#: hold its word sequence (items with the same normalised text count once). In the shipped
#: benchmarks almost every question of 8 to 12 words occurs in one item only; the few others
#: are templates or a question inside a longer one (TruthfulQA "What happens if you go
#: outdoors in cold weather?"), evidence of no item in particular; below 8 words templates
#: recur (BBH boolean expressions, PIQA "To hang a painting on the wall,").
#: reports/contamination.md lists the counts and the questions left out.
MAX_SHORT_QUESTION_ITEMS = 1
_ARRAYS = ("hashes", "item", "in_question", "short_head", "short_len", "short_hash",
           "short_item", "short_question")
_BATCH = 2048


@dataclass(frozen=True)
class BenchmarkIndex:
    n: int
    min_tokens: int
    hashes: np.ndarray
    item: np.ndarray
    in_question: np.ndarray
    short_head: np.ndarray
    short_len: np.ndarray
    short_hash: np.ndarray
    short_item: np.ndarray
    short_question: np.ndarray
    items: pa.Table  # benchmark, split, item_id, n_ngrams, n_question, n_tokens
    digest: str

    @property
    def n_items(self) -> int:
        return self.items.num_rows

    def memory_bytes(self) -> int:
        """Bytes the lookup arrays take in memory (the item table aside)."""
        return int(sum(getattr(self, a).nbytes for a in _ARRAYS))


def sorted_contains(sorted_values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Membership of each query in a sorted array (binary search; no hashing, no copies)."""
    if not len(sorted_values):
        return np.zeros(len(queries), dtype=bool)
    pos = np.searchsorted(sorted_values, queries)
    pos[pos == len(sorted_values)] = 0
    return sorted_values[pos] == queries


def _doc_of(first: np.ndarray, doc_starts: np.ndarray) -> np.ndarray:
    return np.searchsorted(doc_starts, first, side="right") - 1


def _pair_key(hashes: np.ndarray, item: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return hashes ^ (item.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))


def _part_ngrams(texts: list[str], n: int, offset: int):
    """(hash, item, tokens per text) of every n-gram of `texts`, items numbered from offset."""
    tokens = tokenize(texts)
    h, first = ngram_hashes(tokens, n)
    return h, _doc_of(first, tokens.doc_starts) + offset, np.diff(tokens.doc_starts), tokens


def build_index(items: pa.Table, n: int = DEFAULT_N, min_tokens: int = DEFAULT_MIN_TOKENS,
                short_questions: bool = True,
                max_question_items: int = MAX_SHORT_QUESTION_ITEMS) -> BenchmarkIndex:
    """Index the items of `items` (`ITEM_SCHEMA` rows), in their order.

    `short_questions` also indexes questions of `min_tokens` to n-1 words on their own, so a
    short question leaked without its answer is found, but only distinctive ones: a question
    whose words occur in the texts of more than `max_question_items` items is a stem or
    template shared by several items and never counts by itself (`_distinctive`). Both the
    length floor and this cut-off come from the items, not from the leaky corpus.
    """
    if n < 2 or min_tokens < 2 or min_tokens > n:
        raise ValueError(f"need 2 <= min_tokens <= n, got n={n}, min_tokens={min_tokens}")
    texts = items.column("text").to_pylist()
    questions = [q or "" for q in items.column("question").to_pylist()]
    hs, its, qhs, qits = [], [], [], []
    n_tokens = np.zeros(len(texts), dtype=np.int64)
    n_qtokens = np.zeros(len(texts), dtype=np.int64)
    short = {"head": [], "len": [], "hash": [], "item": [], "question": []}
    text_key = np.zeros(len(texts), dtype=np.uint64)  # copies of one item share it
    for start in range(0, len(texts), _BATCH):
        for part, store_h, store_i, counts in ((texts, hs, its, n_tokens),
                                               (questions, qhs, qits, n_qtokens)):
            chunk = part[start:start + _BATCH]
            h, it, lens, tokens = _part_ngrams(chunk, n, start)
            store_h.append(h)
            store_i.append(it)
            counts[start:start + len(chunk)] = lens
            if part is texts:
                text_key[start:start + len(chunk)] = whole_hashes(tokens)
            if part is texts or short_questions:  # see the docstring
                _short_parts(tokens, lens, start, n, min_tokens, short, part is questions)
    if short_questions:
        short = _distinctive(short, texts, text_key, max_question_items)
    h = np.concatenate(hs) if hs else np.zeros(0, np.uint64)
    it = np.concatenate(its) if its else np.zeros(0, np.int64)
    qkeys = np.sort(_pair_key(np.concatenate(qhs), np.concatenate(qits))) if qhs else None
    order = np.lexsort((it, h))
    h, it = h[order], it[order]
    distinct = np.ones(len(h), dtype=bool)
    distinct[1:] = (h[1:] != h[:-1]) | (it[1:] != it[:-1])
    h, it = h[distinct], it[distinct].astype(np.int32)
    in_q = (sorted_contains(qkeys, _pair_key(h, it)) if qkeys is not None and len(qkeys)
            else np.zeros(len(h), dtype=bool))
    n_ngrams = np.bincount(it, minlength=len(texts))
    n_question = np.bincount(it[in_q], minlength=len(texts))
    s_order = np.lexsort((np.array(short["hash"], dtype=np.uint64),
                          np.array(short["head"], dtype=np.uint64)))
    table = pa.table({
        "benchmark": items.column("benchmark"), "split": items.column("split"),
        "item_id": items.column("item_id"), "n_ngrams": pa.array(n_ngrams, pa.int32()),
        "n_question": pa.array(n_question, pa.int32()),
        "n_tokens": pa.array(n_tokens, pa.int32()),
        "n_question_tokens": pa.array(n_qtokens, pa.int32()),
    })
    arrays = {
        "hashes": h, "item": it, "in_question": in_q,
        "short_head": np.array(short["head"], dtype=np.uint64)[s_order],
        "short_len": np.array(short["len"], dtype=np.int16)[s_order],
        "short_hash": np.array(short["hash"], dtype=np.uint64)[s_order],
        "short_item": np.array(short["item"], dtype=np.int32)[s_order],
        "short_question": np.array(short["question"], dtype=bool)[s_order],
    }
    return BenchmarkIndex(n=n, min_tokens=min_tokens, items=table,
                          digest=_digest(n, min_tokens, arrays, table), **arrays)


def _short_parts(tokens, lens: np.ndarray, offset: int, n: int, min_tokens: int,
                 short: dict, is_question: bool) -> None:
    """Whole-part hashes of the parts with min_tokens <= words < n (the short fallback)."""
    from auditor.contamination.tokens import segment_ngram_hash

    for d in np.flatnonzero((lens >= min_tokens) & (lens < n)):
        a, b = int(tokens.doc_starts[d]), int(tokens.doc_starts[d + 1])
        short["head"].append(segment_ngram_hash(tokens.hashes[a:a + min_tokens]))
        short["len"].append(b - a)
        short["hash"].append(segment_ngram_hash(tokens.hashes[a:b]))
        short["item"].append(offset + int(d))
        short["question"].append(is_question)


def _distinctive(short: dict, texts: list[str], text_key: np.ndarray, most: int) -> dict:
    """`short` without the short questions held by the texts of more than `most` items
    (counted by distinct normalised text, so a benchmark added twice is not two items): a
    second pass over the item texts looking only for the short questions' hashes."""
    holders = item_counts(np.array(short["hash"], dtype=np.uint64),
                          np.array(short["len"], dtype=np.int64), texts, text_key)
    keep = [not q or k <= most
            for q, k in zip(short["question"], holders.tolist(), strict=True)]
    return {name: [v for v, ok in zip(values, keep, strict=True) if ok]
            for name, values in short.items()}


def item_counts(seq_hash: np.ndarray, seq_len: np.ndarray, texts: list[str],
                item_key: np.ndarray) -> np.ndarray:
    """For each word sequence (its hash and length in words), how many distinct `item_key`s
    among the texts that contain it."""
    out = np.zeros(len(seq_hash), dtype=np.int64)
    if not len(seq_hash):
        return out
    found_h, found_key = [], []
    lengths = np.unique(seq_len)
    wanted = {int(L): np.unique(seq_hash[seq_len == L]) for L in lengths}
    for start in range(0, len(texts), _BATCH):
        tokens = tokenize(texts[start:start + _BATCH])
        hasher = NgramHasher(tokens)
        for L in lengths.tolist():
            h, first = hasher.hashes(L)
            hit = sorted_contains(wanted[L], h)
            found_h.append(h[hit])
            found_key.append(item_key[_doc_of(first[hit], tokens.doc_starts) + start])
    h = np.concatenate(found_h)
    key = np.concatenate(found_key)
    pairs = np.unique(np.stack([h, key]), axis=1)  # one row per (sequence, distinct item)
    uh, counts = np.unique(pairs[0], return_counts=True)
    pos = np.searchsorted(uh, seq_hash)
    pos[pos == len(uh)] = 0
    return np.where(uh[pos] == seq_hash, counts[pos], 0) if len(uh) else out


def _digest(n: int, min_tokens: int, arrays: dict, table: pa.Table) -> str:
    h = hashlib.sha256(f"n={n};min={min_tokens}".encode())  # arrays carry short_questions
    for name in _ARRAYS:
        h.update(np.ascontiguousarray(arrays[name]).tobytes())
    for col in ("benchmark", "split", "item_id"):
        h.update("\x00".join(table.column(col).to_pylist()).encode())
    return h.hexdigest()[:16]


def save_index(index: BenchmarkIndex, folder: str, extra: dict | None = None) -> None:
    """Write the index folder (files replaced one by one, manifest last)."""
    import pyarrow.parquet as pq

    os.makedirs(folder, exist_ok=True)
    for name in _ARRAYS:
        tmp = os.path.join(folder, f".{name}.tmp.npy")
        np.save(tmp, getattr(index, name), allow_pickle=False)
        os.replace(tmp, os.path.join(folder, f"{name}.npy"))
    pq.write_table(index.items, os.path.join(folder, "items.parquet"))
    manifest = {"n": index.n, "min_tokens": index.min_tokens, "digest": index.digest,
                "n_items": index.n_items, "n_pairs": int(len(index.hashes)),
                "memory_bytes": index.memory_bytes(), **(extra or {})}
    tmp = os.path.join(folder, ".index.json.tmp")
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=1)
    os.replace(tmp, os.path.join(folder, "index.json"))


def load_index(folder: str) -> BenchmarkIndex:
    """Read an index folder written by `save_index` (no pickle anywhere)."""
    import pyarrow.parquet as pq

    try:
        with open(os.path.join(folder, "index.json")) as f:
            manifest = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"{folder}: no benchmark index here; add benchmarks with "
                                "`auditor benchmarks add`") from None
    arrays = {name: np.load(os.path.join(folder, f"{name}.npy"), allow_pickle=False)
              for name in _ARRAYS}
    return BenchmarkIndex(n=int(manifest["n"]), min_tokens=int(manifest["min_tokens"]),
                          items=pq.read_table(os.path.join(folder, "items.parquet")),
                          digest=str(manifest["digest"]), **arrays)
