"""What a collapse metric is, which definition of collapse it belongs to, and how its Monte Carlo
runs are summarised into a value with a 95% band.

The literature disagrees about model collapse largely because papers measure different things
(a variance shrinking, a risk growing, a tail vanishing, a perplexity rising). Every number the
tool prints therefore carries the definition it belongs to, taken from `DEFINITIONS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

VARIANCE = "variance collapse"
DIVERSITY = "diversity collapse"
RISK = "population risk increase"
TAIL = "tail/support loss"
PERPLEXITY = "perplexity on real data"

#: The definitions of collapse a metric can belong to.
DEFINITIONS: tuple[str, ...] = (VARIANCE, DIVERSITY, RISK, TAIL, PERPLEXITY)

Stat = Literal["mean", "median"]
Direction = Literal["up", "down"]


@dataclass(frozen=True)
class MetricSpec:
    """One metric of a model family.

    `raw` names the per-run quantity the family measures; `relative` divides the statistic at
    each generation by the same statistic at generation 0 (the model trained on real data only),
    which is how "relative to a real-data-only model" is computed (a ratio of means, as in the
    papers, not a mean of per-run ratios). `worse` says which direction is degradation, so the
    inverse question (`max_tolerable_alpha`) knows what "within tolerance" means.
    """

    name: str
    raw: str
    definition: str
    worse: Direction
    stat: Stat = "mean"
    relative: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        if self.definition not in DEFINITIONS:
            raise ValueError(f"metric {self.name}: unknown definition {self.definition!r}")
        if self.relative and self.stat != "mean":
            raise ValueError(f"metric {self.name}: relative metrics are ratios of means")


Z95 = 1.959963984540054


def summarize(values: np.ndarray, stat: Stat) -> tuple[float, float, float]:
    """Point estimate and 95% interval of `stat` over Monte Carlo runs.

    Mean: normal interval on the standard error. Median: the distribution-free interval from
    order statistics (binomial ranks), because the median is what we report where means are
    carried by rare paths (unbiased-variance Gaussian chains, neutral drift of tail mass).
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    n = v.size
    if n == 0:
        return (float("nan"),) * 3
    if stat == "mean":
        m = float(v.mean())
        se = float(v.std(ddof=1) / np.sqrt(n)) if n > 1 else 0.0
        return m, m - Z95 * se, m + Z95 * se
    s = np.sort(v)
    med = float(np.median(s))
    half = Z95 * np.sqrt(n) / 2.0
    lo = int(np.clip(np.floor(n / 2.0 - half), 0, n - 1))
    hi = int(np.clip(np.ceil(n / 2.0 + half), 0, n - 1))
    return med, float(s[lo]), float(s[hi])


def ratio_of_means(num: np.ndarray, den: np.ndarray) -> tuple[float, float, float]:
    """E[num] / E[den] over paired runs, with a delta-method 95% interval.

    Paired because generation g and generation 0 come from the same run; the covariance term
    makes the interval much tighter than treating them as independent.
    """
    a = np.asarray(num, dtype=float)
    b = np.asarray(den, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    n = a.size
    if n == 0 or b.mean() == 0:
        return (float("nan"),) * 3
    r = float(a.mean() / b.mean())
    if n < 2:
        return r, r, r
    cov = np.cov(a, b, ddof=1)
    var = (cov[0, 0] - 2 * r * cov[0, 1] + r * r * cov[1, 1]) / (n * b.mean() ** 2)
    se = float(np.sqrt(max(var, 0.0)))
    return r, r - Z95 * se, r + Z95 * se
