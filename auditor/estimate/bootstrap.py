"""Confidence intervals by bootstrapping the target AND both reference histograms.

Resampling only the target under-covers badly: with a few hundred reference documents the
references' own sampling error (which moves the threshold, the rates, the densities) is often the
larger part of the error. So each replicate draws the target and both references afresh
(multinomial over bins with each histogram's document count), refits the method, and
re-estimates. The interval is the union of the percentile and the basic bootstrap intervals; where the point estimate sits at 0 (or 1)
a two-sided interval is meaningless, so the one-sided 95% bound is reported instead.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from auditor.estimate.choice import N_BOOT
from auditor.estimate.methods import Quantifier, make

LEVEL = 0.95


@dataclass(frozen=True)
class Hist:
    """Weights per bin plus the documents behind them (the bootstrap resamples documents).

    `weight` equals `docs` for document weighting and is the token sum for token weighting; a
    resampled bin keeps its mean weight per document (within-bin spread of token counts is not
    resampled: a small, stated under-statement of the token-weighted interval).
    """

    docs: np.ndarray
    weight: np.ndarray

    @classmethod
    def of(cls, docs, weight=None) -> Hist:
        d = np.asarray(docs, dtype=float)
        w = d.copy() if weight is None else np.asarray(weight, dtype=float)
        if d.shape != w.shape:
            raise ValueError(f"docs and weight histograms differ in shape: {d.shape} vs {w.shape}")
        return cls(d, w)

    @classmethod
    def empty(cls, n_bins: int) -> Hist:
        return cls(np.zeros(n_bins), np.zeros(n_bins))

    @property
    def n(self) -> int:
        return int(round(self.docs.sum()))

    def __add__(self, other: Hist) -> Hist:
        return Hist(self.docs + other.docs, self.weight + other.weight)

    def resample(self, rng: np.random.Generator) -> Hist:
        n = self.n
        if n == 0:
            return self
        drawn = rng.multinomial(n, self.docs / self.docs.sum()).astype(float)
        per_doc = np.divide(self.weight, self.docs, out=np.zeros_like(self.weight),
                            where=self.docs > 0)
        return Hist(drawn, drawn * per_doc)


def hist_sum(parts: Iterable[Hist]) -> Hist | None:
    """The sum of histograms on one set of bins; None when there are none."""
    total = None
    for h in parts:
        total = h if total is None else total + h
    return total


def pooled(hists: Mapping[tuple, Hist], in_ref: bool | None = None,
           sources: Collection[str] | None = None) -> Hist | None:
    """Sum of per-(source, reference slice) histograms (`histograms.source_hists`' keys): over
    the given `sources` (all when None) and over the one slice `in_ref` (both when None). Sums
    in key order, so a pooled reference is the same bits whatever order the store returned.
    With `sources` it looks their keys up (no scan of every key: a thousand sources each
    pooling their own reference must stay linear)."""
    slices = (True, False) if in_ref is None else (in_ref,)
    if sources is not None:
        return hist_sum(hists[(s, r)] for s in sorted(sources) for r in slices
                        if (s, r) in hists)
    return hist_sum(h for (_, r), h in sorted(hists.items(), key=lambda kv: str(kv[0]))
                    if r in slices)


@dataclass(frozen=True)
class Interval:
    fraction: float
    ci_low: float
    ci_high: float
    one_sided: bool  # True when the point estimate sits at 0 or 1
    replicates: np.ndarray


def interval_from(point: float, reps: np.ndarray, level: float = LEVEL) -> Interval:
    """Percentile interval around `point`; one-sided bound when `point` is at 0 or 1.

    `point` and `reps` may be unclipped estimates (below 0 or above 1); the reported fraction
    and bounds are clipped to [0, 1] here, after the quantiles are taken. The replicates kept
    on the result are clipped too.
    """
    reps = np.asarray(reps, dtype=float)
    reps = reps[np.isfinite(reps)]
    clipped = np.clip(reps, 0.0, 1.0)
    if not np.isfinite(point):
        return Interval(point, float("nan"), float("nan"), False, clipped)
    f = float(min(1.0, max(0.0, point)))
    if reps.size == 0:
        return Interval(f, float("nan"), float("nan"), False, clipped)
    alpha = 1 - level
    if f <= 1e-9:  # one-sided upper bound
        return Interval(0.0, 0.0, float(np.clip(np.quantile(reps, level), 0, 1)), True, clipped)
    if f >= 1 - 1e-9:  # one-sided lower bound
        return Interval(1.0, float(np.clip(np.quantile(reps, alpha), 0, 1)), 1.0, True, clipped)
    q_lo, q_hi = np.quantile(reps, [alpha / 2, 1 - alpha / 2])
    # union of the percentile and the basic (reflected) interval: the estimators are biased
    # upward near 0 by reference noise, which the percentile interval alone does not undo
    # (68% coverage at a true 0 for mlm in simulation; the basic interval 95%, the union both)
    lo = min(q_lo, 2 * point - q_hi)
    hi = max(q_hi, 2 * point - q_lo)
    lo, hi = float(np.clip(lo, 0.0, 1.0)), float(np.clip(hi, 0.0, 1.0))
    return Interval(f, min(lo, f), max(hi, f), False, clipped)


def estimate_with_interval(method: str | Callable[[], Quantifier], human: Hist, machine: Hist,
                           target: Hist, n_boot: int = N_BOOT, seed: int = 0,
                           level: float = LEVEL) -> Interval:
    """Point estimate of the target's machine fraction and its bootstrap interval."""
    factory = (lambda: make(method)) if isinstance(method, str) else method
    point = factory().fit(human.weight, machine.weight).quantify_raw(target.weight)
    rng = np.random.default_rng(seed)
    reps = np.empty(n_boot)
    for i in range(n_boot):
        h, m, t = human.resample(rng), machine.resample(rng), target.resample(rng)
        try:
            reps[i] = factory().fit(h.weight, m.weight).quantify_raw(t.weight)
        except ValueError:  # a replicate left a reference empty (tiny references)
            reps[i] = np.nan
    return interval_from(point, reps, level)


def widen(iv: Interval, factor: float, margin: float) -> Interval:
    """Stretch an interval around its point (half-widths x factor, plus a margin), in [0, 1].

    Used when the human reference is a stated default rather than the group's own documents:
    the bootstrap cannot see the domain shift that introduces, so the interval is widened by a
    stated amount instead of pretending to know it.
    """
    f = iv.fraction
    lo = max(0.0, f - factor * (f - iv.ci_low) - margin)
    hi = min(1.0, f + factor * (iv.ci_high - f) + margin)
    return Interval(f, lo, hi, iv.one_sided, iv.replicates)
