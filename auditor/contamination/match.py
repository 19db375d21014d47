"""Which benchmark items each document contains, in what form, and where.

Per document and item: how many of the item's distinct n-grams the document holds (`share` of
the item, `question_share` of its question part), whether any n-gram of the answer part is
there, and the character span from the first to the last matched n-gram. An item counts as
found when the document holds at least `MIN_HITS` of its n-grams (all of them for items with
fewer) and either `MIN_SHARE` of the item or `MIN_QUESTION_SHARE` of its question; items and
distinctive questions shorter than n words are found by a whole-part match (which short
questions the index holds: `index.build_index`). The form:
- `exact`: at least `EXACT_SHARE` of the item's n-grams, answer included;
- `partial`: some of the answer part, less than `EXACT_SHARE` of the item;
- `question_only`: the question's n-grams and none of the answer's.
One shared n-gram (a stock phrase such as "Let's think step by step" or a repeated LSAT
question stem) is never enough: that is what `MIN_HITS` and the shares are for. Text shared by
sibling items (a BBH task's instructions, an SAT passage) is credited to the item with the most
evidence (`_not_explained_away`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from auditor.contamination import FORMS  # noqa: F401  (the forms this module assigns)
from auditor.contamination.index import BenchmarkIndex
from auditor.contamination.tokens import NgramHasher, TokenBatch, tokenize

#: Bumped whenever a rule below changes, so stored results are recomputed (detector version).
MATCH_VERSION = "4"
MIN_HITS = 3
MIN_SHARE = 0.3
MIN_QUESTION_SHARE = 0.5
EXACT_SHARE = 0.9
#: Most characters a span is widened by at each end to take in attached punctuation.
SPAN_WIDEN = 16
#: Bits of the membership pre-filter (a one-hash Bloom filter over the index's hashes): 2**26
#: bits = 8 MiB. With the 1.5 M n-grams of the shared benchmarks, ~2% of a document's n-grams
#: pass it and go on to the binary search, which is what the scan's speed depends on.
FILTER_BITS = 26
#: The short items' first-words filter: a few thousand entries, 2**20 bits = 128 KiB.
SHORT_FILTER_BITS = 20


@dataclass(frozen=True)
class ItemMatch:
    """One benchmark item found in one document."""

    benchmark: str
    split: str
    item_id: str
    form: str  # exact | partial | question_only
    share: float  # of the item's n-grams present
    question_share: float  # of its question part's n-grams present
    answer_present: bool
    char_start: int
    char_end: int

    def to_dict(self) -> dict:
        return asdict(self)


class Matcher:
    """Matches batches of texts against one `BenchmarkIndex`."""

    def __init__(self, index: BenchmarkIndex, min_hits: int = MIN_HITS,
                 min_share: float = MIN_SHARE, min_question_share: float = MIN_QUESTION_SHARE):
        self.index = index
        self.min_hits = min_hits
        self.min_share = min_share
        self.min_question_share = min_question_share
        items = index.items
        self._bench = items.column("benchmark").to_pylist()
        self._split = items.column("split").to_pylist()
        self._id = items.column("item_id").to_pylist()
        self._n = items.column("n_ngrams").to_numpy().astype(np.int64)
        self._nq = items.column("n_question").to_numpy().astype(np.int64)
        # words, for short parts (an item under n words has no n-gram to count)
        self._has_answer_words = (items.column("n_tokens").to_numpy()
                                  > items.column("n_question_tokens").to_numpy())
        self._filter = _bit_filter(index.hashes)
        self._short_filter = _bit_filter(index.short_head, SHORT_FILTER_BITS)

    def memory_bytes(self) -> int:
        """Index arrays plus the pre-filter, as held while scanning."""
        return self.index.memory_bytes() + self._filter.nbytes + self._short_filter.nbytes

    def match(self, texts: list[str]) -> list[list[ItemMatch]]:
        """The items found in each text (an empty list for most texts)."""
        tokens = tokenize(texts)
        self._texts = texts
        hasher = NgramHasher(tokens)
        found: list[list[ItemMatch]] = [[] for _ in texts]
        evidence: dict[int, list[tuple[ItemMatch, frozenset]]] = {}
        for doc, item, hits, q_hits, a_hits, first, last, matched in \
                self._ngram_hits(tokens, hasher):
            m = self._decide(tokens, doc, item, hits, q_hits, a_hits, first, last)
            if m is not None:
                evidence.setdefault(doc, []).append((m, matched))
        for doc, candidates in evidence.items():
            found[doc] = _not_explained_away(candidates)
        for doc, item, is_q, first, last in self._short_hits(tokens, hasher):
            if any(m.item_id == self._id[item] and m.benchmark == self._bench[item]
                   for m in found[doc]):
                continue
            span = self._span(tokens, doc, first, last)
            form = "question_only" if is_q and self._has_answer_words[item] else "exact"
            found[doc].append(ItemMatch(self._bench[item], self._split[item], self._id[item],
                                        form, 1.0 if not is_q else 0.0, 1.0, not is_q, *span))
        return found

    def near_misses(self, texts: list[str]) -> list[list[int]]:
        """Per text, the item rows (index order) that share at least one n-gram with it but
        are not found by `match`: the candidates a slower tier (detectors/paraphrase.py) may
        look at more closely."""
        found = [{(m.benchmark, m.split, m.item_id) for m in ms} for ms in self.match(texts)]
        tokens = tokenize(texts)
        shared: list[set[int]] = [set() for _ in texts]
        for doc, item, *_ in self._ngram_hits(tokens, NgramHasher(tokens), min_hits=1):
            shared[doc].add(item)
        return [sorted(r for r in rows if (self._bench[r], self._split[r], self._id[r])
                       not in found[d]) for d, rows in enumerate(shared)]

    def _ngram_hits(self, tokens: TokenBatch, hasher: NgramHasher, min_hits: int | None = None):
        """(doc, item, hits, question hits, answer hits, first token, last token, matched
        n-gram hashes) per candidate pair with at least `min_hits` (default: the matcher's)
        distinct n-grams."""
        ix = self.index
        n = ix.n
        h, first = self._candidates(*hasher.hashes(n))
        if not len(h) or not len(ix.hashes):
            return
        left = np.searchsorted(ix.hashes, h, side="left")
        hit = left < len(ix.hashes)
        hit[hit] = ix.hashes[left[hit]] == h[hit]
        if not hit.any():
            return
        h, first, left = h[hit], first[hit], left[hit]
        right = np.searchsorted(ix.hashes, h, side="right")
        counts = right - left
        rows = np.arange(counts.sum()) + np.repeat(left - (np.cumsum(counts) - counts), counts)
        first = np.repeat(first, counts)
        docs = np.searchsorted(tokens.doc_starts, first, side="right") - 1
        items = ix.item[rows].astype(np.int64)
        in_q = ix.in_question[rows]
        order = np.lexsort((rows, items, docs))
        docs, items, rows, in_q, first = (docs[order], items[order], rows[order],
                                          in_q[order], first[order])
        new_row = np.ones(len(rows), dtype=bool)  # count each (doc, item, n-gram) once
        new_row[1:] = (rows[1:] != rows[:-1]) | (docs[1:] != docs[:-1])
        pair_start = np.flatnonzero(np.r_[True, (docs[1:] != docs[:-1])
                                          | (items[1:] != items[:-1])])
        hits = np.add.reduceat(new_row.astype(np.int64), pair_start)
        q_hits = np.add.reduceat((new_row & in_q).astype(np.int64), pair_start)
        lo = np.minimum.reduceat(first, pair_start)
        hi = np.maximum.reduceat(first, pair_start) + n - 1
        p_items = items[pair_start]
        needed = np.minimum(self.min_hits if min_hits is None else min_hits, self._n[p_items])
        whole_question = (self._nq[p_items] > 0) & (q_hits >= self._nq[p_items])
        keep = np.flatnonzero((hits >= needed) | whole_question)
        pair_end = np.append(pair_start[1:], len(rows))
        matched_hash = ix.hashes[rows]
        for k in keep:
            a, b = int(pair_start[k]), int(pair_end[k])
            yield (int(docs[a]), int(p_items[k]), int(hits[k]), int(q_hits[k]),
                   int(hits[k] - q_hits[k]), int(lo[k]), int(hi[k]),
                   frozenset(matched_hash[a:b].tolist()))

    def _decide(self, tokens, doc, item, hits, q_hits, a_hits, first, last) -> ItemMatch | None:
        n_total, n_q = int(self._n[item]), int(self._nq[item])
        share = hits / n_total if n_total else 0.0
        q_share = q_hits / n_q if n_q else 0.0
        if share < self.min_share and q_share < self.min_question_share:
            return None
        has_answer_part = n_total > n_q
        if has_answer_part and a_hits == 0:
            form = "question_only"
        elif share >= EXACT_SHARE:
            form = "exact"
        else:
            form = "partial"
        span = self._span(tokens, doc, first, last)
        return ItemMatch(self._bench[item], self._split[item], self._id[item], form,
                         round(share, 4), round(q_share, 4), has_answer_part and a_hits > 0,
                         *span)

    def _short_hits(self, tokens: TokenBatch, hasher: NgramHasher):
        """(doc, item, is question, first token, last token) of whole-part matches: one pass
        over the documents' `min_tokens`-grams against the short parts' first words, then the
        whole part's hash checked at each candidate position."""
        ix = self.index
        if not len(ix.short_head):
            return
        h, first = hasher.hashes(ix.min_tokens)
        keep = _in_filter(self._short_filter, h)
        h, first = h[keep], first[keep]
        lo = np.searchsorted(ix.short_head, h, side="left")
        hi = np.searchsorted(ix.short_head, h, side="right")
        for j in np.flatnonzero(hi > lo):
            start = int(first[j])
            doc = int(np.searchsorted(tokens.doc_starts, start, side="right") - 1)
            doc_end = int(tokens.doc_starts[doc + 1])
            for k in range(int(lo[j]), int(hi[j])):
                length = int(ix.short_len[k])
                if start + length <= doc_end and \
                        hasher.hash_at(start, length) == int(ix.short_hash[k]):
                    yield doc, int(ix.short_item[k]), bool(ix.short_question[k]), start, \
                        start + length - 1

    def _candidates(self, h: np.ndarray, first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The n-grams that pass the bit filter (all that may be in the index)."""
        keep = _in_filter(self._filter, h)
        return h[keep], first[keep]

    def _span(self, tokens: TokenBatch, doc: int, first: int, last: int) -> tuple[int, int]:
        """Characters from the first matched word to the last, widened to the punctuation
        around them (`"(` before; `?`, `' ')])` after, to the end of the line), up to
        `SPAN_WIDEN` characters each way."""
        text = self._texts[doc]
        start, end = tokens.char_span(doc, first, last)
        low, high = max(0, start - SPAN_WIDEN), min(len(text), end + SPAN_WIDEN)
        while start > low and not text[start - 1].isspace():
            start -= 1
        while end < high and text[end] != "\n" and not text[end].isalnum():
            end += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        return start, end


def _not_explained_away(candidates: list[tuple[ItemMatch, frozenset]]) -> list[ItemMatch]:
    """Drop an item whose matched n-grams are a strict subset of another found item's.

    Items of one benchmark often share text: a BBH task's instructions, an SAT passage with its
    ten questions. A document holding one of them then also holds its siblings' shared part;
    those siblings are explained by the one item with more evidence, and are not leaks of
    their own. Items with the same evidence (GSM8K item i and MGSM `en/i`, or a passage leaked
    without any question) are all kept.
    """
    if len(candidates) < 2:
        return [m for m, _ in candidates]
    return [m for m, ev in candidates
            if not any(len(other) > len(ev) and ev < other for _, other in candidates)]


def _bit_filter(hashes: np.ndarray, n_bits: int = FILTER_BITS) -> np.ndarray:
    """A packed bit array with the bit of each hash's top `n_bits` bits set; its length tells
    `_in_filter` how many bits that was."""
    bits = np.zeros(1 << (n_bits - 3), dtype=np.uint8)
    slot = hashes >> np.uint64(64 - n_bits)
    np.bitwise_or.at(bits, (slot >> np.uint64(3)).astype(np.int64),
                     (np.uint8(1) << (slot & np.uint64(7)).astype(np.uint8)))
    return bits


def _in_filter(bits: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    n_bits = (len(bits) * 8).bit_length() - 1
    byte = bits[hashes >> np.uint64(64 - n_bits + 3)]
    shift = ((hashes >> np.uint64(64 - n_bits)) & np.uint64(7)).astype(np.uint8)
    return (byte >> shift) & np.uint8(1) != 0
