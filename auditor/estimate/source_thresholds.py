"""Per-source flag thresholds and calibrated probabilities from each source's own pre-cutoff
documents (issue 15, item 7).

Why: the shipped threshold of a detector is the 1%-false-positive quantile of the labeled
human texts it was calibrated on, and its false-positive rate on one human genre ranges from
0 to 13.4% for the shipped classifier (reports/source_calibration.md: 28 genres and crawl
files); a threshold set on half of a genre's texts (100+ of them) keeps the other half at
0.9-1.5%, and one set on 200 texts averages 1.5% (90th percentile 2.7%), which supports
`MIN_SOURCE_HUMAN` = 200. A source's own documents from before the cutoff are human text of
the same genre, site and template as its new ones, so where a source has enough of them its
threshold is their 1%-FPR quantile; elsewhere the shipped threshold stands, and the origin says
which.

Computed in DuckDB over the `documents` view (corpus role only), so a large store costs one
window query, not its scores in memory: the threshold is the (k + 1)-th largest pre-cutoff
score with k = `fpr_rank(n)`, the rule of `threshold_for_fpr`. The audit computes this once
per scan run and stores it (`auditor.audit`); report and `auditor filter` read it from there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np

from detectors.calibration import (
    DEFAULT_FPR,
    MIN_SOURCE_HUMAN,
    ThresholdOrigin,
    fpr_rank,
    source_probabilities,
)

#: Largest number of a source's scores (per side of the cutoff) read for its mean calibrated
#: probability: a fixed sample by a hash of the id, so the figure repeats run to run.
PROBABILITY_SAMPLE = 20_000

_PRE = "COALESCE(pre_cutoff, false)"


@dataclass(frozen=True)
class SourceCalibration:
    """One source's threshold, where it came from, and what it flags.

    `n_target`: scored corpus documents after the cutoff or undated (the ones a filter acts
    on); `flagged_target`: their share with score > threshold. `flagged_pre_cutoff`: the share
    of the source's pre-cutoff documents above it, which is at most the FPR for an own
    threshold and is the shipped threshold's false-positive rate on this source otherwise.
    `mean_p_machine`: mean calibrated P(machine) of the target documents against the source's
    own pre-cutoff documents and the detector's machine reference, with equal priors (None
    without an own threshold): a per-document probability, not the corpus fraction, which the
    estimate gives.
    """

    source: str | None
    threshold: float | None
    origin: ThresholdOrigin
    n_pre_cutoff: int
    n_target: int
    flagged_target: float | None
    flagged_pre_cutoff: float | None
    mean_p_machine: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "threshold": self.threshold,
                "origin": self.origin.value, "origin_label": self.origin.label,
                "n_pre_cutoff": self.n_pre_cutoff, "n_target": self.n_target,
                "flagged_target": self.flagged_target,
                "flagged_pre_cutoff": self.flagged_pre_cutoff,
                "mean_p_machine": self.mean_p_machine}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SourceCalibration:
        return cls(d.get("source"), d.get("threshold"), ThresholdOrigin(d["origin"]),
                   int(d.get("n_pre_cutoff") or 0), int(d.get("n_target") or 0),
                   d.get("flagged_target"), d.get("flagged_pre_cutoff"),
                   d.get("mean_p_machine"))


@dataclass(frozen=True)
class SourceCalibrations:
    """Every source's `SourceCalibration` for one detector, with the settings behind them."""

    detector: str
    fpr: float
    min_pre_cutoff: int
    shipped_threshold: float | None
    machine_reference: str
    sources: tuple[SourceCalibration, ...]

    def by_source(self) -> dict[str | None, SourceCalibration]:
        return {s.source: s for s in self.sources}

    def to_dict(self) -> dict[str, Any]:
        return {"detector": self.detector, "fpr": self.fpr,
                "min_pre_cutoff": self.min_pre_cutoff,
                "shipped_threshold": self.shipped_threshold,
                "machine_reference": self.machine_reference,
                "sources": [s.to_dict() for s in self.sources]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SourceCalibrations:
        return cls(d["detector"], float(d["fpr"]), int(d["min_pre_cutoff"]),
                   d.get("shipped_threshold"), d.get("machine_reference") or "",
                   tuple(SourceCalibration.from_dict(s) for s in d.get("sources") or []))


def shipped_threshold(detector: str) -> float | None:
    """The detector's shipped threshold: its model folder's `calibration.json` when it has
    one, else what a cheap detector carries once loaded; None when it ships none (an LM is not
    loaded just to read a number)."""
    from pathlib import Path

    import detectors
    from detectors.calibration import load_calibration

    folder = Path(detectors.__file__).parent / "models" / detector
    try:
        cal = load_calibration(folder) if folder.is_dir() else None
    except ValueError:
        cal = None
    if cal is not None:
        return float(cal.threshold)
    spec = next((s for s in detectors.specs() if s.name == detector), None)
    if spec is None or spec.tier != "cheap":
        return None
    try:
        det = detectors.load(detector)
    except Exception:  # noqa: BLE001 - a detector that cannot load here ships no threshold
        return None
    try:
        return None if det.threshold is None else float(det.threshold)
    finally:
        det.close()


def _share(k: int, n: int) -> float | None:
    return k / n if n else None


def source_calibrations(con: duckdb.DuckDBPyConnection, detector: str,
                        fpr: float = DEFAULT_FPR, min_pre_cutoff: int = MIN_SOURCE_HUMAN,
                        shipped: float | None = None) -> SourceCalibrations:
    """Per source of the store on `con`, the threshold for `fpr` of `detector` (see the
    module docstring); `shipped` defaults to `shipped_threshold(detector)`."""
    from auditor.estimate.histograms import machine_sample
    from auditor.estimate.identifiers import quote, view_columns
    from auditor.estimate.references import plan_references

    score = quote(f"score_{detector}", view_columns(con), "score column")
    shipped = shipped_threshold(detector) if shipped is None else float(shipped)
    scored = f"role = 'corpus' AND {score} IS NOT NULL AND isfinite({score})"
    counts = con.execute(
        f"SELECT source, count(*) FILTER (WHERE {_PRE}), count(*) FILTER (WHERE NOT {_PRE}) "
        f"FROM documents WHERE {scored} GROUP BY source ORDER BY source NULLS LAST").fetchall()
    own = [(s, fpr_rank(n_pre, fpr) + 1) for s, n_pre, _ in counts if n_pre >= min_pre_cutoff]
    thresholds: dict[str | None, float] = {}
    if own:
        rows = con.execute(
            f"WITH want AS (SELECT unnest($s::VARCHAR[]) AS source, unnest($r::BIGINT[]) AS r) "
            f"SELECT d.source, d.score FROM (SELECT source, {score} AS score, row_number() OVER "
            f"(PARTITION BY source ORDER BY {score} DESC) AS r FROM documents "
            f"WHERE {scored} AND {_PRE}) d JOIN want w "
            f"ON d.source IS NOT DISTINCT FROM w.source AND d.r = w.r",
            {"s": [s for s, _ in own], "r": [r for _, r in own]}).fetchall()
        thresholds = {s: float(t) for s, t in rows}
    origin: dict[str | None, ThresholdOrigin] = {}
    for s, _, _ in counts:
        if s in thresholds:
            origin[s] = ThresholdOrigin.OWN
        elif shipped is not None:
            thresholds[s], origin[s] = shipped, ThresholdOrigin.SHIPPED
        else:
            origin[s] = ThresholdOrigin.NONE
    flagged: dict[str | None, tuple[int, int]] = {}
    if thresholds:
        names = list(thresholds)
        flagged = {s: (int(a), int(b)) for s, a, b in con.execute(
            f"WITH t AS (SELECT unnest($s::VARCHAR[]) AS source, unnest($t::DOUBLE[]) AS thr) "
            f"SELECT d.source, count(*) FILTER (WHERE {_PRE} AND {score} > t.thr), "
            f"count(*) FILTER (WHERE NOT {_PRE} AND {score} > t.thr) FROM documents d "
            f"JOIN t ON d.source IS NOT DISTINCT FROM t.source WHERE {scored} GROUP BY d.source",
            {"s": names, "t": [thresholds[s] for s in names]}).fetchall()}
    plan = plan_references(con, detector, score)
    machine = machine_sample(con, plan.machine) if plan.machine is not None else np.array([])
    means = _mean_probabilities(con, score, scored, [s for s, _ in own], machine)
    sources = []
    for s, n_pre, n_target in counts:
        pre_hit, target_hit = flagged.get(s, (0, 0))
        has = s in thresholds
        sources.append(SourceCalibration(
            s, thresholds.get(s), origin[s], int(n_pre), int(n_target),
            _share(target_hit, n_target) if has else None,
            _share(pre_hit, n_pre) if has else None, means.get(s)))
    return SourceCalibrations(detector, float(fpr), int(min_pre_cutoff), shipped,
                              plan.machine_note, tuple(sources))


def _mean_probabilities(con: duckdb.DuckDBPyConnection, score: str, scored: str,
                        sources: list, machine: np.ndarray) -> dict[str | None, float | None]:
    """Mean `source_probabilities` of each source's target documents (a hashed sample of at
    most PROBABILITY_SAMPLE per side of the cutoff)."""
    if not sources or machine.size == 0:
        return {}
    rows = con.execute(
        f"SELECT source, pre, score FROM (SELECT source, {_PRE} AS pre, {score} AS score, "
        f"row_number() OVER (PARTITION BY source, {_PRE} ORDER BY hash(CAST(id AS VARCHAR)), "
        f"\"offset\") AS r FROM documents WHERE {scored} AND list_contains($s::VARCHAR[], "
        f"source)) WHERE r <= $n", {"s": [s for s in sources if s is not None],
                                    "n": PROBABILITY_SAMPLE}).fetchall()
    by: dict[str | None, dict[bool, list[float]]] = {}
    for s, pre, v in rows:
        by.setdefault(s, {True: [], False: []})[bool(pre)].append(float(v))
    out: dict[str | None, float | None] = {}
    for s, sides in by.items():
        if not sides[False] or not sides[True]:
            out[s] = None
            continue
        p = source_probabilities(np.asarray(sides[False]), np.asarray(sides[True]), machine)
        out[s] = float(np.mean(p)) if p.size and math.isfinite(float(np.mean(p))) else None
    return out
