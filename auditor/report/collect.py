"""Build a `ReportData` from a store: the store's `Audit` plus plain SQL aggregates.

The synthetic fractions, the collapse profile and coverage come only from the audit
(`auditor.audit.load_audit`), which `auditor check` and `auditor demo` read too, so the report
shows exactly the intervals they judge and print. A section the audit could not fill is left
empty with the reason in `notes`: a report that says "not available, because ..." is more useful
than no report.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from auditor.audit import AUDIT_REGIMES, Audit, AuditError, AuditSettings, load_audit
from auditor.audit import clean_estimate as clean_estimate  # re-exported for older callers
from auditor.estimate.choice import N_BOOT
from auditor.records import DEFAULT_CUTOFF
from auditor.report import store_sql
from auditor.report.contamination import collect_contamination
from auditor.report.data import ReportData

#: Regimes drawn in the report (those of the audit's profile).
REPORT_REGIMES = AUDIT_REGIMES


def detector_thresholds(names: Sequence[str]) -> dict[str, float]:
    """Each detector's own flag threshold where a cheap detector ships one, else 0.5.

    Only cheap detectors are instantiated: loading an LM just to read a number is not worth it.
    """
    out = {}
    for name in names:
        thr = None
        try:
            import detectors

            spec = next((s for s in detectors.specs() if s.name == name), None)
            if spec is not None and spec.tier == "cheap":
                det = detectors.load(name)
                thr = det.threshold
                det.close()
        except Exception:  # noqa: BLE001 - a missing model only means the default threshold
            thr = None
        out[name] = float(thr) if thr is not None else 0.5
    return out


def collect(db_path: str, *, method: str = "auto", detector: str | None = None,
            weight: str = "docs", n_boot: int = N_BOOT, seed: int = 0, top_k: int = 3,
            generations: int = 10, collapse_model: str = "gaussian", recompute: bool = False,
            audit: Audit | None = None,
            progress: Callable[[str], None] | None = None) -> ReportData:
    """Everything the report shows, from the store at `db_path` and its audit (`audit` when
    given, else the stored one for these settings, computed when missing or stale).

    Raises `store_sql.StoreError` when the store is missing or holds no documents.
    """
    say = progress or (lambda _msg: None)
    data = ReportData(db_path=str(db_path), cutoff=DEFAULT_CUTOFF.isoformat(), method=method,
                      weight=weight, detector=detector,
                      generated_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    say("reading the store")
    with store_sql.connect(db_path) as con:
        cutoffs = store_sql.scan_cutoffs(con)
        if cutoffs:
            data.cutoff = cutoffs[0]
            if len(cutoffs) > 1:
                data.notes.append(f"scan runs used different cutoffs ({', '.join(cutoffs)}): "
                                  "each shard's documents are split by the cutoff of the run "
                                  f"that scanned it; {cutoffs[0]} (the latest) is shown")
        cols = store_sql.columns(con)
        dets = store_sql.score_detectors(cols)
        data.summary = store_sql.summary(con)
        sources = store_sql.per_source(con)
        months = store_sql.per_month(con)
        data.issues = store_sql.issues(con)
    if detector is not None and detector not in dets:
        raise store_sql.StoreError(
            f"detector {detector!r} has no score column in {db_path}; scored: {', '.join(dets) or 'none'}")

    if audit is None:
        settings = AuditSettings(method=method, detector=detector, weight=weight, n_boot=n_boot,
                                 seed=seed, generations=generations,
                                 collapse_model=collapse_model)
        try:
            audit = load_audit(db_path, settings, recompute=recompute, progress=say)
        except AuditError as e:
            raise store_sql.StoreError(str(e)) from None
    notes: list[str] = list(audit.errors) + list(audit.notes)
    data.audit = {"run_id": audit.run_id, "settings": audit.settings.to_dict(),
                  "settings_hash": audit.settings_hash, "computed_at": audit.computed_at,
                  "persisted": audit.persisted}
    data.coverage = audit.coverage
    data.calibration = audit.calibration
    data.summary["overall"] = audit.overall
    by_source = audit.by("source")
    for s in sources:
        s["estimate"] = by_source.get(s["source"])
    data.sources = sources
    by_month = audit.by("crawl_month")
    for m in months:
        m["pre_cutoff"] = m.pop("n_pre_cutoff") == m["n_docs"]
        m["estimate"] = by_month.get(m["month"])
    data.months = months
    main = (data.summary["overall"] or {}).get("detector") or detector or (dets[0] if dets else None)
    if main not in dets:
        main = dets[0] if dets else None
    data.detector = main

    say("detector agreement and flagged documents")
    thresholds = detector_thresholds(dets)
    with store_sql.connect(db_path) as con:
        data.agreement = {"detectors": dets, "thresholds": thresholds,
                          "pairs": store_sql.agreement(con, dets, thresholds)}
        data.flagged = store_sql.top_flagged(con, main, top_k) if main else {}
    if not dets:
        notes.append("no detector scores in the store: scan with --detectors to estimate fractions")
    data.collapse = audit.collapse
    data.contamination = collect_contamination(str(db_path), notes)
    data.notes = notes
    return data
