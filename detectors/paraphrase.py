"""Likely paraphrased benchmark items: sentence windows of a document against item embeddings.

Why a tier of its own: a rephrased or lossy copy of an item (Yang et al. 2023) shares no
13-gram with it, so the n-gram matcher (`auditor.contamination.match`) cannot see it. Here
every window of 1, 2 or 4 consecutive sentences of a document is embedded with the offline
MiniLM sentence encoder (`detectors.embedding.SentenceEncoder`) and compared, by cosine, with
the embedding of each item's question (its text when it has none). A window at or above
`PARAPHRASE_THRESHOLD` is reported as a likely paraphrase, apart from the n-gram matches and
never mixed into them: it is evidence for a reader, not proof.

Cost: one encoder pass per window, so this tier runs on candidates (items that share some
n-grams with a document without matching it: `Matcher.near_misses`, passed as `candidates`)
or on a sample against every item, not on every document. A lossy copy often keeps no 13-gram
at all, so candidates from 13-grams alone miss most paraphrases (the report measures it).

What MiniLM can and cannot do (reports/contamination_paraphrase.md): all-MiniLM-L6-v2 is
an English model. It finds English rewordings; a translation (MGSM's German, French or
Russian GSM8K items) lands far below the threshold, so translated leaks need a multilingual
encoder passed as `encoder=`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa

#: Cosine at or above which a window is a likely paraphrase. Set from the items, not from any
#: plant: between distinct GSM8K test questions (same style and topics, not paraphrases) the
#: nearest other item's cosine is 0.665 at the median and 0.831 at the 99th percentile; a
#: window must be closer to an item than 99% of items are to their nearest sibling.
PARAPHRASE_THRESHOLD = 0.85
#: Sentences per window: one sentence (a short question), two, four (a word problem).
WINDOW_SENTENCES = (1, 2, 4)
#: Windows shorter than this many words are not compared (a 3-word sentence is no evidence).
MIN_WINDOW_WORDS = 6
_SENTENCE_END = re.compile(r"(?<=[.!?\u3002])\s+|\n\s*\n")


@dataclass(frozen=True)
class ParaphraseMatch:
    benchmark: str
    split: str
    item_id: str
    similarity: float
    char_start: int
    char_end: int

    def to_dict(self) -> dict:
        return asdict(self)


def sentence_windows(text: str) -> list[tuple[int, int]]:
    """Character spans of the windows of `WINDOW_SENTENCES` consecutive sentences."""
    bounds, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        if m.start() > start:
            bounds.append((start, m.start()))
        start = m.end()
    if start < len(text) and text[start:].strip():
        bounds.append((start, len(text)))
    spans = set()
    for k in WINDOW_SENTENCES:
        for i in range(max(len(bounds) - k + 1, 1 if bounds else 0)):
            a, b = bounds[i][0], bounds[min(i + k, len(bounds)) - 1][1]
            if len(text[a:b].split()) >= MIN_WINDOW_WORDS:
                spans.add((a, b))
    return sorted(spans)


class ParaphraseFinder:
    """Item embeddings of one benchmark table (`ITEM_SCHEMA` rows) and the search over them."""

    def __init__(self, items: pa.Table, encoder=None, threshold: float = PARAPHRASE_THRESHOLD):
        from detectors.embedding import SentenceEncoder

        self.encoder = encoder if encoder is not None else SentenceEncoder(max_tokens=128)
        self.threshold = threshold
        self._keys = list(zip(items.column("benchmark").to_pylist(),
                              items.column("split").to_pylist(),
                              items.column("item_id").to_pylist(), strict=True))
        parts = [q or t for q, t in zip(items.column("question").to_pylist(),
                                        items.column("text").to_pylist(), strict=True)]
        self.item_embeddings = self.encoder.encode(parts)

    def nearest_sibling_similarity(self) -> np.ndarray:
        """Each item's cosine to its nearest other item (what `PARAPHRASE_THRESHOLD` is set
        from), in blocks so memory stays linear in the items."""
        e = self.item_embeddings
        out = np.empty(len(e), dtype=np.float32)
        for a in range(0, len(e), 1024):
            s = e[a:a + 1024] @ e.T
            s[np.arange(len(s)), np.arange(a, a + len(s))] = -1.0
            out[a:a + len(s)] = s.max(axis=1)
        return out

    def find(self, texts: Sequence[str], candidates: Sequence[Sequence[int]] | None = None,
             threshold: float | None = None) -> list[list[ParaphraseMatch]]:
        """Per text, the items with a window at or above the threshold (best window each,
        most similar first). `candidates[d]`, when given, limits text d to those item rows
        (the n-gram near misses); otherwise every item is compared."""
        threshold = self.threshold if threshold is None else threshold
        spans = [sentence_windows(t or "") for t in texts]
        windows = [t[a:b] for t, s in zip(texts, spans, strict=True) for a, b in s]
        emb = self.encoder.encode(windows) if windows else np.zeros((0, 1), np.float32)
        out: list[list[ParaphraseMatch]] = []
        pos = 0
        for d, s in enumerate(spans):
            block, pos = emb[pos:pos + len(s)], pos + len(s)
            if not len(s):
                out.append([])
                continue
            rows = (np.asarray(candidates[d], dtype=np.int64) if candidates is not None
                    else np.arange(len(self._keys)))
            if not len(rows):
                out.append([])
                continue
            sims = block @ self.item_embeddings[rows].T  # windows x items
            best_window = sims.argmax(axis=0)
            best = sims[best_window, np.arange(len(rows))]
            hits = np.flatnonzero(best >= threshold)
            found = [ParaphraseMatch(*self._keys[int(rows[j])], round(float(best[j]), 4),
                                     *s[int(best_window[j])]) for j in hits]
            out.append(sorted(found, key=lambda m: -m.similarity))
        return out
