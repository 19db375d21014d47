"""The report's content as one plain structure, independent of how it is rendered.

HTML, Markdown and JSON are three views of the same `ReportData`, so they cannot disagree: the
collector (`auditor.report.collect`) fills it from a store, the renderers only format it. Every
field is JSON-serialisable (numbers, strings, lists, dicts), which is also the JSON output.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

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
    notes: list[str] = field(default_factory=list)
    audit: dict[str, Any] = field(default_factory=dict)
    schema_version: int = REPORT_SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ReportData:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def estimate_label(est: dict[str, Any] | None) -> str:
    """`12.3% [9.8, 15.1]` for an Estimate dict; `n/a` when there is none."""
    if not est or est.get("fraction") is None:
        return "n/a"
    return (f"{100 * est['fraction']:.1f}% [{100 * est['ci_low']:.1f}, "
            f"{100 * est['ci_high']:.1f}]")


def method_label(est: dict[str, Any] | None) -> str:
    """`method X, detector Y, floor Z`: printed beside every number so none is read bare."""
    if not est:
        return "no estimate"
    floor = est.get("floor")
    floor_s = "n/a" if floor is None else f"{100 * floor:.1f}%"
    return f"method {est.get('method')}, detector {est.get('detector')}, floor {floor_s}"
