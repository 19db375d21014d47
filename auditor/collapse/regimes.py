"""One recursion over the training mixture of each generation, shared by every model family.

Generation 0 is a model trained on `M` real samples only: the baseline every relative metric
divides by. Generation g >= 1 trains on a mixture built from the previous model's output, at the
synthetic share alpha_g of that generation, and real data:

- ``replace``: the training set is replaced each generation: a share alpha_g of `M` samples from
  model g-1, the rest the *original* real data kept (Shumailov et al. 2024's "x% of the original
  data kept"; Alemohammad et al. 2024's synthetic augmentation loop). At alpha = 1 this is the
  fully synthetic chain of the collapse papers.
- ``accumulate``: every generation adds `M` new samples (alpha_g synthetic, the rest fresh real)
  to a pool that starts with the real data, and trains on the whole pool (Gerstgrasser et al.
  2024).
- ``accumulate-subsample``: the same growing pool, but each generation trains on `M` samples
  drawn from it without replacement: fixed compute (Kazdan et al. 2024). A family may define
  `subsample` when its samples are not exchangeable (linear regression's fixed design).
- ``fresh``: each generation trains on `M` samples: alpha_g from model g-1, the rest *new* real
  data (Alemohammad et al.'s fresh data loop).

Why replace keeps the original real data: if its real share were fresh, replace and fresh would
be the same recursion; keeping the original data is also what the quoted OPT-125m experiment
did. At alpha = 1 the two coincide, as they should.

Random streams are split by purpose (real draws, synthetic draws, subsampling) and every stream
draws full-size batches whatever alpha is, so two alphas or two regimes run with the same seed
share their random numbers (common random numbers): curves over alpha are smooth, which the
inverse question's bisection relies on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from auditor.collapse.metrics import MetricSpec

REGIMES: tuple[str, ...] = ("replace", "accumulate", "accumulate-subsample", "fresh")


class Family(Protocol):
    """What a model family provides to the recursion. A batch is an array whose axis 0 is the
    Monte Carlo run and axis 1 the sample; `stats` are additive sufficient statistics (a tuple
    of arrays), so accumulating a pool never keeps the raw data except for subsampling."""

    name: str
    samples: int
    metrics: tuple[MetricSpec, ...]

    def prepare(self, rng: np.random.Generator, runs: int) -> Any: ...

    def real(self, rng: np.random.Generator, ctx: Any, runs: int) -> np.ndarray: ...

    def sample(self, rng: np.random.Generator, ctx: Any, params: Any, runs: int) -> np.ndarray: ...

    def stats(self, ctx: Any, batch: np.ndarray) -> tuple[np.ndarray, ...]: ...

    def fit(self, ctx: Any, stats: tuple[np.ndarray, ...]) -> Any: ...

    def measure(
        self, ctx: Any, params: Any, stats: tuple[np.ndarray, ...]
    ) -> dict[str, np.ndarray]: ...


def check_regime(regime: str) -> str:
    if regime not in REGIMES:
        raise ValueError(f"unknown regime {regime!r}; choose one of {', '.join(REGIMES)}")
    return regime


def _add(a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    return tuple(x + y for x, y in zip(a, b, strict=True))


def simulate(
    family: Family, regime: str, alphas: Sequence[float], runs: int, seed: int
) -> dict[str, np.ndarray]:
    """Run `runs` independent chains of len(alphas) generations; return each raw quantity the
    family measures as an array of shape (generations + 1, runs), row 0 being generation 0."""
    check_regime(regime)
    if runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")
    streams = np.random.SeedSequence(seed).spawn(4)
    prep_rng, real_rng, syn_rng, sub_rng = (np.random.default_rng(s) for s in streams)
    ctx = family.prepare(prep_rng, runs)
    m = family.samples

    base = family.real(real_rng, ctx, runs)
    stats = family.stats(ctx, base)
    params = family.fit(ctx, stats)
    measured = [family.measure(ctx, params, stats)]
    pool_stats = stats
    pool: list[np.ndarray] = [base]

    for alpha in alphas:
        m_syn = int(round(float(alpha) * m))
        m_real = m - m_syn
        fresh = family.real(real_rng, ctx, runs)
        synthetic = family.sample(syn_rng, ctx, params, runs)
        real_part = (base if regime == "replace" else fresh)[:, :m_real]
        batch = np.concatenate([real_part, synthetic[:, m_real:]], axis=1)
        if regime in ("replace", "fresh"):
            train = family.stats(ctx, batch)
        elif regime == "accumulate":
            pool_stats = _add(pool_stats, family.stats(ctx, batch))
            train = pool_stats
        else:  # accumulate-subsample
            pool.append(batch)
            everything = np.concatenate(pool, axis=1)
            own = getattr(family, "subsample", None)
            if own is not None:  # a family whose samples are not exchangeable (fixed design)
                chosen = own(sub_rng, everything, m)
            else:
                idx = np.argsort(sub_rng.random((runs, everything.shape[1])), axis=1)[:, :m]
                chosen = everything[np.arange(runs)[:, None], idx]
            train = family.stats(ctx, chosen)
        params = family.fit(ctx, train)
        measured.append(family.measure(ctx, params, train))

    return {k: np.stack([g[k] for g in measured]) for k in measured[0]}
