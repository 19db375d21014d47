"""Categorical / Zipf distribution: frequencies re-estimated from `M` samples each generation.

Under replace at alpha = 1 this is neutral Wright-Fisher drift: categories are lost for good
once their count hits zero, so support and tail mass shrink and entropy falls; the expected
heterozygosity obeys E[1 - sum p_n^2] = (1 - 1/M)^n (1 - sum p_0^2) (n fits = our generation
g + 1). The expected mass of any fixed set of categories is a martingale, so the *mean* tail mass
does not move while most runs lose their tail: tail mass is reported as a median.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from auditor.collapse.metrics import DIVERSITY, RISK, TAIL, MetricSpec

#: The true tail: the rarest categories that together hold this share of the true mass.
TAIL_SHARE = 0.10
#: Uniform share mixed into the model when scoring its risk (a lost category costs log(K/0.01)).
RISK_FLOOR = 0.01


@dataclass(frozen=True)
class _Truth:
    p0: np.ndarray
    cum0: np.ndarray
    tail: np.ndarray  # boolean mask over categories
    tail_mass: float


def offset_inverse_cdf(p: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Draw category indices for each row of probabilities `p` (R, K) at uniforms `u` (R, m).

    One `searchsorted` over all rows at once: row r's cumulative sums are shifted by r so the
    concatenation stays sorted. Zero-probability categories are never drawn (side='right')."""
    r, k = p.shape
    cum = np.cumsum(p, axis=1)
    cum /= cum[:, -1:]
    offs = np.arange(r, dtype=float)[:, None]
    flat = (cum + offs).ravel()
    idx = np.searchsorted(flat, (u * (1 - 1e-12) + offs).ravel(), side="right").reshape(u.shape)
    return np.clip(idx - (np.arange(r) * k)[:, None], 0, k - 1)


class CategoricalFamily:
    """Zipf(s) over `categories` values, refitted by maximum likelihood from `samples` draws."""

    name = "categorical"

    def __init__(self, samples: int = 1000, categories: int = 1000, zipf: float = 1.1) -> None:
        if samples < 2:
            raise ValueError(f"samples (M) must be at least 2, got {samples}")
        if categories < 2:
            raise ValueError(f"categories (K) must be at least 2, got {categories}")
        if not zipf >= 0:
            raise ValueError(f"zipf exponent must be >= 0, got {zipf}")
        self.samples = int(samples)
        self.categories = int(categories)
        self.zipf = float(zipf)
        p0 = 1.0 / np.arange(1, self.categories + 1) ** self.zipf
        p0 /= p0.sum()
        cum_desc = np.cumsum(p0)  # p0 is already sorted descending
        tail = cum_desc > 1.0 - TAIL_SHARE
        self.truth = _Truth(p0=p0, cum0=cum_desc, tail=tail, tail_mass=float(p0[tail].sum()))
        self.metrics = (
            MetricSpec("risk_ratio", "kl", RISK, "up", relative=True,
                       description="KL(truth || model mixed with 1% uniform) relative to the "
                                   "real-data-only model"),
            MetricSpec("heterozygosity", "het", DIVERSITY, "down",
                       description="E[1 - sum p^2] (Wright-Fisher diversity)"),
            MetricSpec("entropy_ratio", "entropy", DIVERSITY, "down", relative=True,
                       description="entropy relative to the real-data-only model"),
            MetricSpec("support_retained", "support", TAIL, "down", relative=True,
                       description="categories with non-zero probability, relative to the "
                                   "real-data-only model"),
            MetricSpec("tail_mass_median", "tail", TAIL, "down", stat="median",
                       description="median model mass on the true 10% tail, over the true "
                                   "tail mass"),
        )

    def params_dict(self) -> dict[str, Any]:
        return {"samples": self.samples, "categories": self.categories, "zipf": self.zipf}

    def prepare(self, rng: np.random.Generator, runs: int) -> None:
        return None

    def real(self, rng: np.random.Generator, ctx: None, runs: int) -> np.ndarray:
        u = rng.random((runs, self.samples))
        idx = np.searchsorted(self.truth.cum0 / self.truth.cum0[-1], u, side="right")
        return np.minimum(idx, self.categories - 1)

    def sample(self, rng: np.random.Generator, ctx: None, params: np.ndarray,
               runs: int) -> np.ndarray:
        return offset_inverse_cdf(params, rng.random((runs, self.samples)))

    def stats(self, ctx: None, batch: np.ndarray) -> tuple[np.ndarray, ...]:
        r, k = batch.shape[0], self.categories
        keys = (batch + (np.arange(r) * k)[:, None]).ravel()
        return (np.bincount(keys, minlength=r * k).reshape(r, k).astype(float),)

    def fit(self, ctx: None, stats: tuple[np.ndarray, ...]) -> np.ndarray:
        (counts,) = stats
        return counts / counts.sum(axis=1, keepdims=True)

    def measure(self, ctx: None, params: np.ndarray, stats: Any) -> dict[str, np.ndarray]:
        (counts,) = stats
        p = params
        with np.errstate(divide="ignore", invalid="ignore"):
            ent = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)
        # A fixed uniform share (not add-k counts, whose weight shrinks as an accumulating pool
        # grows) keeps the risk finite for lost categories and comparable across regimes.
        smooth = (1.0 - RISK_FLOOR) * p + RISK_FLOOR / self.categories
        p0 = self.truth.p0
        kl = (p0 * (np.log(p0) - np.log(smooth))).sum(axis=1)
        return {
            "kl": kl,
            "het": 1.0 - np.square(p).sum(axis=1),
            "entropy": ent,
            "support": (p > 0).sum(axis=1).astype(float),
            "tail": p[:, self.truth.tail].sum(axis=1) / self.truth.tail_mass,
        }

    def closed_form(self, metric: str, regime: str, alphas: Sequence[float]) -> float | None:
        if metric != "heterozygosity":
            return None
        h0 = 1.0 - float(np.square(self.truth.p0).sum())
        g = len(alphas)
        m = self.samples
        if all(a == 0.0 for a in alphas):
            n_iid = (g + 1) * m if regime == "accumulate" else m
            return (1.0 - 1.0 / n_iid) * h0
        if all(a == 1.0 for a in alphas) and regime in ("replace", "fresh"):
            return (1.0 - 1.0 / m) ** (g + 1) * h0
        return None
