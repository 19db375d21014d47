"""The inverse question: the largest synthetic share that keeps a metric within a tolerance.

"Within tolerance" is relative to the real-data-only model (generation 0) in the metric's bad
direction: a metric that degrades upward (risk, perplexity) must stay <= (1 + tolerance) times
its generation-0 value at every generation 1..N; one that degrades downward (variance, tail,
support, entropy) must stay >= (1 - tolerance) times it. The search bisects on a constant alpha
with the same random numbers at every alpha (see `regimes`), so the answer is stable in the seed;
its resolution is one sample of the per-generation batch (1/M) or `resolution`, whichever is
coarser.
"""

from __future__ import annotations

import math
from typing import Any

from auditor.collapse.family import make_family
from auditor.collapse.profile import DEFAULT_RUNS, metric_summary
from auditor.collapse.regimes import Family, check_regime, simulate


def _within(fam: Family, metric: str, tolerance: float, regime: str, alpha: float,
            generations: int, runs: int, seed: int) -> bool:
    spec = next(s for s in fam.metrics if s.name == metric)
    raw = simulate(fam, regime, (alpha,) * generations, runs, seed)
    base = metric_summary(spec, raw, 0)[0]
    for g in range(1, generations + 1):
        v = metric_summary(spec, raw, g)[0]
        ratio = v / base if base else math.inf
        if not math.isfinite(ratio):
            return False
        if spec.worse == "up" and ratio > 1.0 + tolerance:
            return False
        if spec.worse == "down" and ratio < 1.0 - tolerance:
            return False
    return True


def max_tolerable_alpha(metric: str, tolerance: float, generations: int, regime: str,
                        model: str | Family = "gaussian", *, seed: int = 0,
                        n_runs: int | None = None, resolution: float = 0.005,
                        **params: Any) -> float:
    """Largest constant alpha in [0, 1] keeping `metric` within `tolerance` for `generations`
    generations under `regime`; 0.0 when even real data alone does not (then the tolerance is
    tighter than the Monte Carlo noise or the sampling error of real data)."""
    if not tolerance > 0 or math.isinf(tolerance):
        raise ValueError(f"tolerance must be a positive relative change (0.05 = 5%), got {tolerance}")
    if isinstance(generations, bool) or generations < 1:
        raise ValueError(f"generations must be an integer >= 1, got {generations!r}")
    check_regime(regime)
    fam = make_family(model, **params) if isinstance(model, str) else model
    names = [s.name for s in fam.metrics]
    if metric not in names:
        raise ValueError(f"metric {metric!r} is not a {fam.name} metric; choose from "
                         f"{', '.join(names)}")
    runs = DEFAULT_RUNS.get(fam.name, 500) if n_runs is None else int(n_runs)
    if runs < 2:
        raise ValueError(f"n_runs must be at least 2, got {runs}")
    step = max(resolution, 1.0 / fam.samples)

    def ok(a: float) -> bool:
        return _within(fam, metric, tolerance, regime, a, generations, runs, seed)

    if ok(1.0):
        return 1.0
    if not ok(0.0):
        return 0.0
    lo, hi = 0.0, 1.0
    while hi - lo > step:
        mid = (lo + hi) / 2
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return round(lo, 4)
