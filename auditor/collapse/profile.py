"""The collapse profile: per regime, generation and metric, a value with its band, the method
that produced it and the definition of collapse it belongs to.

This is the one result type of projection that reports and the CLI read. Monte Carlo rows are
always there; a closed-form row is added wherever the literature has an exact expectation for
that regime, alpha path and metric, so the two can be read side by side.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from auditor.collapse.family import make_family
from auditor.collapse.metrics import MetricSpec, ratio_of_means, summarize
from auditor.collapse.regimes import REGIMES, Family, check_regime, simulate
from auditor.collapse.schedule import AlphaInput, resolve_alpha

#: Monte Carlo runs per family when the caller gives none: enough for tight bands in seconds.
DEFAULT_RUNS: dict[str, int] = {"gaussian": 2000, "linear": 1000, "categorical": 300, "corpus": 4}

CLOSED_FORM = "closed form"
MONTE_CARLO = "monte carlo"


@dataclass(frozen=True)
class ProfileRow:
    """One number of the profile. `low`/`high` is a 95% band: the Monte Carlo interval of the
    statistic, widened to cover the values at both ends of alpha's confidence interval."""

    regime: str
    generation: int
    alpha: float  # synthetic share in this generation's new data (0 at generation 0)
    metric: str
    value: float
    low: float
    high: float
    method: str  # "closed form" | "monte carlo"
    definition: str  # which definition of collapse the metric belongs to
    stat: str  # "mean" | "median" | "ratio of means"


@dataclass(frozen=True)
class CollapseProfile:
    model: str
    params: dict[str, Any]
    regimes: tuple[str, ...]
    generations: int
    alphas: tuple[float, ...]
    alpha_low: tuple[float, ...] | None
    alpha_high: tuple[float, ...] | None
    alpha_kind: str
    n_runs: int
    seed: int
    metrics: tuple[dict[str, Any], ...]
    rows: tuple[ProfileRow, ...]
    mix: dict[str, dict[str, float]] | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["rows"] = [asdict(r) for r in self.rows]
        for k in ("regimes", "alphas", "alpha_low", "alpha_high", "metrics", "notes"):
            if d[k] is not None:
                d[k] = list(d[k])
        return d

    def to_json(self, indent: int | None = 2) -> str:
        def clean(x: Any) -> Any:
            if isinstance(x, float) and not np.isfinite(x):
                return None  # JSON has no NaN/inf
            if isinstance(x, dict):
                return {k: clean(v) for k, v in x.items()}
            if isinstance(x, list):
                return [clean(v) for v in x]
            return x
        return json.dumps(clean(self.to_dict()), indent=indent)

    def row(self, regime: str, generation: int, metric: str,
            method: str = MONTE_CARLO) -> ProfileRow:
        """The row for one cell; KeyError naming the cell when it is not in the profile."""
        for r in self.rows:
            if (r.regime, r.generation, r.metric, r.method) == (regime, generation, metric, method):
                return r
        raise KeyError(f"no {method} row for regime={regime} generation={generation} "
                       f"metric={metric}")

    def series(self, regime: str, metric: str, method: str = MONTE_CARLO) -> list[ProfileRow]:
        return sorted((r for r in self.rows if (r.regime, r.metric, r.method)
                       == (regime, metric, method)), key=lambda r: r.generation)

    def plot(self, path: str | Path, metrics: Sequence[str] | None = None) -> Path:
        """Write a PNG: one panel per metric, one line per regime, the band shaded."""
        from auditor.collapse.plot import plot_profile

        return plot_profile(self, path, metrics)


def metric_summary(spec: MetricSpec, raw: dict[str, np.ndarray],
                   g: int) -> tuple[float, float, float]:
    """Value and 95% interval of one metric at generation `g` from raw per-run arrays."""
    values = raw[spec.raw]
    if spec.relative:
        return ratio_of_means(values[g], values[0])
    return summarize(values[g], spec.stat)


def _regimes(regimes: str | Sequence[str]) -> tuple[str, ...]:
    if isinstance(regimes, str):
        regimes = REGIMES if regimes == "all" else (regimes,)
    out = tuple(check_regime(r) for r in regimes)
    if not out:
        raise ValueError("at least one regime is needed")
    return out


def collapse_profile(
    alpha: AlphaInput,
    regimes: str | Sequence[str] = REGIMES,
    generations: int = 10,
    model: str | Family = "gaussian",
    alpha_ci: tuple[Any, Any] | None = None,
    seed: int = 0,
    n_runs: int | None = None,
    **params: Any,
) -> CollapseProfile:
    """Project what training on data with synthetic share `alpha` does over `generations`.

    `alpha`: a float in [0, 1], a per-source mix {source: (share_of_corpus, fraction)}, or a
    schedule (one alpha per generation). `alpha_ci` (same shape as alpha: two floats, or two
    schedules) is carried through as a band by rerunning the Monte Carlo at both ends with the
    same random numbers. `model` is a family name ("gaussian", "linear", "categorical",
    "corpus") built from `params` (samples, dim, noise, variance, categories, zipf, texts, ...)
    or a family instance (reuse a fitted corpus model across calls).
    """
    path = resolve_alpha(alpha, generations, alpha_ci)
    regs = _regimes(regimes)
    fam = make_family(model, **params) if isinstance(model, str) else model
    if params and not isinstance(model, str):
        raise ValueError("pass model parameters to the family, not with a family instance")
    runs = DEFAULT_RUNS.get(fam.name, 500) if n_runs is None else int(n_runs)
    if runs < 2:
        raise ValueError(f"n_runs must be at least 2 (a band needs a spread), got {runs}")

    rows: list[ProfileRow] = []
    for regime in regs:
        raw = simulate(fam, regime, path.alphas, runs, seed)
        raw_lo = simulate(fam, regime, path.low, runs, seed) if path.low else None
        raw_hi = simulate(fam, regime, path.high, runs, seed) if path.high else None
        for g in range(generations + 1):
            a = path.alphas[g - 1] if g else 0.0
            for spec in fam.metrics:
                stat = "ratio of means" if spec.relative else spec.stat
                v, lo, hi = metric_summary(spec, raw, g)
                ends: list[float] = []
                if raw_lo is not None and raw_hi is not None:
                    ends = [metric_summary(spec, raw_lo, g)[0], metric_summary(spec, raw_hi, g)[0]]
                    lo, hi = min(lo, *ends), max(hi, *ends)
                rows.append(ProfileRow(regime, g, a, spec.name, v, lo, hi, MONTE_CARLO,
                                       spec.definition, stat))
                cf = fam.closed_form(spec.name, regime, path.alphas[:g])
                if cf is None:
                    continue
                cf_ends = [cf]
                for i, other in enumerate(o for o in (path.low, path.high) if o is not None):
                    x = fam.closed_form(spec.name, regime, other[:g])
                    # no closed form at that end of alpha's interval: its Monte Carlo value
                    cf_ends.append(ends[i] if x is None else x)
                rows.append(ProfileRow(regime, g, a, spec.name, float(cf), float(min(cf_ends)),
                                       float(max(cf_ends)), CLOSED_FORM, spec.definition,
                                       "mean" if spec.stat == "mean" or spec.relative else spec.stat))
    metrics = tuple(
        {"name": s.name, "definition": s.definition, "worse": s.worse, "stat": s.stat,
         "relative": s.relative, "description": s.description} for s in fam.metrics)
    return CollapseProfile(
        model=fam.name, params=fam.params_dict(), regimes=regs, generations=int(generations),
        alphas=path.alphas, alpha_low=path.low, alpha_high=path.high, alpha_kind=path.kind,
        n_runs=runs, seed=int(seed), metrics=metrics, rows=tuple(rows), mix=path.mix,
        notes=path.notes)
