"""Corpus-grounded family: a bigram language model fitted on the audited corpus's own human
documents, sampled and refitted generation after generation.

This is the family that speaks about the user's data rather than a toy distribution. It is kept
small on purpose so that a projection runs in seconds on a laptop: documents are cut into
fixed-length segments of word tokens, the vocabulary is the most frequent words (the rest map to
`<unk>`), and everything is vectorised numpy over Monte Carlo runs. The model is an interpolated
bigram with Witten-Bell weights (lambda_v = c(v) / (c(v) + distinct followers of v)) over a
maximum-likelihood unigram: words that vanish from a generation's training data are never
generated again, which is how tails are lost in real language models trained on their own
output. Held-out perplexity is measured on real segments from documents never trained on, with a
small uniform floor (`FLOOR`) so that a lost word costs a finite, large penalty.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from auditor.collapse.categorical import offset_inverse_cdf
from auditor.collapse.metrics import DIVERSITY, PERPLEXITY, TAIL, MetricSpec

TOKEN_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")
#: Share of probability spread uniformly over the vocabulary when scoring held-out text.
FLOOR = 1e-3
#: Bigram types with at most this many occurrences in the real training pool count as rare.
RARE_MAX_COUNT = 2


def tokenize(text: str) -> list[str]:
    """Lower-cased words (with an optional apostrophe suffix) and single punctuation marks."""
    return TOKEN_RE.findall(text.lower())


class CorpusLM:
    """Bigram LM over `texts` (human documents), `samples` segments of `segment_len` tokens per
    generation, a vocabulary of `vocab_size` types including `<unk>`."""

    name = "corpus"

    def __init__(self, texts: Sequence[str], samples: int = 400, vocab_size: int = 1000,
                 segment_len: int = 32, max_docs: int = 4000, heldout: float = 0.2,
                 max_heldout_segments: int = 400, seed: int = 0) -> None:
        if samples < 2:
            raise ValueError(f"samples (M, segments per generation) must be at least 2, got {samples}")
        if vocab_size < 10:
            raise ValueError(f"vocab_size must be at least 10, got {vocab_size}")
        if segment_len < 2:
            raise ValueError(f"segment_len must be at least 2 tokens, got {segment_len}")
        if not 0.0 < heldout < 1.0:
            raise ValueError(f"heldout must be a share in (0, 1), got {heldout}")
        docs = [t for t in texts if isinstance(t, str) and t.strip()][:max_docs]
        if len(docs) < 2:
            raise ValueError(
                f"the corpus model needs human documents to fit; got {len(docs)} non-empty "
                "texts (pass --texts or a --db with pre-cutoff documents)")
        self.samples = int(samples)
        self.vocab_size = int(vocab_size)
        self.segment_len = int(segment_len)
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(docs))
        n_held = max(1, int(round(heldout * len(docs))))
        held_docs = [tokenize(docs[i]) for i in order[:n_held]]
        train_docs = [tokenize(docs[i]) for i in order[n_held:]]
        counts = Counter(tok for d in train_docs for tok in d)
        self.vocab = ["<unk>"] + [w for w, _ in counts.most_common(self.vocab_size - 1)]
        self.vocab_size = len(self.vocab)
        index = {w: i for i, w in enumerate(self.vocab)}
        self.pool = self._segments(train_docs, index)
        held = self._segments(held_docs, index)
        if len(self.pool) < self.samples:
            raise ValueError(
                f"only {len(self.pool)} training segments of {self.segment_len} tokens in "
                f"{len(train_docs)} documents; the corpus model needs at least samples="
                f"{self.samples}: pass more or longer documents, or lower --samples")
        if len(held) == 0:
            raise ValueError(
                f"no held-out segment of {self.segment_len} tokens in {len(held_docs)} held-out "
                "documents: pass more or longer documents")
        self.heldout = held[rng.permutation(len(held))[:max_heldout_segments]]
        self.n_docs = len(docs)
        v = self.vocab_size
        pool_counts = np.bincount(
            (self.pool[:, :-1].astype(np.int64) * v + self.pool[:, 1:]).ravel(), minlength=v * v)
        self.rare = np.flatnonzero((pool_counts >= 1) & (pool_counts <= RARE_MAX_COUNT))
        self.metrics = (
            MetricSpec("perplexity_ratio", "ppl", PERPLEXITY, "up", relative=True,
                       description="held-out perplexity on real documents relative to the "
                                   "real-data-only model"),
            MetricSpec("perplexity", "ppl", PERPLEXITY, "up",
                       description="held-out perplexity on real documents"),
            MetricSpec("rare_bigrams_retained", "rare", TAIL, "down", relative=True,
                       description="rare real bigram types present in the training data, "
                                   "relative to the real-data-only model"),
            MetricSpec("vocab_retained", "vocab", TAIL, "down", relative=True,
                       description="word types present in the training data, relative to the "
                                   "real-data-only model"),
            MetricSpec("entropy_ratio", "entropy", DIVERSITY, "down", relative=True,
                       description="unigram entropy relative to the real-data-only model"),
        )

    def _segments(self, docs: list[list[str]], index: dict[str, int]) -> np.ndarray:
        L = self.segment_len
        segs: list[list[int]] = []
        for toks in docs:
            ids = [index.get(t, 0) for t in toks]
            segs.extend(ids[i:i + L] for i in range(0, len(ids) - L + 1, L))
        return np.asarray(segs, dtype=np.int32).reshape(-1, L)

    def params_dict(self) -> dict[str, Any]:
        return {"samples": self.samples, "vocab_size": self.vocab_size,
                "segment_len": self.segment_len, "documents": self.n_docs,
                "training_segments": int(len(self.pool)),
                "heldout_segments": int(len(self.heldout))}

    def prepare(self, rng: np.random.Generator, runs: int) -> None:
        return None

    def real(self, rng: np.random.Generator, ctx: None, runs: int) -> np.ndarray:
        idx = np.argsort(rng.random((runs, len(self.pool))), axis=1)[:, : self.samples]
        return self.pool[idx]

    def stats(self, ctx: None, batch: np.ndarray) -> tuple[np.ndarray, ...]:
        r, v = batch.shape[0], self.vocab_size
        b = batch.astype(np.int64)
        run = (np.arange(r, dtype=np.int64) * v)[:, None, None]
        big = np.bincount(((run + b[:, :, :-1]) * v + b[:, :, 1:]).ravel(), minlength=r * v * v)
        uni = np.bincount((run + b).ravel(), minlength=r * v)
        start = np.bincount((run[:, :, 0] + b[:, :, 0]).ravel(), minlength=r * v)
        return (big.reshape(r, v * v).astype(float), uni.reshape(r, v).astype(float),
                start.reshape(r, v).astype(float))

    def fit(self, ctx: None, stats: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
        big, uni, start = stats
        r, v = uni.shape
        big = big.reshape(r, v, v)
        p_uni = uni / uni.sum(axis=1, keepdims=True)
        c = big.sum(axis=2)
        n1 = (big > 0).sum(axis=2)
        with np.errstate(divide="ignore", invalid="ignore"):
            lam = np.where(c > 0, c / (c + n1), 0.0)
            p_ml = np.where(c[..., None] > 0, big / c[..., None], 0.0)
        cond = lam[..., None] * p_ml + (1.0 - lam)[..., None] * p_uni[:, None, :]
        return cond, start / start.sum(axis=1, keepdims=True), p_uni

    def sample(self, rng: np.random.Generator, ctx: None, params: Any, runs: int) -> np.ndarray:
        cond, p_start, _ = params
        m, L, v = self.samples, self.segment_len, self.vocab_size
        out = np.empty((runs, m, L), dtype=np.int32)
        out[:, :, 0] = offset_inverse_cdf(p_start, rng.random((runs, m)))
        cum = np.cumsum(cond, axis=2)
        cum /= cum[:, :, -1:]
        ridx = np.arange(runs)[:, None]
        for t in range(1, L):
            rows = cum[ridx, out[:, :, t - 1]]  # (runs, m, v)
            u = rng.random((runs, m, 1))
            out[:, :, t] = np.minimum((rows <= u).sum(axis=2), v - 1)
        return out

    def measure(self, ctx: None, params: Any, stats: Any) -> dict[str, np.ndarray]:
        cond, _, p_uni = params
        big, uni, _ = stats
        prev = self.heldout[:, :-1].ravel()
        nxt = self.heldout[:, 1:].ravel()
        p = (1.0 - FLOOR) * cond[:, prev, nxt] + FLOOR / self.vocab_size
        ppl = np.exp(-np.log(p).mean(axis=1))
        with np.errstate(divide="ignore", invalid="ignore"):
            ent = -np.where(p_uni > 0, p_uni * np.log(p_uni), 0.0).sum(axis=1)
        return {
            "ppl": ppl,
            "rare": (big[:, self.rare] > 0).sum(axis=1).astype(float),
            "vocab": (uni > 0).sum(axis=1).astype(float),
            "entropy": ent,
        }

    def closed_form(self, metric: str, regime: str, alphas: Sequence[float]) -> float | None:
        return None  # no closed form for a corpus: Monte Carlo only
