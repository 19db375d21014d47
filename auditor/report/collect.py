"""Build a `ReportData` from a store: SQL aggregates plus the estimation and collapse libraries.

The synthetic fractions come only from `auditor.estimate.estimate_db` and the projections only
from `auditor.collapse.collapse_profile`, so the report shows exactly what `auditor estimate` and
`auditor project` would print. A section whose library fails is left empty with the error in
`notes`: a report that says "not available, because ..." is more useful than no report.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Callable, Sequence
from typing import Any

from auditor.records import DEFAULT_CUTOFF
from auditor.report import store_sql
from auditor.report.contamination import collect_contamination
from auditor.report.data import ReportData

#: Regimes drawn in the report: the two that bracket what a corpus builder can choose.
REPORT_REGIMES = ("replace", "accumulate")


def _estimates(db_path: str, by: Sequence[str], *, method: str, detector: str | None,
               weight: str, n_boot: int, seed: int, notes: list[str]) -> list[dict[str, Any]]:
    try:
        from auditor.estimate import estimate_db
    except ImportError as e:
        notes.append(f"estimation unavailable ({e}); fractions are not shown")
        return []
    try:
        ests = estimate_db(db_path, by=tuple(by), method=method, detector=detector, weight=weight,
                           n_boot=n_boot, seed=seed, record=False)
    except Exception as e:  # noqa: BLE001 - reported in the output, never silent
        what = "by " + ", ".join(by) if by else "overall"
        notes.append(f"estimation {what} failed: {type(e).__name__}: {e}")
        return []
    return [clean_estimate(e.to_dict()) for e in ests]


def clean_estimate(d: dict[str, Any]) -> dict[str, Any]:
    """NaN (no estimate possible) becomes None, so the JSON is valid and renderers say n/a;
    the estimator's notes, which say why, are kept."""
    for k in ("fraction", "ci_low", "ci_high", "floor"):
        v = d.get(k)
        if isinstance(v, float) and not math.isfinite(v):
            d[k] = None
    return d


def _profile_rows(profile: Any) -> list[dict[str, Any]]:
    d = profile.to_dict() if hasattr(profile, "to_dict") else {"rows": profile.rows}
    rows = d.get("rows", [])
    return [dataclasses.asdict(r) if dataclasses.is_dataclass(r) else dict(r) for r in rows]


def collapse_section(overall: dict[str, Any] | None, *, generations: int, model: str, seed: int,
                     notes: list[str]) -> dict[str, Any]:
    """Projections of the store's overall synthetic fraction, with its interval as a band."""
    if not overall:
        return {}
    try:
        from auditor.collapse import collapse_profile
    except ImportError as e:
        notes.append(f"collapse projections unavailable ({e})")
        return {}
    if overall.get("fraction") is None:
        notes.append("no overall estimate, so no collapse projection")
        return {}
    alpha = float(overall["fraction"])
    alpha_ci = (float(overall["ci_low"]), float(overall["ci_high"]))
    try:
        profile = collapse_profile(alpha, regimes=REPORT_REGIMES, generations=generations,
                                   model=model, alpha_ci=alpha_ci, seed=seed)
    except Exception as e:  # noqa: BLE001
        notes.append(f"collapse projection failed: {type(e).__name__}: {e}")
        return {}
    return {"alpha": alpha, "alpha_ci": list(alpha_ci), "model": model,
            "regimes": list(REPORT_REGIMES), "generations": generations,
            "rows": _profile_rows(profile)}


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
            weight: str = "docs", n_boot: int = 200, seed: int = 0, top_k: int = 3,
            generations: int = 10, collapse_model: str = "gaussian",
            progress: Callable[[str], None] | None = None) -> ReportData:
    """Everything the report shows, from the store at `db_path`.

    Raises `store_sql.StoreError` when the store is missing or holds no documents.
    """
    say = progress or (lambda _msg: None)
    notes: list[str] = []
    data = ReportData(db_path=str(db_path), cutoff=DEFAULT_CUTOFF.isoformat(), method=method,
                      weight=weight, detector=detector,
                      generated_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    say("reading the store")
    with store_sql.connect(db_path) as con:
        cols = store_sql.columns(con)
        dets = store_sql.score_detectors(cols)
        data.summary = store_sql.summary(con)
        sources = store_sql.per_source(con)
        months = store_sql.per_month(con)
        data.coverage = store_sql.coverage(con)
        data.issues = store_sql.issues(con)
    if detector is not None and detector not in dets:
        raise store_sql.StoreError(
            f"detector {detector!r} has no score column in {db_path}; scored: {', '.join(dets) or 'none'}")

    say("estimating the synthetic fraction (overall, per source, per month)")
    est_args = dict(method=method, detector=detector, weight=weight, n_boot=n_boot, seed=seed,
                    notes=notes)
    overall = _estimates(db_path, (), **est_args)
    data.summary["overall"] = overall[0] if overall else None
    by_source = {e["group"].get("source"): e for e in _estimates(db_path, ("source",), **est_args)}
    for s in sources:
        s["estimate"] = by_source.get(s["source"])
    data.sources = sources
    by_month = {e["group"].get("crawl_month"): e
                for e in _estimates(db_path, ("crawl_month",), **est_args)}
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

    say("projecting model collapse")
    data.collapse = collapse_section(data.summary["overall"], generations=generations,
                                     model=collapse_model, seed=seed, notes=notes)
    data.contamination = collect_contamination(str(db_path), notes)
    data.notes = notes
    return data
