"""Gaussian fitting: each generation estimates a mean and a variance from `M` samples.

The family of Shumailov et al. (Nature 2024), where the closed forms come from: with the
unbiased variance, sigma_n^2 is sigma^2 times a product of independent chi^2_{M-1}/(M-1)
factors, so E[sigma_n] = c_M^n sigma with c_M = sqrt(2/(M-1)) Gamma(M/2)/Gamma((M-1)/2), E[sigma_n^2]
stays sigma^2 (carried by rare paths: the median collapses), and E[(mu_n - mu)^2] = n sigma^2/M.
With the maximum-likelihood variance, E[sigma_n^2] = ((M-1)/M)^n sigma^2. Here n counts fits,
so our generation g (g retrainings after the real-data model) is n = g + 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import gammaln, ndtr

from auditor.collapse.metrics import RISK, TAIL, VARIANCE, MetricSpec

#: Two-sided 1% quantile of the standard normal: each true tail holds 0.5% of the mass.
TAIL_Z = 2.5758293035489004


def c_m(m: int) -> float:
    """E[s]/sigma for the unbiased sample standard deviation of `m` normal samples."""
    return float(np.exp(0.5 * np.log(2.0 / (m - 1)) + gammaln(m / 2.0) - gammaln((m - 1) / 2.0)))


class GaussianFamily:
    """Fit N(mu, sigma^2) to `samples` draws per generation; the truth is N(mu, sigma^2)."""

    name = "gaussian"

    def __init__(self, samples: int = 100, variance: str = "unbiased",
                 mu: float = 0.0, sigma: float = 1.0) -> None:
        if samples < 2:
            raise ValueError(f"samples (M) must be at least 2 to estimate a variance, got {samples}")
        if variance not in ("unbiased", "ml"):
            raise ValueError(f"variance must be 'unbiased' or 'ml', got {variance!r}")
        if not sigma > 0:
            raise ValueError(f"sigma must be positive, got {sigma}")
        self.samples = int(samples)
        self.variance = variance
        self.mu = float(mu)
        self.sigma = float(sigma)
        self.metrics = (
            MetricSpec("risk_ratio", "kl", RISK, "up", relative=True,
                       description="E[KL(truth || model)] relative to the real-data-only model"),
            MetricSpec("mean_sq_error", "sq_err", RISK, "up",
                       description="E[(mu_g - mu)^2] / sigma^2"),
            MetricSpec("sigma", "sigma", VARIANCE, "down",
                       description="E[sigma_g] / sigma"),
            MetricSpec("variance_median", "variance", VARIANCE, "down", stat="median",
                       description="median sigma_g^2 / sigma^2"),
            MetricSpec("variance_mean", "variance", VARIANCE, "down",
                       description="E[sigma_g^2] / sigma^2 (unbiased: carried by rare paths)"),
            MetricSpec("tail_retained", "tail", TAIL, "down", relative=True,
                       description="model mass in the thinner of the two true 0.5% tails "
                                   "(a drifting mean empties one tail, a shrinking variance "
                                   "both), relative to the real-data-only model"),
        )

    def params_dict(self) -> dict[str, Any]:
        return {"samples": self.samples, "variance": self.variance}

    def prepare(self, rng: np.random.Generator, runs: int) -> None:
        return None

    def real(self, rng: np.random.Generator, ctx: None, runs: int) -> np.ndarray:
        return rng.normal(self.mu, self.sigma, size=(runs, self.samples))

    def sample(self, rng: np.random.Generator, ctx: None, params: Any, runs: int) -> np.ndarray:
        mu, s = params
        return mu[:, None] + s[:, None] * rng.standard_normal((runs, self.samples))

    def stats(self, ctx: None, batch: np.ndarray) -> tuple[np.ndarray, ...]:
        x = batch - self.mu  # centred: keeps the sum of squares well conditioned
        n = np.full(batch.shape[0], float(batch.shape[1]))
        return n, x.sum(axis=1), np.square(x).sum(axis=1)

    def fit(self, ctx: None, stats: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
        n, s1, s2 = stats
        mean = s1 / n
        ss = np.maximum(s2 - n * mean * mean, 0.0)
        var = ss / (n - 1) if self.variance == "unbiased" else ss / n
        return self.mu + mean, np.sqrt(var)

    def measure(self, ctx: None, params: Any, stats: Any) -> dict[str, np.ndarray]:
        mu, s = params
        d = (mu - self.mu) / self.sigma
        r = s / self.sigma
        with np.errstate(divide="ignore"):
            kl = np.log(r) + (1.0 + d * d) / (2.0 * r * r) - 0.5
            tail = np.minimum(ndtr((-TAIL_Z - d) / r), ndtr((d - TAIL_Z) / r)) / 0.005
        return {"kl": kl, "sq_err": d * d, "sigma": r, "variance": r * r, "tail": tail}

    def closed_form(self, metric: str, regime: str, alphas: Sequence[float]) -> float | None:
        """Exact expectation of `metric` at generation len(alphas), where one is known."""
        g = len(alphas)
        m = self.samples
        q = (m - 1) / m
        c = c_m(m) if self.variance == "unbiased" else c_m(m) * np.sqrt(q)
        v1 = 1.0 if self.variance == "unbiased" else q
        all_one = all(a == 1.0 for a in alphas)
        all_zero = all(a == 0.0 for a in alphas)
        if all_zero and regime == "accumulate":
            big = (g + 1) * m  # all real: one fit on (g+1)M iid samples
            return {
                "mean_sq_error": 1.0 / big,
                "sigma": c_m(big) if self.variance == "unbiased" else c_m(big) * np.sqrt((big - 1) / big),
                "variance_mean": 1.0 if self.variance == "unbiased" else (big - 1) / big,
            }.get(metric)
        if all_zero:  # every generation is one fit on M iid real samples, like generation 0
            return {"mean_sq_error": 1.0 / m, "sigma": c, "variance_mean": v1,
                    "risk_ratio": 1.0, "tail_retained": 1.0}.get(metric)
        if all_one and regime in ("replace", "fresh"):
            n = g + 1
            if metric == "sigma":
                return float(c**n)
            if metric == "variance_mean":
                return float(v1**n)
            if metric == "mean_sq_error":
                return float(n / m) if self.variance == "unbiased" else float(
                    sum(q**k for k in range(n)) / m)
        return None
