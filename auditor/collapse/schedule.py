"""The synthetic share alpha of each generation, from what the user or the store gives.

alpha can be a constant, a per-source mix (source -> (share of corpus, synthetic fraction)),
or a schedule (one alpha per generation), e.g. extrapolated from per-crawl-month estimates with
`schedule_from_monthly`, because the share of generated text on the web keeps growing and a
constant underestimates what later generations will train on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from auditor.estimate.result import Estimate, Status

#: Rows of a by-month estimate that are not one month's estimate.
_NOT_A_MONTH = (Status.OTHER.value, Status.TOO_FEW.value)

AlphaInput = float | Mapping[str, Sequence[float]] | Sequence[float]


@dataclass(frozen=True)
class AlphaPath:
    """Per-generation synthetic shares (generation 1..G), with the band ends when known."""

    alphas: tuple[float, ...]
    low: tuple[float, ...] | None
    high: tuple[float, ...] | None
    kind: str  # "constant" | "mix" | "schedule"
    mix: dict[str, dict[str, float]] | None = None
    notes: tuple[str, ...] = ()


def _share(x: Any, what: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float, np.floating, np.integer)):
        raise ValueError(f"{what} must be a number in [0, 1], got {x!r}")
    v = float(x)
    if not (0.0 <= v <= 1.0) or math.isnan(v):
        raise ValueError(f"{what} must be in [0, 1] (a synthetic share), got {v}")
    return v


def mix_alpha(mix: Mapping[str, Sequence[float]]) -> tuple[float, dict[str, dict[str, float]]]:
    """Corpus-level alpha of a per-source mix: the share-weighted mean of the sources' fractions.

    Every source feeds the same training mixture, so the next model sees synthetic text at this
    overall share; the per-source detail is kept for reports."""
    if not mix:
        raise ValueError("a per-source mix needs at least one source -> (share, fraction)")
    detail: dict[str, dict[str, float]] = {}
    for source, pair in mix.items():
        if not isinstance(pair, Sequence) or len(pair) != 2:
            raise ValueError(
                f"source {source!r}: expected (share_of_corpus, synthetic_fraction), got {pair!r}")
        share = float(pair[0])
        if not share >= 0 or math.isinf(share):
            raise ValueError(f"source {source!r}: share of corpus must be >= 0, got {pair[0]!r}")
        detail[str(source)] = {"share": share,
                               "fraction": _share(pair[1], f"source {source!r} fraction")}
    total = sum(d["share"] for d in detail.values())
    if total <= 0:
        raise ValueError("per-source mix: the shares of corpus sum to 0")
    for d in detail.values():
        d["share"] /= total
    return sum(d["share"] * d["fraction"] for d in detail.values()), detail


def _path(alpha: Any, generations: int, what: str) -> tuple[tuple[float, ...], str, Any, list[str]]:
    notes: list[str] = []
    if isinstance(alpha, Mapping):
        a, detail = mix_alpha(alpha)
        return (a,) * generations, "mix", detail, notes
    if isinstance(alpha, (str, bytes)):
        raise ValueError(f"{what} must be a number, a per-source mix or a schedule, got {alpha!r}")
    if isinstance(alpha, Sequence) or isinstance(alpha, np.ndarray):
        seq = [_share(x, f"{what}[{i}]") for i, x in enumerate(alpha)]
        if len(seq) < generations:
            raise ValueError(
                f"{what} schedule has {len(seq)} alphas but {generations} generations were "
                "asked: give one alpha per generation or lower generations")
        if len(seq) > generations:
            notes.append(f"schedule has {len(seq)} alphas; the first {generations} were used")
        return tuple(seq[:generations]), "schedule", None, notes
    return (_share(alpha, what),) * generations, "constant", None, notes


def resolve_alpha(alpha: AlphaInput, generations: int,
                  alpha_ci: tuple[Any, Any] | None = None) -> AlphaPath:
    """Validate alpha (and its band) and expand it to one share per generation."""
    if isinstance(generations, bool) or not isinstance(generations, (int, np.integer)) \
            or generations < 1:
        raise ValueError(f"generations must be an integer >= 1, got {generations!r}")
    alphas, kind, detail, notes = _path(alpha, int(generations), "alpha")
    low = high = None
    if alpha_ci is not None:
        if not isinstance(alpha_ci, Sequence) or len(alpha_ci) != 2:
            raise ValueError(f"alpha_ci must be a pair (low, high), got {alpha_ci!r}")
        low, _, _, _ = _path(alpha_ci[0], int(generations), "alpha_ci low")
        high, _, _, _ = _path(alpha_ci[1], int(generations), "alpha_ci high")
        for g, (lo, a, hi) in enumerate(zip(low, alphas, high, strict=True), start=1):
            if not lo <= a <= hi:
                raise ValueError(
                    f"alpha_ci must contain alpha: generation {g} has low={lo}, alpha={a}, "
                    f"high={hi}")
    return AlphaPath(alphas, low, high, kind, detail, tuple(notes))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 5e-3, 1 - 5e-3)  # a measured 0 is "below detection", not -infinity
    return np.log(p / (1 - p))


def schedule_from_monthly(estimates: Sequence[Estimate], generations: int, *,
                          months_per_generation: int = 12, field: str = "fraction") -> list[float]:
    """Extrapolate per-crawl-month synthetic fractions into a per-generation schedule.

    Fits a straight line to logit(fraction) against month index (weighted by documents), i.e.
    logistic growth, which is bounded in [0, 1] and grows fastest in the middle as adoption
    curves do; generation g is `months_per_generation * g` months after the latest month. With a
    single month (or a flat trend) the schedule is constant. `field` picks "fraction", "ci_low"
    or "ci_high", so the band can be extrapolated the same way.
    """
    if generations < 1:
        raise ValueError(f"generations must be >= 1, got {generations}")
    if months_per_generation < 1:
        raise ValueError(f"months_per_generation must be >= 1, got {months_per_generation}")
    if field not in ("fraction", "ci_low", "ci_high"):
        raise ValueError(f"field must be fraction, ci_low or ci_high, got {field!r}")
    points: list[tuple[int, float, float, float]] = []
    for i, e in enumerate(estimates):
        month = (e.group or {}).get("crawl_month")
        if month is None or getattr(e, "status", None) in _NOT_A_MONTH:
            continue  # the pooled "other" row and too-small months carry no monthly point
        try:
            year, mon = (int(x) for x in str(month).split("-")[:2])
        except ValueError as exc:
            raise ValueError(
                f"estimate {i}: crawl_month {month!r} is not 'YYYY-MM'") from exc
        points.append((year * 12 + mon - 1, float(e.fraction), float(getattr(e, field)),
                       max(e.n_docs, 1)))
    if not points:
        raise ValueError(
            "no estimate carries a crawl_month group: estimate with by=('crawl_month',) first "
            "(documents need crawl dates)")
    points.sort()
    if all(p[2] == 0.0 for p in points):
        return [0.0] * generations  # nothing synthetic measured: no growth to extrapolate
    t = np.array([p[0] for p in points], dtype=float)
    y_mid = _logit(np.array([p[1] for p in points]))
    y = _logit(np.array([p[2] for p in points]))
    w = np.array([p[3] for p in points], dtype=float)
    # The slope always comes from the point estimates, so band ends extrapolated with the same
    # slope stay on their side of the middle; only the level is fitted to `field`.
    slope = 0.0 if len(np.unique(t)) < 2 else float(np.polyfit(t, y_mid, 1, w=np.sqrt(w))[0])
    last = float(np.average(y - slope * t, weights=w)) + slope * t.max()
    gens = np.arange(1, generations + 1) * months_per_generation
    sched = 1.0 / (1.0 + np.exp(-(last + slope * gens)))
    return [float(np.clip(a, 0.0, 1.0)) for a in sched]
