"""Cells -> groups: the arithmetic that makes a table's rows and its headline agree.

A cell is the documents of one group that come from one source. Every source has one human
reference (its own pre-cutoff documents, a borrowed one, ...), so a cell is the unit a method
can estimate. A group's figure is then a weighted sum of its cells, and the overall figure the
weighted sum of the groups, so the headline can never contradict its rows.

What a cell contributes: its documents dated before the cutoff are human by assumption (weight
`pre`, estimated 0); the others (post-cutoff or undated, scored) are the target `post`, whose
machine share the method estimates. The whole-group share is sum(f_c * post_c) / sum(post_c +
pre_c); the post-cutoff share divides by sum(post_c) only.

Uncertainty: each bootstrap replicate resamples the machine reference once, every source's human
reference once, and every cell's target; a source's reference draw is shared by all its cells,
so the reference error is correlated across the groups it feeds, as it is in reality. Replicates
are summed cell by cell in the same way as the points.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from auditor.estimate.bootstrap import Hist, Interval, interval_from
from auditor.estimate.methods import Quantifier, ShiftedMixtureMLE, make
from auditor.estimate.references import MIN_FLOOR_DOCS


@dataclass(frozen=True)
class Cell:
    """One group's documents from one source."""

    group: tuple
    source: str
    post: Hist  # scored documents not before the cutoff: the target
    pre_weight: float  # documents (or tokens) before the cutoff: human by assumption
    n_docs: int  # every document of the cell (pre, post, unscored)
    n_pre: int  # every document before the cutoff, scored or not
    n_tokens: float
    unscored: int = 0  # documents after the cutoff without a score: not in the estimate
    unscored_pre: int = 0  # documents before the cutoff without a score: not in it either


@dataclass(frozen=True)
class SourceFit:
    """The references one source's cells are estimated with, and the method for them.

    `machine` (with `machine_scores`, its raw scores for `mlms`) is the source's own machine
    reference (machine text written from its documents, `auditor.estimate.generated`); None:
    the shared one given to `estimate_cells`."""

    human: Hist
    method: str
    machine: Hist | None = None
    machine_scores: np.ndarray | None = None


@dataclass(frozen=True)
class CellEstimates:
    """Raw (unclipped) point estimates per cell and their bootstrap replicates (cells x n_boot);
    nan for cells with an empty target or no reference."""

    points: np.ndarray
    replicates: np.ndarray
    #: the same under the worst admissible down-shift of the machine component
    #: (`ShiftedMixtureMLE.upper_many`); equal to points/replicates for other methods
    upper_points: np.ndarray | None = None
    upper_replicates: np.ndarray | None = None


def _upper(q: Quantifier, targets: np.ndarray, plain: np.ndarray) -> np.ndarray:
    """The down-shifted estimates of `targets` where the method has them, else `plain`."""
    return q.upper_many(targets) if isinstance(q, ShiftedMixtureMLE) else plain


def estimate_cells(cells: Sequence[Cell], fits: dict[str, SourceFit], machine: Hist,
                   n_boot: int, seed: int,
                   factory: Callable[[str], Quantifier] = make,
                   machine_scores: np.ndarray | None = None,
                   edges: np.ndarray | None = None) -> CellEstimates:
    """Points and replicates for every cell; cells whose source has no fit stay nan.

    `machine_scores` (raw scores of the machine reference, a sample is enough) and `edges` feed
    the shifted mixture (`mlms`); each replicate resamples them as it resamples the histogram.
    """
    base_factory = factory

    def factory(name: str, ms: np.ndarray | None = machine_scores) -> Quantifier:
        if name == ShiftedMixtureMLE.name:
            return ShiftedMixtureMLE(ms, edges)
        return base_factory(name)

    n = len(cells)
    points = np.full(n, np.nan)
    reps = np.full((n, n_boot), np.nan)
    upper = np.full(n, np.nan)
    upper_reps = np.full((n, n_boot), np.nan)
    by_source: dict[str, list[int]] = {}
    for i, c in enumerate(cells):
        if c.source in fits and c.post.n > 0:
            by_source.setdefault(c.source, []).append(i)
    sources = sorted(by_source)
    own = {s for s in sources if fits[s].machine is not None}
    for s in sources:
        idx = by_source[s]
        f = fits[s]
        q = (factory(f.method, f.machine_scores).fit(f.human.weight, f.machine.weight)
             if s in own else factory(f.method).fit(f.human.weight, machine.weight))
        targets = np.stack([cells[i].post.weight for i in idx])
        points[idx] = q.quantify_raw_many(targets)
        upper[idx] = _upper(q, targets, points[idx])
    rng = np.random.default_rng(seed)
    for b in range(n_boot):
        m = machine.resample(rng)
        ms = (None if machine_scores is None
              else rng.choice(machine_scores, machine_scores.size, replace=True))
        for s in sources:
            idx = by_source[s]
            f = fits[s]
            h = f.human.resample(rng)
            if s in own:  # the source's own machine reference, resampled the same way
                ms_s = (None if f.machine_scores is None else
                        rng.choice(f.machine_scores, f.machine_scores.size, replace=True))
                m_s = f.machine.resample(rng)
            else:
                ms_s, m_s = ms, m
            targets = np.stack([cells[i].post.resample(rng).weight for i in idx])
            try:
                q = factory(f.method, ms_s).fit(h.weight, m_s.weight)
            except ValueError:  # a replicate emptied a tiny reference
                continue
            reps[idx, b] = q.quantify_raw_many(targets)
            upper_reps[idx, b] = _upper(q, targets, reps[idx, b])
    return CellEstimates(points, reps, upper, upper_reps)


@dataclass(frozen=True)
class Combined:
    """A group's whole-group and post-cutoff shares with intervals, from its cells."""

    whole: Interval
    post: Interval | None  # None when the group has no estimable post-cutoff documents
    post_weight: float
    pre_weight: float
    raw_replicates: np.ndarray  # whole-group replicates before clipping (for `combine_groups`)
    #: True when the upper ends were raised for a machine reference that may score higher than
    #: the group's machine text (`ShiftedMixtureMLE.upper_many`)
    widened_for_mismatch: bool = False


def _weighted(ok: list[int], w: np.ndarray, points: np.ndarray,
              replicates: np.ndarray) -> tuple[float, np.ndarray]:
    """Weighted raw sum of the cells `ok` and its replicates (replicates where some cell failed
    are dropped rather than counted as 0)."""
    r = replicates[ok]
    good = np.all(np.isfinite(r), axis=0)
    return float(w @ points[ok]), (w @ np.where(np.isfinite(r), r, 0.0))[good]


def _raise_upper(iv: Interval, upper: Interval) -> tuple[Interval, bool]:
    """`iv` with its upper end raised to `upper`'s where that is higher (point unchanged)."""
    if not np.isfinite(upper.ci_high) or upper.ci_high <= iv.ci_high + 1e-12:
        return iv, False
    return Interval(iv.fraction, iv.ci_low, upper.ci_high, iv.one_sided, iv.replicates), True


def combine_cells(idx: Sequence[int], cells: Sequence[Cell], est: CellEstimates) -> Combined:
    """Weighted combination of the cells `idx` (cells without an estimate are left out of the
    post-cutoff target; their pre-cutoff documents still count as human)."""
    idx = list(idx)
    pre = float(sum(cells[i].pre_weight for i in idx))
    ok = [i for i in idx if np.isfinite(est.points[i])]
    w = np.array([cells[i].post.weight.sum() for i in ok], dtype=float)
    post = float(w.sum())
    if post <= 0:
        zero = Interval(0.0, 0.0, 0.0, True, np.zeros(0))
        return Combined(zero, None, 0.0, pre, np.zeros(0))
    raw, raw_reps = _weighted(ok, w, est.points, est.replicates)
    whole = interval_from(raw / (post + pre), raw_reps / (post + pre))
    post_iv = interval_from(raw / post, raw_reps / post)
    widened = widened_post = False
    if est.upper_points is not None and est.upper_replicates is not None:
        # the upper end also covers machine text that scores lower than the machine reference
        up, up_reps = _weighted(ok, w, est.upper_points, est.upper_replicates)
        whole, widened = _raise_upper(whole, interval_from(up / (post + pre),
                                                           up_reps / (post + pre)))
        post_iv, widened_post = _raise_upper(post_iv, interval_from(up / post, up_reps / post))
    return Combined(
        whole=whole, post=post_iv,
        post_weight=post, pre_weight=pre, raw_replicates=raw_reps / (post + pre),
        widened_for_mismatch=widened or widened_post)


def combine_groups(parts: Sequence[tuple[float, float, np.ndarray]]) -> Interval:
    """The overall share from groups given as (reported fraction, total weight, replicates):
    the point is exactly the weighted mean of the reported (clipped) group fractions, so the
    headline equals the combination of its rows; the interval comes from the summed replicates
    (replicate i of every group shares its reference draws, see `estimate_cells`)."""
    parts = [p for p in parts if p[1] > 0 and np.isfinite(p[0])]
    total = sum(w for _, w, _ in parts)
    if total <= 0:
        return Interval(float("nan"), float("nan"), float("nan"), False, np.zeros(0))
    point = sum(f * w for f, w, _ in parts) / total
    # a row without replicates is a fixed value (a pre-cutoff group: 0 by assumption)
    n = min((len(r) for _, _, r in parts if len(r)), default=0)
    reps = (sum(w * (np.asarray(r[:n]) if len(r) else np.full(n, f)) for f, w, r in parts)
            / total) if n else np.zeros(0)
    return interval_from(point, np.asarray(reps, dtype=float))


def floor_of(method: str, fit_on: Hist | None, machine: Hist, held: Hist | None,
             factory: Callable[[str], Quantifier] = make) -> float | None:
    """The estimate on documents known to be human (held-out pre-cutoff), or None when there
    are fewer than `MIN_FLOOR_DOCS`: the false-positive floor of this reference, which should
    read 0."""
    if fit_on is None or held is None or held.n < MIN_FLOOR_DOCS or fit_on.n == 0:
        return None
    try:
        q = factory(method).fit(fit_on.weight, machine.weight)
    except ValueError:
        return None
    value = q.quantify(held.weight)
    return None if not np.isfinite(value) else float(value)


__all__ = ["Cell", "CellEstimates", "Combined", "SourceFit", "combine_cells", "combine_groups",
           "estimate_cells", "floor_of"]
