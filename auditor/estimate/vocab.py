"""A reference-free lower bound on the synthetic share: excess vocabulary over time.

Kobak et al. 2024 / Liang et al. 2024: after LLMs appeared, words they overuse rose far above
their pre-LLM trend. Per source, let q(t) be the share of its documents in month t that contain
at least one such word (`detectors.excess_vocab`), and c(t) the counterfactual share from the
source's OWN pre-cutoff months (their pooled share, or their weighted linear trend when at least
`TREND_MIN_MONTHS` months are dated before the cutoff). Machine documents contain a marker with
some probability r <= 1 and human ones with c(t), so q(t) = (1 - p) c(t) + p r gives

    p >= (q(t) - c(t)) / (1 - c(t))          (Kobak et al.'s excess-gap bound)

No detector and no machine reference enter it: it cannot be fooled by a generator the detector
never saw. It is only a LOWER bound (r is well below 1: many machine documents use none of the
words), so the check is one-sided: where its lower 95% limit exceeds the detector estimate's
upper limit, the detector misses machine text there, and the group is flagged.

Uncertainty: binomial on each month's count (normal approximation), plus the counterfactual's own
standard error, taken as fully correlated across the months of one source (one trend for all).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

#: Pre-cutoff months needed before a linear trend replaces the pooled pre-cutoff share.
TREND_MIN_MONTHS = 4
#: Pre-cutoff documents a source needs for any counterfactual.
MIN_PRE_DOCS = 30
Z95 = 1.959964


@dataclass(frozen=True)
class Counterfactual:
    """The marker share a source would have had at month `t` without LLMs."""

    intercept: float
    slope: float  # per month (0 when pooled)
    t_mean: float
    sxx: float  # sum of n_i (t_i - t_mean)^2 (0 when pooled)
    n: int
    share: float  # pooled pre-cutoff share
    trend: bool

    def at(self, t: float) -> tuple[float, float]:
        """(counterfactual share, its standard error) at month index `t`, share in [0, 1)."""
        var_doc = max(self.share * (1 - self.share), 1.0 / max(self.n, 1))
        if self.trend:
            c = self.intercept + self.slope * (t - self.t_mean)
            var = var_doc * (1.0 / self.n + (t - self.t_mean) ** 2 / self.sxx)
        else:
            c, var = self.share, var_doc / self.n
        return min(max(c, 0.0), 0.999), math.sqrt(var)


def counterfactual(pre_months: Iterable[tuple[float, int, int]]) -> Counterfactual | None:
    """From (month index, documents, documents with a marker) of the pre-cutoff months."""
    rows = [(t, n, k) for t, n, k in pre_months if n > 0]
    n = sum(r[1] for r in rows)
    if n < MIN_PRE_DOCS:
        return None
    k = sum(r[2] for r in rows)
    share = k / n
    t_mean = sum(t * m for t, m, _ in rows) / n
    sxx = sum(m * (t - t_mean) ** 2 for t, m, _ in rows)
    if len(rows) >= TREND_MIN_MONTHS and sxx > 0:
        slope = sum(m * (t - t_mean) * (kk / m - share) for t, m, kk in rows) / sxx
        return Counterfactual(share, slope, t_mean, sxx, n, share, True)
    return Counterfactual(share, 0.0, t_mean, 0.0, n, share, False)


@dataclass(frozen=True)
class VocabBound:
    """Lower bound on the machine share of a group (whole group, like `Estimate.fraction`)."""

    fraction: float
    ci_low: float
    ci_high: float
    n_post: int
    trend: bool


def lower_bound(cells: Iterable[tuple[str, float, int, int]], cfs: dict[str, Counterfactual],
                n_docs: int) -> VocabBound | None:
    """Bound for a group from its post-cutoff cells (source, month index, documents, with a
    marker); `n_docs` is the group's whole size (pre-cutoff documents count as human). None when
    no cell has a counterfactual."""
    excess, var_count = 0.0, 0.0
    cf_sd: dict[str, float] = {}
    n_post, trend = 0, False
    for source, t, n, k in cells:
        cf = cfs.get(source)
        if cf is None or n == 0:
            continue
        c, sd = cf.at(t)
        q = k / n
        excess += (k - n * c) / (1 - c)
        var_count += n * max(q * (1 - q), 1.0 / n) / (1 - c) ** 2
        # d excess / d c = -n (1 - q) / (1 - c)^2 ; summed per source (one trend, correlated)
        cf_sd[source] = cf_sd.get(source, 0.0) + n * (1 - q) / (1 - c) ** 2 * sd
        n_post += n
        trend = trend or cf.trend
    if n_post == 0 or n_docs <= 0:
        return None
    se = math.sqrt(var_count + sum(v * v for v in cf_sd.values())) / n_docs
    point = excess / n_docs
    return VocabBound(min(max(point, 0.0), 1.0), min(max(point - Z95 * se, 0.0), 1.0),
                      min(max(point + Z95 * se, 0.0), 1.0), n_post, trend)


def month_index(month: str | None) -> float | None:
    """`YYYY-MM` -> months since year 0 (None for undated)."""
    if not month or len(month) < 7:
        return None
    try:
        return int(month[:4]) * 12 + int(month[5:7]) - 1
    except ValueError:
        return None


__all__ = ["Counterfactual", "VocabBound", "counterfactual", "lower_bound", "month_index"]
