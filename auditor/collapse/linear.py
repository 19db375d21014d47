"""Linear regression: each generation fits ordinary least squares to `T` labelled samples.

The setting of Gerstgrasser et al. (2024, "Is model collapse inevitable?"): dimension d, design
X (T x d, iid standard normal entries) fixed across generations, labels y = X w + noise of
variance sigma^2; a model labels the same design with its own weights plus the same noise. The
excess test error (isotropic inputs) of the real-data fit is sigma^2 d / (T - d - 1); after n
fits it is n times that under replace, and sum_{k<=n} 1/k^2 times that (bounded by pi^2/6) under
accumulate. Here n counts fits, so our generation g is n = g + 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from auditor.collapse.metrics import RISK, MetricSpec


class LinearFamily:
    """OLS on `samples` (T) rows of dimension `dim` with label noise variance `noise`."""

    name = "linear"

    def __init__(self, samples: int = 100, dim: int = 10, noise: float = 1.0) -> None:
        if dim < 1:
            raise ValueError(f"dim (d) must be at least 1, got {dim}")
        if samples < 2:
            raise ValueError(f"samples (T) must be at least 2, got {samples}")
        if samples <= dim + 1:
            raise ValueError(
                f"samples (T={samples}) must exceed dim + 1 = {dim + 1} for least squares to "
                "have a finite expected error; raise --samples or lower --dim")
        if not noise > 0:
            raise ValueError(f"noise (sigma^2) must be positive, got {noise}")
        self.samples = int(samples)
        self.dim = int(dim)
        self.noise = float(noise)
        self.w = np.ones(self.dim) / np.sqrt(self.dim)
        self.metrics = (
            MetricSpec("risk_ratio", "sq_err", RISK, "up", relative=True,
                       description="excess test error relative to the real-data-only model"),
            MetricSpec("excess_risk", "sq_err", RISK, "up",
                       description="E||w_g - w||^2 (excess test error, isotropic inputs)"),
        )

    def params_dict(self) -> dict[str, Any]:
        return {"samples": self.samples, "dim": self.dim, "noise": self.noise}

    def prepare(self, rng: np.random.Generator, runs: int) -> np.ndarray:
        return rng.standard_normal((runs, self.samples, self.dim))  # the fixed design, per run

    def _label(self, rng: np.random.Generator, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        y = np.einsum("rtd,rd->rt", x, w) + np.sqrt(self.noise) * rng.standard_normal(x.shape[:2])
        return np.concatenate([x, y[..., None]], axis=2)

    def real(self, rng: np.random.Generator, ctx: np.ndarray, runs: int) -> np.ndarray:
        return self._label(rng, ctx, np.broadcast_to(self.w, (runs, self.dim)))

    def sample(self, rng: np.random.Generator, ctx: np.ndarray, params: np.ndarray,
               runs: int) -> np.ndarray:
        return self._label(rng, ctx, params)

    def stats(self, ctx: np.ndarray, batch: np.ndarray) -> tuple[np.ndarray, ...]:
        x, y = batch[..., :-1], batch[..., -1]
        return np.einsum("rti,rtj->rij", x, x), np.einsum("rti,rt->ri", x, y)

    def fit(self, ctx: np.ndarray, stats: tuple[np.ndarray, ...]) -> np.ndarray:
        xtx, xty = stats
        return np.linalg.solve(xtx, xty[..., None])[..., 0]

    def subsample(self, rng: np.random.Generator, pool: np.ndarray, m: int) -> np.ndarray:
        """Fixed-compute sample of an accumulated pool under a fixed design: for every design
        row, the label of one pooled batch drawn at random. A plain sample of rows would repeat
        some design points and drop others, degrading the fit even with no synthetic data."""
        runs, total = pool.shape[:2]
        batches = total // m
        pick = rng.integers(0, batches, size=(runs, m)) * m + np.arange(m)
        return pool[np.arange(runs)[:, None], pick]

    def measure(self, ctx: np.ndarray, params: np.ndarray, stats: Any) -> dict[str, np.ndarray]:
        return {"sq_err": np.square(params - self.w).sum(axis=1)}

    def baseline_risk(self) -> float:
        """sigma^2 E tr((X^T X)^-1) = sigma^2 d / (T - d - 1) (inverse-Wishart mean)."""
        return self.noise * self.dim / (self.samples - self.dim - 1)

    def closed_form(self, metric: str, regime: str, alphas: Sequence[float]) -> float | None:
        g = len(alphas)
        n = g + 1
        ratio: float | None = None
        if all(a == 0.0 for a in alphas):
            ratio = 1.0 / n if regime == "accumulate" else 1.0
        elif all(a == 1.0 for a in alphas):
            if regime in ("replace", "fresh"):
                ratio = float(n)
            elif regime == "accumulate":
                ratio = float(sum(1.0 / k**2 for k in range(1, n + 1)))
        if ratio is None:
            return None
        if metric == "risk_ratio":
            return ratio
        if metric == "excess_risk":
            return ratio * self.baseline_risk()
        return None
