"""One estimate from several detectors, with an interval that shows where they disagree.

Each detector gives a group its own estimate and bootstrap replicates. Taking the narrowest, or
averaging the intervals, hides the one thing a second detector tells: whether the figure
depends on which detector is asked. The combination is a random-effects mean (DerSimonian and
Laird 1986): weights 1 / (v_i + tau^2), where v_i is a detector's bootstrap variance and tau^2
the between-detector variance beyond what the v_i explain (0 when they agree). Its interval,
+- 1.96 standard errors of that mean, therefore widens with their disagreement, and a detector
with a wide interval (weak separation) counts for little.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from auditor.estimate.result import COMBINED_STATUSES, Estimate, Status

Z95 = 1.959964


def random_effects(points: Sequence[float], variances: Sequence[float]
                   ) -> tuple[float, float, float]:
    """(combined point, its standard error, tau^2) of a DerSimonian-Laird random-effects mean."""
    f = np.asarray(points, float)
    v = np.maximum(np.asarray(variances, float), 1e-8)
    w = 1 / v
    mean_fixed = float(w @ f / w.sum())
    q = float(w @ (f - mean_fixed) ** 2)
    denom = float(w.sum() - (w @ w) / w.sum())
    tau2 = max(0.0, (q - (len(f) - 1)) / denom) if denom > 0 else 0.0
    ws = 1 / (v + tau2)
    return float(ws @ f / ws.sum()), math.sqrt(1 / ws.sum()), tau2


def combine_detectors(per_detector: dict[str, Sequence]) -> list[Estimate]:
    """Combined estimates from {detector: [db.GroupResult, ...]} (same groups in each)."""
    names = list(per_detector)
    first = per_detector[names[0]]
    if len(names) == 1:  # nothing to combine: that detector's estimates, headline included
        return [replace(g.estimate, notes=(*g.estimate.notes, f"combined: only {names[0]} "
                                           "is usable here")) for g in first]
    keyed = {d: {_key(g.estimate): g for g in rows} for d, rows in per_detector.items()}
    weights = {_key(g.estimate): g.weight_total for g in first}
    out = []
    for g in first:
        e = g.estimate
        if e.status == Status.OVERALL.value:  # the headline: of the combined rows, below
            out.append(_overall_of(out, weights, e))
            continue
        parts = [(d, keyed[d].get(_key(e))) for d in names]
        usable = [(d, x) for d, x in parts if x is not None
                  and x.estimate.status in (Status.ESTIMATED.value, Status.OTHER.value,
                                            Status.OVERALL.value)
                  and np.isfinite(x.estimate.fraction) and len(x.raw_replicates) > 1]
        if len(usable) < 2:
            out.append(replace(e, notes=(*e.notes, "combined: only one detector could "
                                         "estimate this group")))
            continue
        pts = [x.estimate.fraction for _, x in usable]
        var = [float(np.var(x.raw_replicates, ddof=1)) for _, x in usable]
        point, se, tau2 = random_effects(pts, var)
        point = min(max(point, 0.0), 1.0)
        lo, hi = max(0.0, point - Z95 * se), min(1.0, point + Z95 * se)
        detail = ", ".join(f"{d} {100 * p:.1f}%" for (d, _), p in zip(usable, pts, strict=True))
        out.append(replace(
            e, fraction=point, ci_low=lo, ci_high=hi, detector="+".join(d for d, _ in usable),
            method=f"combined:{e.method}", fraction_post=None, ci_low_post=None,
            ci_high_post=None,
            notes=(*e.notes, f"combined over detectors ({detail}); between-detector variance "
                   f"tau^2 = {tau2:.5f} widens the interval where they disagree")))
    return out


def _overall_of(rows: list[Estimate], weights: dict[str, float], e: Estimate) -> Estimate:
    """The headline as the weighted combination of the combined rows, as without combining
    (it was one detector's headline beside rows of all of them: 19.6% over rows of 30-48% on
    the demo corpus). No replicates survive combining, so its bounds are the weighted bounds
    of the rows: as if their errors moved together, wider than independent errors give."""
    parts = [(r, weights.get(_key(r), 0.0)) for r in rows
             if r.status in COMBINED_STATUSES
             and np.isfinite(r.fraction) and np.isfinite(r.ci_low) and np.isfinite(r.ci_high)]
    parts = [(r, w) for r, w in parts if w > 0]
    total = sum(w for _, w in parts)
    if total <= 0:
        return replace(e, notes=(*e.notes, "combined: no combined row to weigh; this is the "
                                 f"headline of detector {e.detector} alone"))
    point, lo, hi = (sum(getattr(r, a) * w for r, w in parts) / total
                     for a in ("fraction", "ci_low", "ci_high"))
    dets = sorted({d for r, _ in parts for d in r.detector.split("+")})
    return replace(e, fraction=point, ci_low=lo, ci_high=hi, detector="+".join(dets),
                   method=f"combined:{e.method}", fraction_post=None, ci_low_post=None,
                   ci_high_post=None,
                   notes=(*e.notes, "combined: the weighted combination of the combined rows; "
                          "its interval weighs their intervals (as if their errors moved "
                          "together: conservative)"))


def _key(e: Estimate) -> str:
    return repr(sorted(e.group.items()))


__all__ = ["combine_detectors", "random_effects"]
