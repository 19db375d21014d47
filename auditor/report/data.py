"""The report's content as one plain structure, independent of how it is rendered.

HTML, Markdown and JSON are three views of the same `ReportData`, so they cannot disagree: the
collector (`auditor.report.collect`) fills it from a store, the renderers only format it. Every
field is JSON-serialisable (numbers, strings, lists, dicts), which is also the JSON output.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from auditor.estimate.result import Status

#: Version of the JSON layout; bump when a field changes meaning.
REPORT_SCHEMA_VERSION = 1


@dataclass
class ReportData:
    """Everything a report shows. Sections a store cannot fill stay empty and say why in `notes`.

    - `summary`: n_docs, n_tokens, n_sources, date_min, date_max, roles, overall (an Estimate
      dict or None).
    - `sources`: one dict per source: source, n_docs, n_tokens, n_synthetic_by_construction,
      date_min, date_max, estimate (Estimate dict or None).
    - `months`: one dict per crawl month: month, n_docs, pre_cutoff (bool), estimate.
    - `coverage`: overall and per-source counts and shares of documents lacking a date, a URL, a
      licence.
    - `agreement`: detectors, and per pair pearson, spearman, agreement rate at thresholds.
    - `collapse`: alpha, alpha_ci, model, regimes, generations, rows (CollapseProfile rows).
    - `flagged`: source -> list of the most confidently flagged documents.
    - `issues`: runs, error counts by status, most common reasons.
    - `calibration`: the audit's per-source thresholds of the report's detector (detector, fpr,
      min_pre_cutoff, shipped_threshold, machine_reference, sources: one dict per source with
      threshold, origin, origin_label, n_pre_cutoff, n_target, flagged_target,
      flagged_pre_cutoff, mean_p_machine); see `auditor.estimate.source_thresholds`.
    - `audit`: which stored audit the numbers come from: run_id, settings, settings_hash,
      computed_at, persisted (False: computed in memory on a store that could not be written).
    """

    db_path: str
    generated_at: str
    cutoff: str
    detector: str | None = None
    method: str = "auto"
    weight: str = "docs"
    summary: dict[str, Any] = field(default_factory=dict)
    sources: list[dict[str, Any]] = field(default_factory=list)
    months: list[dict[str, Any]] = field(default_factory=list)
    coverage: dict[str, Any] = field(default_factory=dict)
    agreement: dict[str, Any] = field(default_factory=dict)
    collapse: dict[str, Any] = field(default_factory=dict)
    flagged: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    issues: dict[str, Any] = field(default_factory=dict)
    contamination: dict[str, Any] = field(default_factory=dict)  # see report/contamination.py
    notes: list[str] = field(default_factory=list)
    audit: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)
    schema_version: int = REPORT_SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ReportData:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def estimate_label(est: dict[str, Any] | None) -> str:
    """`12.3% [9.8, 15.1]` for an Estimate dict; `n/a` when there is none."""
    if est and est.get("status") == Status.NO_MATCH.value and est.get("ci_high") is not None:
        return f"n/a (no matching human reference; at most {100 * est['ci_high']:.1f}%)"
    if not est or est.get("fraction") is None or est["fraction"] != est["fraction"]:
        high = (est or {}).get("ci_high")
        if high is not None and high == high:  # no point, but a bound (an unmatched headline)
            return f"n/a (at most {100 * high:.1f}%)"
        return "n/a"
    return (f"{100 * est['fraction']:.1f}% [{100 * est['ci_low']:.1f}, "
            f"{100 * est['ci_high']:.1f}]")


def coverage_label(est: dict[str, Any] | None, n_docs: int) -> str:
    """"; it covers 427 of the 1,200 documents (...)" when the estimate is a share of fewer
    documents than the store holds (rows without an estimate, documents without a score),
    else "": a headline printed beside the store's count must not read as a share of all."""
    covered = (est or {}).get("n_docs_covered")
    if covered is None or covered >= n_docs:
        return ""
    return (f"; it covers {covered:,} of the {n_docs:,} documents (the others have no estimate "
            "or no score from its detector: the notes say which)")


def method_label(est: dict[str, Any] | None) -> str:
    """`method X, detector Y, floor Z`: printed beside every number so none is read bare."""
    if not est:
        return "no estimate"
    floor = est.get("floor")
    floor_s = "n/a" if floor is None else f"{100 * floor:.1f}%"
    return f"method {est.get('method')}, detector {est.get('detector')}, floor {floor_s}"


# --- what the figures mean (one home for the words both renderers print) -----------------------

AGREEMENT_EXPLAINED = (
    "How far the detectors agree on the same corpus documents. Pearson r: linear correlation of "
    "their raw scores; Spearman rho: correlation of their rankings (1 = they order documents "
    "the same way, 0 = unrelated, below 0 = opposite). Flag agreement: share of documents both "
    "detectors put on the same side of their thresholds (flagged: score > the detector's "
    "shipped threshold, else 0.5). Low agreement means the synthetic fraction depends on which "
    "detector is used: read the estimates with the detector named beside them.")

FLAGGED_EXPLAINED = (
    "The highest-scoring documents of each source, listed whether or not they pass the "
    "detector's threshold, so a person can read the documents the tool finds most "
    "machine-like and judge it. A document below the threshold is not counted as flagged; in a "
    "source with little or no machine text these rows show what the detector's false "
    "positives would look like. The synthetic fraction itself is not a count of flags: it is "
    "the method named beside it, corrected for the detector's error rates.")

COLLAPSE_EXPLAINED = (
    "Each metric compares the model trained at a generation with the truth. A metric "
    "'relative to the real-data-only model' is a ratio: 1 means no worse than a model trained "
    "on real data only, 1.5 means 50% more (risk) and 0.9 means 10% less (tails, variance). "
    "Under accumulate the training set grows every generation (real data and all past "
    "synthetic data are kept), so a risk ratio below 1 (e.g. 0.14) means its model ends up "
    "better than one trained on one generation of real data, and a tail retained above 1 "
    "(e.g. 1.064) means slightly more mass kept in the rare tails than that model: no collapse.")


CALIBRATION_EXPLAINED = (
    "One threshold does not fit every source: the shipped classifier's threshold, set for 1% "
    "false positives on pooled labeled text, flags 0 to 13% of the human texts of one genre "
    "(reports/source_calibration.md). Where a "
    "source has enough documents from before the cutoff (human text of its own genre), its "
    "threshold is the score above which the stated share of them lie (the false-positive "
    "rate); elsewhere the detector's shipped threshold stands, and the origin column says "
    "which. Flagged after the cutoff: share of the source's post-cutoff or undated documents "
    "above its threshold. Flagged before the cutoff: the same for its pre-cutoff documents, "
    "about the false-positive rate for an own threshold and the shipped threshold's "
    "false-positive rate on this source otherwise. Mean P(machine): the average calibrated "
    "probability of its post-cutoff documents against its own pre-cutoff documents and the "
    "machine reference, with equal priors; a per-document reading, not the synthetic fraction. "
    "`auditor filter --drop \"score:DETECTOR > source_threshold\"` drops by these thresholds.")


def source_threshold(calibration: dict[str, Any] | None, detector: str | None,
                     source: Any, default: float | None) -> float | None:
    """The threshold a source's documents are flagged at: its per-source threshold when the
    audit set one for `detector`, else `default` (the detector's shipped threshold)."""
    if not calibration or calibration.get("detector") != detector:
        return default
    for s in calibration.get("sources") or []:
        if s.get("source") == source and s.get("threshold") is not None:
            return s["threshold"]
    return default


def metric_reading(spec: dict[str, Any] | None, value: float | None) -> str:
    """What a metric's value means, in words: its description and, for a ratio, how far it is
    from the real-data-only model and which way is worse."""
    if spec is None:
        return ""
    worse = {"up": "higher is worse", "down": "lower is worse"}.get(spec.get("worse"), "")
    text = spec.get("description") or spec.get("definition") or ""
    if value is None or value != value:
        return f"{text}; {worse}".strip("; ")
    if spec.get("relative"):
        diff = value - 1.0
        way = "more" if diff > 0 else "less"
        near = ("the same as a model trained on real data only" if abs(diff) < 0.005 else
                f"{abs(diff):.0%} {way} than a model trained on real data only")
        bad = (diff > 0) == (spec.get("worse") == "up") and abs(diff) >= 0.005
        return f"{text}: {value:.3g} = {near} ({'worse' if bad else 'not worse'}; {worse})"
    return f"{text}; {worse}"


def above_threshold(doc: dict[str, Any], detector: str | None, threshold: float | None) -> str:
    """`yes` / `no (below 0.5)` for a flagged-documents row, so a listed document under the
    threshold is not read as a detection."""
    score = (doc.get("scores") or {}).get(detector)
    if score is None or threshold is None:
        return "n/a"
    return "yes" if score > threshold else f"no (below {threshold:.3g})"


def audit_label(audit: dict[str, Any] | None) -> str:
    """Which audit the numbers come from, so a reader can match a report with a check."""
    if not audit:
        return "audit: n/a"
    stored = "stored in the store" if audit.get("persisted") else "computed in memory, not stored"
    return (f"audit of scan run {audit.get('run_id')} (settings {audit.get('settings_hash')}, "
            f"computed {audit.get('computed_at')}, {stored})")
