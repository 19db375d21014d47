"""Quantification methods: the share of machine text in a target, corrected for detector error.

Every method here works on *histograms* of detector scores over one common set of bins (counts or
token sums per bin), because that is what DuckDB hands back for a billion documents. Each is a
small class in the scikit-learn style: parameters in `__init__`, `fit(human, machine)` on the two
reference histograms, learned state with a trailing underscore, `quantify(target)` -> prevalence
clipped to [0, 1]. Definitions follow QuaPy (Moreo, Esuli, Sebastiani):

- `cc`   classify and count: share of the target above one threshold. The biased baseline: at a
         true 0 it reads the false-positive rate, and its slope against the truth is TPR - FPR.
- `acc`  adjusted classify and count: (cc - fpr) / (tpr - fpr), rates from the references.
- `pcc`  probabilistic classify and count: mean calibrated posterior over the target.
- `pacc` probabilistic adjusted: pcc corrected by the mean posterior on each reference.
- `em`   Saerens-Latinne-Decaestecker EM: re-weights the posteriors to the target's prior until
         the prior is a fixed point.
- `hdy`  HDy (Gonzalez-Castro et al.): the mixture of the two reference histograms closest to the
         target in Hellinger distance, median over several bin resolutions.
- `mlm`  mixture maximum likelihood (the corpus-level estimator of Liang et al., ICML 2024,
         applied to binned detector scores): maximise sum_b t_b log(p m_b + (1 - p) h_b).
- `mlms` the same with the machine component allowed to shift to higher scores (machine text
         from generators more extreme than the reference), decided by a likelihood-ratio test;
         its `upper_many` (used only for the upper end of an interval) shifts the machine
         component DOWN instead, to `MIN_MACHINE_AUC` at most.

The threshold of cc/acc is the bin edge that maximises TPR - FPR on the references (Youden),
because detector scores are not all probabilities. Posteriors for pcc/pacc/em are the detector's
score calibrated per bin on the two references with equal class weight (histogram binning, so
the training prior is 1/2). With these posteriors EM's fixed point is the mixture MLE on the same
bins: the two differ in algorithm (and EM stops at a tolerance), not in target. The `*_scores`
helpers build the bins from raw score arrays so the methods are usable on scores too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import brentq, minimize_scalar

#: The least separation (AUC of machine over human scores) the machine component is assumed to
#: keep when it is shifted DOWN for the upper end of an interval (`ShiftedMixtureMLE.upper_many`).
#: From measured out-of-fold detector behaviour on TRAINING repositories, never from the
#: estimation corpora or the demo: in reports/oof_scores.md (`scripts/oof_scores.py`) every
#: held-out repository's machine text still separates from human text at target AUROC >= 0.708
#: (lowest fast-detect-gpt 0.708, Binoculars 0.744; pooled 0.864). A target's machine text may
#: score lower than the shipped machine reference (new generators) and the point estimate then
#: reads low; the upper end must cover that case down to this floor, not beyond it.
MIN_MACHINE_AUC = 0.70
#: Pseudo-documents spread evenly over the bins of a reference before it is used as a density:
#: an empty reference bin would otherwise make a target document in it impossible under one
#: class. Kept to one document in all: a larger pseudo-count (0.5 per bin, say) pulls the two
#: densities together and biases the mixture estimate toward 0 by several points.
SMOOTHING = 1.0


#: Safeguarded Newton steps of the vectorised shifted mixture: the score is smooth and concave
#: in the fraction, so Newton converges in a handful of steps (tests compare it with brentq).
MLE_STEPS = 24

#: Where unclipped estimates may range (see `Quantifier.quantify_raw`).
RAW_RANGE = (-1.0, 2.0)


def _as_hist(x: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} histogram must be one-dimensional, got shape {arr.shape}")
    if arr.size and (not np.all(np.isfinite(arr)) or arr.min() < 0):
        raise ValueError(f"{name} histogram must hold finite non-negative weights")
    return arr


def _density(hist: np.ndarray, smoothing: float | None = None) -> np.ndarray:
    smoothing = SMOOTHING if smoothing is None else smoothing
    h = hist + smoothing / max(hist.size, 1) * (hist.sum() > 0)
    total = h.sum()
    return h / total if total > 0 else np.full(h.size, 1.0 / max(h.size, 1))


def _clip(p: float) -> float:
    if not np.isfinite(p):
        return float("nan")
    return float(min(1.0, max(0.0, p)))


def youden_cut(human: np.ndarray, machine: np.ndarray) -> tuple[int, float, float]:
    """Index k of the first bin counted as machine (bins >= k), with its TPR and FPR.

    Chosen to maximise TPR - FPR on the references; ties go to the higher cut (fewer false
    positives).
    """
    h = human / max(human.sum(), 1e-300)
    m = machine / max(machine.sum(), 1e-300)
    # tail sums: share at or above each bin index, plus the empty tail at index B
    fpr = np.concatenate([np.cumsum(h[::-1])[::-1], [0.0]])
    tpr = np.concatenate([np.cumsum(m[::-1])[::-1], [0.0]])
    j = tpr - fpr
    k = int(np.flatnonzero(j >= j.max() - 1e-12)[-1])
    return k, float(tpr[k]), float(fpr[k])


def binned_posteriors(human: np.ndarray, machine: np.ndarray) -> np.ndarray:
    """P(machine | bin) under a prior of 1/2: histogram-binning calibration of the score.

    Each reference is normalised (so the training prior is exactly 1/2, what EM assumes) and
    lightly smoothed (`SMOOTHING`). Platt scaling on the score rank was tried first: on beta-
    distributed scores it was miscalibrated enough to bias EM by 2 points at 5-20%.
    """
    h, m = _density(human), _density(machine)
    return m / (m + h)


class Quantifier:
    """Base class: `fit` on the human and machine reference histograms, then `quantify`."""

    name = "base"
    label = "base"

    def fit(self, human: Sequence[float], machine: Sequence[float]) -> Quantifier:
        h = _as_hist(human, "human reference")
        m = _as_hist(machine, "machine reference")
        if h.size != m.size:
            raise ValueError(f"reference histograms differ in bins: {h.size} vs {m.size}")
        if h.sum() <= 0 or m.sum() <= 0:
            raise ValueError("both reference histograms need at least one document")
        self.human_, self.machine_ = h, m
        self._fit()
        return self

    def _fit(self) -> None:
        """Learned state beyond the two histograms; optional."""

    def quantify(self, target: Sequence[float]) -> float:
        """The target's machine fraction, clipped to [0, 1] (nan for an empty target)."""
        return _clip(self.quantify_raw(target))

    def quantify_raw(self, target: Sequence[float]) -> float:
        """The estimate before clipping to [0, 1], where the method has one (acc, pacc, mlm).

        The bootstrap works on these: clipping every replicate at 0 piles them up there and the
        percentile interval of a fraction that is truly 0 would then exclude 0 whenever the point
        estimate came out a little positive. Clipping only the reported numbers keeps coverage.
        """
        t = _as_hist(target, "target")
        if not hasattr(self, "human_"):
            raise RuntimeError(f"{type(self).__name__}.quantify called before fit")
        if t.size != self.human_.size:
            raise ValueError(f"target has {t.size} bins, references have {self.human_.size}")
        if t.sum() <= 0:
            return float("nan")
        return float(self._quantify(t / t.sum()))

    def _quantify(self, t: np.ndarray) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def quantify_raw_many(self, targets: np.ndarray) -> np.ndarray:
        """`quantify_raw` of every row of a (targets x bins) matrix; nan for empty rows.

        Estimation quantifies hundreds of groups per bootstrap replicate against one fitted
        reference pair; methods override `_quantify_many` with a vectorised form where the
        per-row loop would dominate.
        """
        t = np.atleast_2d(np.asarray(targets, dtype=float))
        if t.shape[1] != self.human_.size:
            raise ValueError(f"targets have {t.shape[1]} bins, references have {self.human_.size}")
        sums = t.sum(axis=1)
        out = np.full(t.shape[0], np.nan)
        ok = sums > 0
        if ok.any():
            out[ok] = self._quantify_many(t[ok] / sums[ok, None])
        return out

    def _quantify_many(self, t: np.ndarray) -> np.ndarray:
        return np.array([self._quantify(row) for row in t], dtype=float)

    # Score-array convenience: bins from the references' quantiles.
    def fit_scores(self, human_scores: Sequence[float], machine_scores: Sequence[float],
                   n_bins: int | None = None) -> Quantifier:
        self.edges_ = reference_edges(human_scores, machine_scores, n_bins)
        return self.fit(histogram(human_scores, self.edges_), histogram(machine_scores, self.edges_))

    def quantify_scores(self, target_scores: Sequence[float]) -> float:
        return self.quantify(histogram(target_scores, self.edges_))


class CC(Quantifier):
    name, label = "cc", "classify and count (biased baseline)"

    def _fit(self) -> None:
        self.cut_, self.tpr_, self.fpr_ = youden_cut(self.human_, self.machine_)

    def _quantify(self, t: np.ndarray) -> float:
        return float(t[self.cut_:].sum())


class ACC(CC):
    name, label = "acc", "adjusted classify and count"

    def _quantify(self, t: np.ndarray) -> float:
        denom = self.tpr_ - self.fpr_
        cc = float(t[self.cut_:].sum())
        return (cc - self.fpr_) / denom if denom > 1e-9 else cc

    def _quantify_many(self, t: np.ndarray) -> np.ndarray:
        denom = self.tpr_ - self.fpr_
        cc = t[:, self.cut_:].sum(axis=1)
        return (cc - self.fpr_) / denom if denom > 1e-9 else cc


class PCC(Quantifier):
    name, label = "pcc", "probabilistic classify and count"

    def _fit(self) -> None:
        self.posterior_ = binned_posteriors(self.human_, self.machine_)

    def _quantify(self, t: np.ndarray) -> float:
        return float(t @ self.posterior_)


class PACC(PCC):
    name, label = "pacc", "probabilistic adjusted classify and count"

    def _fit(self) -> None:
        super()._fit()
        self.mean_h_ = float(self.human_ @ self.posterior_ / self.human_.sum())
        self.mean_m_ = float(self.machine_ @ self.posterior_ / self.machine_.sum())

    def _quantify(self, t: np.ndarray) -> float:
        denom = self.mean_m_ - self.mean_h_
        pcc = float(t @ self.posterior_)
        return (pcc - self.mean_h_) / denom if denom > 1e-9 else pcc


class EM(PCC):
    """SLD expectation maximisation; training prior 1/2 (Platt fitted with equal class weight)."""

    name, label = "em", "EM (Saerens-Latinne-Decaestecker)"

    def __init__(self, tol: float = 1e-7, max_iter: int = 1000) -> None:
        self.tol, self.max_iter = tol, max_iter

    def _quantify(self, t: np.ndarray) -> float:
        p = np.clip(self.posterior_, 1e-12, 1 - 1e-12)
        prior = 0.5
        for _ in range(self.max_iter):
            num = prior / 0.5 * p
            q = num / (num + (1 - prior) / 0.5 * (1 - p))
            new = float(t @ q)
            if abs(new - prior) < self.tol:
                prior = new
                break
            prior = new
        # EM approaches 0 and 1 only in the limit: snap so the one-sided bound applies there
        return 0.0 if prior < 1e-5 else 1.0 if prior > 1 - 1e-5 else prior


class HDy(Quantifier):
    """Hellinger-distance mixture fit, median over coarser and coarser bins (QuaPy's HDy)."""

    name, label = "hdy", "HDy (Hellinger distance on score histograms)"

    def __init__(self, resolutions: Sequence[int] = (10, 20, 30, 40, 50, 60, 70, 80, 90, 100)):
        self.resolutions = tuple(resolutions)

    def _fit(self) -> None:
        n_bins = self.human_.size
        sizes = sorted({min(r, n_bins) for r in self.resolutions if r >= 2} or {n_bins})
        # consecutive fine bins merged into `size` coarse bins
        self.groups_ = [np.array_split(np.arange(n_bins), s) for s in sizes]
        self.coarse_ = [
            (_density(np.array([self.human_[g].sum() for g in grp]), 0.0),
             _density(np.array([self.machine_[g].sum() for g in grp]), 0.0))
            for grp in self.groups_
        ]

    def _quantify(self, t: np.ndarray) -> float:
        found = []
        for grp, (h, m) in zip(self.groups_, self.coarse_, strict=True):
            tc = np.array([t[g].sum() for g in grp])

            def distance(p: float, h=h, m=m, tc=tc) -> float:
                return float(np.sum((np.sqrt(p * m + (1 - p) * h) - np.sqrt(tc)) ** 2))

            res = minimize_scalar(distance, bounds=(0.0, 1.0), method="bounded",
                                  options={"xatol": 1e-6})
            ends = [(distance(0.0), 0.0), (distance(1.0), 1.0), (res.fun, float(res.x))]
            found.append(min(ends)[1])
        return float(np.median(found))


class MixtureMLE(Quantifier):
    """Maximum likelihood of a two-component mixture of the (smoothed) reference histograms.

    The log-likelihood is concave in the fraction, so its derivative is decreasing: the maximum
    is at 0, at 1, or at the derivative's single root.
    """

    name, label = "mlm", "mixture maximum likelihood (Liang et al. 2024 on scores)"

    def _fit(self) -> None:
        self.h_ = _density(self.human_)
        self.m_ = _density(self.machine_)

    def _quantify(self, t: np.ndarray) -> float:
        diff = self.m_ - self.h_
        # the mixture stays a density for fractions a little outside [0, 1]: search there too
        # (within RAW_RANGE) so that an unclipped estimate exists for the bootstrap
        with np.errstate(divide="ignore"):
            lo = max([RAW_RANGE[0], *(-self.h_[diff > 0] / diff[diff > 0])])
            hi = min([RAW_RANGE[1], *(self.h_[diff < 0] / -diff[diff < 0])])
        lo, hi = lo + 1e-9 * (hi - lo), hi - 1e-9 * (hi - lo)

        def slope(p: float) -> float:
            return float(np.sum(t * diff / (p * self.m_ + (1 - p) * self.h_)))

        if slope(lo) <= 0:
            return lo
        if slope(hi) >= 0:
            return hi
        return float(brentq(slope, lo, hi, xtol=1e-10))

    def _bounds(self) -> tuple[float, float]:
        diff = self.m_ - self.h_
        with np.errstate(divide="ignore"):
            lo = max([RAW_RANGE[0], *(-self.h_[diff > 0] / diff[diff > 0])])
            hi = min([RAW_RANGE[1], *(self.h_[diff < 0] / -diff[diff < 0])])
        return lo + 1e-9 * (hi - lo), hi - 1e-9 * (hi - lo)

    def _quantify_many(self, t: np.ndarray) -> np.ndarray:
        """Bisection on the (decreasing) score of every row at once: 60 halvings of a range of
        at most 3 leave an error below 1e-17, as tight as `brentq` above."""
        diff = self.m_ - self.h_
        lo, hi = self._bounds()

        def slope(p: np.ndarray) -> np.ndarray:
            return np.sum(t * diff / (p[:, None] * self.m_ + (1 - p[:, None]) * self.h_), axis=1)

        a = np.full(t.shape[0], lo)
        b = np.full(t.shape[0], hi)
        at_lo = slope(a) <= 0
        at_hi = slope(b) >= 0
        for _ in range(60):
            mid = (a + b) / 2
            up = slope(mid) > 0
            a = np.where(up, mid, a)
            b = np.where(up, b, mid)
        return np.where(at_lo, lo, np.where(at_hi, hi, (a + b) / 2))


class ShiftedMixtureMLE(MixtureMLE):
    """Mixture MLE whose machine component may be SHIFTED along the score axis.

    Machine text from generators and domains unlike the machine reference scores higher (more
    extreme) or lower (more human-looking) than that reference, and the plain mixture MLE then
    over- or under-estimates by a factor (reports/estimation.md, leave-one-repository-out). The
    human side is the source's own references and stays fixed; the machine side is the
    reference's scores moved by delta, for delta on a grid of `GRID` steps of `STEP` machine-
    reference standard deviations. Each delta gets its mixture MLE, and the shift is taken only
    when it raises the log-likelihood of the target by more than `MIN_GAIN` over delta = 0 (a
    likelihood-ratio test at about 1%), so a target the reference fits keeps the plain estimate
    and a pure-human target (where delta is not identified) cannot pick one.

    Needs the machine reference's raw scores and the bin edges (`machine_scores`, `edges`);
    without them it is the plain mixture MLE.
    """

    name, label = "mlms", "mixture MLE with a shifted machine component"
    GRID = 12
    STEP = 0.25
    MIN_GAIN = 8.0
    #: A down-shift is admissible for the upper end while the target's log-likelihood under it
    #: is within this of the best down-shift: chi-squared(1) 95% / 2, a profile-likelihood 95%
    #: set over the shift ("as far as the evidence allows")
    ADMIT_GAIN = 1.92
    UP_ONLY = True

    def __init__(self, machine_scores: Sequence[float] | None = None,
                 edges: np.ndarray | None = None) -> None:
        self.machine_scores = None if machine_scores is None else np.asarray(machine_scores, float)
        self.edges = edges

    def _fit(self) -> None:
        super()._fit()
        self.shifts_ = [(0.0, self.m_)]
        self.down_shifts_: list[tuple[float, np.ndarray]] = []
        ms = self.machine_scores
        if ms is None or self.edges is None or ms.size < 2:
            return
        sd = float(np.std(ms)) or 1.0
        ordered = np.sort(ms)
        edges = np.asarray(self.edges, float)
        def shifted(d: float) -> tuple[np.ndarray, np.ndarray]:
            # bins of (score + d) = bins of score against edges - d: a search of the edges in
            # the sorted scores, not of every score in the edges (same side rule as `histogram`)
            cum = np.searchsorted(ordered, edges - d, side="left")
            hist = np.diff(np.concatenate([[0], cum, [ordered.size]])).astype(float)
            return hist, _density(hist)

        for k in range(1 if self.UP_ONLY else -self.GRID, self.GRID + 1):
            if k == 0:
                continue
            self.shifts_.append((k * self.STEP * sd, shifted(k * self.STEP * sd)[1]))
        # down-shifts for the upper end: as far as the shifted machine component still separates
        # from the human reference by MIN_MACHINE_AUC (binned AUC, ties counted half)
        h = self.human_ / max(self.human_.sum(), 1e-300)
        for k in range(1, 4 * self.GRID + 1):
            hist, dens = shifted(-k * self.STEP * sd)
            m = hist / max(hist.sum(), 1e-300)
            auc = float(m @ (np.cumsum(h) - h) + 0.5 * (m @ h))
            if auc < MIN_MACHINE_AUC:
                break
            self.down_shifts_.append((-k * self.STEP * sd, dens))

    def _best(self, t: np.ndarray) -> tuple[float, float]:
        def loglik(p: float, m: np.ndarray) -> float:
            mix = np.clip(p * m + (1 - p) * self.h_, 1e-300, None)
            return float(t @ np.log(mix))

        base = MixtureMLE.__new__(MixtureMLE)
        base.h_ = self.h_
        results = []
        for d, m in self.shifts_:
            base.m_ = m
            p = MixtureMLE._quantify(base, t)
            results.append((loglik(min(max(p, 0.0), 1.0), m), p, d))
        ll0, p0, _ = results[0]
        ll, p, d = max(results)
        # t is normalised: the log-likelihood gain of the whole target is n times the mean
        if (ll - ll0) * getattr(self, "n_target_", 1.0) > self.MIN_GAIN:
            return p, d
        return p0, 0.0

    def shift(self, target: Sequence[float]) -> float:
        """The machine-score shift chosen for `target` (0 when none beats the reference)."""
        t = np.asarray(target, float)
        self.n_target_ = float(t.sum())
        return self._best(t / max(t.sum(), 1e-300))[1]

    def quantify_raw(self, target: Sequence[float]) -> float:
        self.n_target_ = float(np.sum(target))
        return super().quantify_raw(target)

    def _mle_stack(self, m: np.ndarray, tn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw MLE fractions and mean log-likelihoods (both shifts x rows) for every machine
        density of `m` (shifts x bins) and every normalised target row of `tn`."""
        h = self.h_
        diff = m - h
        with np.errstate(divide="ignore", invalid="ignore"):
            lo_c = np.where(diff > 0, -h / np.where(diff > 0, diff, 1), -np.inf).max(axis=1)
            hi_c = np.where(diff < 0, h / np.where(diff < 0, -diff, 1), np.inf).min(axis=1)
        lo = np.maximum(RAW_RANGE[0], lo_c)
        hi = np.minimum(RAW_RANGE[1], hi_c)
        lo, hi = lo + 1e-9 * (hi - lo), hi - 1e-9 * (hi - lo)

        def slope(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # p: shifts x rows
            ratio = diff[:, None, :] / (p[:, :, None] * m[:, None, :]
                                        + (1 - p[:, :, None]) * h)
            return (np.sum(tn[None] * ratio, axis=2),
                    -np.sum(tn[None] * ratio * ratio, axis=2))

        rows = tn.shape[0]
        a = np.repeat(lo[:, None], rows, axis=1)
        b = np.repeat(hi[:, None], rows, axis=1)
        at_lo, at_hi = slope(a)[0] <= 0, slope(b)[0] >= 0
        # safeguarded Newton on the decreasing score: a Newton step when it stays inside the
        # bracket, else bisection; the bracket shrinks every step (a few steps, not 60)
        x = (a + b) / 2
        for _ in range(MLE_STEPS):
            g, dg = slope(x)
            a = np.where(g > 0, x, a)
            b = np.where(g > 0, b, x)
            with np.errstate(divide="ignore", invalid="ignore"):
                newton = x - g / dg
            inside = np.isfinite(newton) & (newton > a) & (newton < b)
            x = np.where(inside, newton, (a + b) / 2)
        p = np.where(at_lo, a, np.where(at_hi, b, x))
        pc = np.clip(p, 0.0, 1.0)[:, :, None]
        ll = np.sum(tn[None] * np.log(np.clip(pc * m[:, None, :] + (1 - pc) * h, 1e-300, None)),
                    axis=2)  # shifts x rows
        return p, ll

    def upper_many(self, targets: np.ndarray) -> np.ndarray:
        """Per target row, the largest raw MLE fraction over machine components shifted DOWN
        (0 included) that the target does not reject (log-likelihood within `ADMIT_GAIN` of the
        best of them), no further than `MIN_MACHINE_AUC` separation from the human reference.

        Machine text that scores lower than the reference looks more human, so the plain
        estimate reads low; this is the estimate under the worst down-shift the evidence and
        the measured detector floor allow, used only for the upper end of an interval.
        """
        t = np.atleast_2d(np.asarray(targets, dtype=float))
        n = t.sum(axis=1)
        out = np.full(t.shape[0], np.nan)
        ok = n > 0
        if not ok.any():
            return out
        tn = t[ok] / n[ok, None]
        dens = [self.m_] + [d for _, d in self.down_shifts_]
        p, ll = self._mle_stack(np.stack(dens), tn)
        admissible = (ll.max(axis=0)[None] - ll) * n[ok][None] <= self.ADMIT_GAIN
        out[ok] = np.where(admissible, p, -np.inf).max(axis=0)
        return out

    def quantify_raw_many(self, targets: np.ndarray) -> np.ndarray:
        """Every row and every shift at once: one bisection over a (shifts x rows) array of
        fractions (60 halvings, as `MixtureMLE._quantify_many`), then the test per row."""
        t = np.atleast_2d(np.asarray(targets, dtype=float))
        n = t.sum(axis=1)
        out = np.full(t.shape[0], np.nan)
        ok = n > 0
        if not ok.any():
            return out
        tn = t[ok] / n[ok, None]  # rows x bins
        p, ll = self._mle_stack(np.stack([d for _, d in self.shifts_]), tn)
        best = np.argmax(ll, axis=0)
        cols = np.arange(tn.shape[0])
        gain = (ll[best, cols] - ll[0]) * n[ok]
        out[ok] = np.where(gain > self.MIN_GAIN, p[best, cols], p[0])
        return out

    def _quantify(self, t: np.ndarray) -> float:
        return self._best(t)[0]


#: Method id -> class. `mlm` is the CLI name of the mixture MLE.
METHODS: dict[str, type[Quantifier]] = {
    cls.name: cls for cls in (CC, ACC, PCC, PACC, EM, HDy, MixtureMLE,
                              ShiftedMixtureMLE)
}


def make(name: str) -> Quantifier:
    """A fresh quantifier by method id (cc, acc, pcc, pacc, em, hdy, mlm)."""
    try:
        return METHODS[name]()
    except KeyError:
        raise ValueError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}") from None


def bins_for(n_reference: int) -> int:
    """Quantile bins per reference for references of `n_reference` documents (the smaller one).

    About sqrt(n)/2, between 5 and 50: with 400 references, 50 quantiles per class left a few
    documents per bin and biased the mixture estimate at 0 by 1.7 points (20% coverage); 10
    gave 0.5 points and 93% (simulation in tests/test_estimate_methods.py's docstring).
    """
    return int(min(50, max(5, round(np.sqrt(max(n_reference, 1)) / 2))))


def reference_edges(human_scores: Sequence[float], machine_scores: Sequence[float],
                    n_bins: int | None = None) -> np.ndarray:
    """Interior bin edges: quantiles of each reference (n_bins each), merged and de-duplicated.

    Quantiles of each class separately give resolution where either distribution has mass,
    which a pooled quantile would give mostly to the larger reference. `n_bins` defaults to
    `bins_for` the smaller reference.
    """
    if n_bins is None:
        n_bins = bins_for(min(len(human_scores), len(machine_scores)))
    levels = np.linspace(0, 1, n_bins + 1)[1:-1]
    parts = [np.quantile(np.asarray(s, float), levels)
             for s in (human_scores, machine_scores) if len(s)]
    if not parts:
        raise ValueError("need reference scores to place bin edges")
    return np.unique(np.concatenate(parts))


def histogram(scores: Sequence[float], edges: np.ndarray,
              weights: Sequence[float] | None = None) -> np.ndarray:
    """Weights per bin; bin i holds scores with edges[i-1] <= s < edges[i] (same rule as SQL)."""
    idx = np.searchsorted(edges, np.asarray(scores, float), side="right")
    return np.bincount(idx, weights=weights, minlength=len(edges) + 1).astype(float)


def _function(cls: type[Quantifier]):
    def quantify(human: Sequence[float], machine: Sequence[float],
                 target: Sequence[float]) -> float:
        return cls().fit(human, machine).quantify(target)

    quantify.__name__ = cls.name
    quantify.__doc__ = f"{cls.label}: fit on two reference histograms, return the target's " \
                       "machine fraction in [0, 1]."
    return quantify


cc = _function(CC)
acc = _function(ACC)
pcc = _function(PCC)
pacc = _function(PACC)
em = _function(EM)
hdy = _function(HDy)
mixture_mle = _function(MixtureMLE)
mlm = mixture_mle
