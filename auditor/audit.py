"""One audit result: computed once per scan run and settings, persisted, read by every face.

Before this module, `demo`, `report` and `check` each ran their own bootstrap, so one
`auditor demo` printed two intervals for the same estimate (21.9-26.4% and 21.6-26.7%), the
estimates history got 14 rows for 7 groups in one run, and `check` could not run on a read-only
store. Now an `Audit` holds what those faces show and judge:

- `estimates`: for each grouping (overall, by source, by crawl month), the `Estimate` of every
  group as a dict, with its method, detector, references and notes (NaN as None);
- `collapse`: the model-collapse profile of the overall estimate, its interval as a band;
- `coverage`: how many corpus documents lack a date, a URL, a licence, or are synthetic by
  construction, overall and per source;
- `calibration`: per source, the flag threshold of the estimate's detector set on the source's
  own pre-cutoff documents (else the shipped one, origin named), what it flags and the mean
  calibrated P(machine) (`auditor.estimate.source_thresholds.SourceCalibrations` as a dict);
- `errors`: what could not be computed, and why (a face shows "not available, because ...").

It sits after estimation and collapse and before report and check in the flow
(`auditor/estimate`, `auditor/collapse` -> `auditor/audit.py` -> `auditor/report`,
`auditor/check.py`, `auditor/demo.py`). `load_audit` returns the audit stored for the store's
latest scan run and a hash of the settings, or computes it, and then stores it (table `audits`)
and appends its estimates to the history (table `estimates`, one row per group per run). On a
store it cannot write (read-only file, another process holding it) it returns the audit computed
in memory with `persisted=False` and says so in `notes`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from auditor.estimate.choice import MIN_GROUP_DOCS, N_BOOT

#: Bump when the layout of a stored audit or the way it is computed changes: stored audits of
#: another version are stale and recomputed.
#: 2: per-source thresholds (`calibration`). 3: the default detector by its languages and the
#: separation of its references; a scored-document minimum; notes on what a fraction covers.
#: 4: the documents an estimate covers (`Estimate.n_docs_covered`).
AUDIT_VERSION = 4

def code_identity() -> dict[str, Any]:
    """What code made an audit: the package version, `AUDIT_VERSION` and the shipped detector
    models (`detectors.model_files.shipped_models_identity`). A stored audit is reused only by
    the same code: after an upgrade `report` and `check` showed the old audit until a new scan
    or `--recompute`. Returned as a stored audit's payload reads it back (through JSON), so the
    two compare equal."""
    from auditor import __version__
    from detectors.model_files import shipped_models_identity

    return json.loads(json.dumps({"auditor": __version__, "audit": AUDIT_VERSION,
                                  "models": dict(shipped_models_identity())}))


def code_changes(old: dict[str, Any] | None, new: dict[str, Any]) -> str:
    """What differs between two code identities, in words ("classifier 2 -> 3, ...")."""
    if not old:
        return "made before audits recorded their code"
    now, was = _flat_identity(new), _flat_identity(old)
    return ", ".join(f"{k} {was.get(k, 'none')} -> {now.get(k, 'none')}"
                     for k in sorted(set(now) | set(was)) if was.get(k) != now.get(k))


def _flat_identity(code: dict[str, Any]) -> dict[str, Any]:
    """A code identity with its models at the top level, beside the versions."""
    return {**{k: v for k, v in code.items() if k != "models"}, **(code.get("models") or {})}


#: Groupings every audit estimates: the whole corpus, each source, each crawl month.
GROUPINGS: dict[str, tuple[str, ...]] = {"overall": (), "source": ("source",),
                                         "crawl_month": ("crawl_month",)}

#: Regimes of the audit's collapse profile: the two that bracket what a corpus builder can choose.
AUDIT_REGIMES = ("replace", "accumulate")

_TABLE_SQL = ("CREATE TABLE IF NOT EXISTS audits (run_id VARCHAR, settings_hash VARCHAR, "
              "settings VARCHAR, computed_at TIMESTAMPTZ, audit VARCHAR)")

#: The checkout/install root, removed from notes: a report should not carry a machine's paths.
_INSTALL_ROOT = str(Path(__file__).resolve().parents[1]) + os.sep


class AuditError(Exception):
    """The audit cannot be computed at all (no store, no corpus documents)."""


@dataclass(frozen=True)
class AuditSettings:
    """Everything an audit's numbers depend on besides the store's content (its latest run)."""

    method: str = "auto"
    detector: str | None = None
    weight: str = "docs"
    n_boot: int = N_BOOT
    seed: int = 0
    min_docs: int = MIN_GROUP_DOCS  # smaller groups are "too few documents", pooled, not gated
    generations: int = 10
    collapse_model: str = "gaussian"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AuditSettings:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def estimates_hash(self) -> str:
        """The hash of the settings its estimates are compared on (`history.settings_hash`,
        the one rule: an `auditor estimate` run with the same ones compares with it)."""
        from auditor.estimate.history import settings_hash

        return settings_hash(self.weight, self.min_docs)

    def digest(self) -> str:
        """Hash of the settings and `AUDIT_VERSION`: equal settings, equal audit."""
        text = json.dumps({"version": AUDIT_VERSION, **self.to_dict()}, sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Audit:
    """The result every face reads. Plain JSON-able fields (see the module docstring)."""

    db: str
    run_id: str | None
    settings: AuditSettings
    computed_at: str
    estimates: dict[str, list[dict[str, Any]]]
    collapse: dict[str, Any]
    coverage: dict[str, Any]
    errors: tuple[str, ...] = ()
    persisted: bool = False
    notes: tuple[str, ...] = field(default=(), compare=False)
    calibration: dict[str, Any] = field(default_factory=dict)
    code: dict[str, Any] = field(default_factory=dict)  # `code_identity()` of what made it

    @property
    def settings_hash(self) -> str:
        return self.settings.digest()

    @property
    def overall(self) -> dict[str, Any] | None:
        rows = self.estimates.get("overall") or []
        return rows[0] if rows else None

    def by(self, grouping: str) -> dict[Any, dict[str, Any]]:
        """Group value -> estimate, for a one-column grouping (`source`, `crawl_month`)."""
        col = GROUPINGS[grouping][0]
        return {e["group"].get(col): e for e in self.estimates.get(grouping) or []}

    def to_dict(self) -> dict[str, Any]:
        return {"db": self.db, "run_id": self.run_id, "settings": self.settings.to_dict(),
                "settings_hash": self.settings_hash, "computed_at": self.computed_at,
                "estimates": self.estimates, "collapse": self.collapse,
                "coverage": self.coverage, "calibration": self.calibration,
                "errors": list(self.errors), "persisted": self.persisted,
                "notes": list(self.notes), "code": self.code}

    @classmethod
    def from_dict(cls, d: dict[str, Any], **override: Any) -> Audit:
        known = {f.name for f in dataclasses.fields(AuditSettings)}
        fields = dict(db=d["db"], run_id=d["run_id"],
                      settings=AuditSettings(**{k: v for k, v in d["settings"].items()
                                                if k in known}),
                      computed_at=d["computed_at"], estimates=d["estimates"],
                      collapse=d["collapse"], coverage=d["coverage"],
                      errors=tuple(d.get("errors") or ()), persisted=d.get("persisted", False),
                      notes=tuple(d.get("notes") or ()),
                      calibration=d.get("calibration") or {}, code=d.get("code") or {})
        fields.update(override)
        return cls(**fields)


# --- computing --------------------------------------------------------------------------------

def relative_note(text: str) -> str:
    """A note without the install root: `detectors/models/...`, not `/home/x/.../detectors/...`."""
    return text.replace(_INSTALL_ROOT, "")


def clean_estimate(d: dict[str, Any]) -> dict[str, Any]:
    """NaN (no estimate possible) becomes None, so the JSON is valid and faces say n/a; the
    estimator's notes, which say why, are kept (without install paths)."""
    for k, v in d.items():  # fraction, intervals, floor, post-cutoff share, vocabulary bound
        if isinstance(v, float) and not math.isfinite(v):
            d[k] = None
    d["notes"] = [relative_note(str(n)) for n in d.get("notes") or []]
    if isinstance(d.get("human_ref"), str):
        d["human_ref"] = relative_note(d["human_ref"])
    return d


_COVERAGE = (
    "count(*) AS n_docs, "
    "count(*) FILTER (WHERE crawl_date IS NULL) AS missing_date, "
    "count(*) FILTER (WHERE url IS NULL OR url = '') AS missing_url, "
    "count(*) FILTER (WHERE license IS NULL OR license = '' OR lower(license) = 'unknown') "
    "AS missing_license, "
    "count(*) FILTER (WHERE synthetic_by_construction) AS n_synthetic_by_construction"
)


def _rows(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _shares(row: dict[str, Any]) -> dict[str, Any]:
    n = row["n_docs"] or 0
    for k in ("date", "url", "license"):
        row[f"{k}_share"] = (1 - row[f"missing_{k}"] / n) if n else None
    return row


def coverage(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """How many corpus documents lack a date, a URL, a licence; overall and per source."""
    overall = _rows(con.execute(f"SELECT {_COVERAGE} FROM documents WHERE role = 'corpus'"))[0]
    by_source = _rows(con.execute(
        f"SELECT source, {_COVERAGE} FROM documents WHERE role = 'corpus' "
        "GROUP BY source ORDER BY source"))
    return {"overall": _shares(overall), "sources": [_shares(r) for r in by_source]}


def _profile_rows(profile: Any) -> list[dict[str, Any]]:
    rows = profile.to_dict().get("rows", []) if hasattr(profile, "to_dict") else profile.rows
    return [dataclasses.asdict(r) if dataclasses.is_dataclass(r) else dict(r) for r in rows]


def collapse_section(overall: dict[str, Any] | None, settings: AuditSettings,
                     errors: list[str]) -> dict[str, Any]:
    """Projections of the overall synthetic fraction, with its interval as a band."""
    if not overall or overall.get("fraction") is None:
        if overall:
            errors.append("no overall estimate, so no collapse projection")
        return {}
    from auditor.collapse import collapse_profile

    alpha = float(overall["fraction"])
    bounds = (overall.get("ci_low"), overall.get("ci_high"))
    if any(b is None or not math.isfinite(float(b)) for b in bounds):
        # an overall estimate without an interval (no bootstrap replicates): projected at its
        # point, said so, rather than a crash of report and check
        errors.append("the overall estimate has no interval: the collapse projection has no "
                      "band (projected at the point estimate)")
        bounds = (alpha, alpha)
    alpha_ci = (float(bounds[0]), float(bounds[1]))
    try:
        profile = collapse_profile(alpha, regimes=AUDIT_REGIMES, generations=settings.generations,
                                   model=settings.collapse_model, alpha_ci=alpha_ci,
                                   seed=settings.seed)
    except (ValueError, KeyError, ArithmeticError) as e:
        errors.append(f"collapse projection failed: {type(e).__name__}: {e}")
        return {}
    return {"alpha": alpha, "alpha_ci": list(alpha_ci), "model": settings.collapse_model,
            "regimes": list(AUDIT_REGIMES), "generations": settings.generations,
            "metrics": [dict(m) for m in profile.metrics], "rows": _profile_rows(profile)}


@dataclass(frozen=True)
class StoreGap:
    """What a store lacks for an estimate: `kind` (store | documents | scores | unreadable)
    to decide on, `message` (a sentence a user can act on) to print."""

    kind: str
    message: str


def missing_in_store(db: str | os.PathLike) -> StoreGap | None:
    """What a store lacks for an estimate; None when nothing.

    Commands that estimate ask first, so an empty store says "no corpus documents: scan some"
    instead of "alpha must be in [0, 1], got nan" or an empty table with exit 0.
    """
    from auditor.store.catalogue import StoreLockedError, open_store

    db = str(db)
    if not os.path.exists(db):
        return StoreGap("store", f"no store at {db}: run `auditor scan INPUT --db {db}` first")
    try:
        with open_store(db, read_only=True) as store:
            n_docs, *_ = store.con.execute(
                "SELECT count(*) FROM documents WHERE role = 'corpus'").fetchone()
            cols = [r[0] for r in store.con.execute("DESCRIBE documents").fetchall()]
            n_runs = store.con.execute("SELECT count(*) FROM runs").fetchone()[0]
    except StoreLockedError as e:
        return StoreGap("unreadable", str(e))
    except duckdb.Error as e:
        return StoreGap("unreadable", f"cannot read the store {db}: {str(e).splitlines()[0]}")
    if not n_docs:
        done = f"{n_runs} scan run(s) stored none" if n_runs else "nothing scanned yet"
        return StoreGap("documents", f"the store {db} has no corpus documents ({done}): scan "
                                     f"some with `auditor scan INPUT --db {db}`")
    if not any(c.startswith("score_") for c in cols):
        return StoreGap("scores", f"the store {db} has {n_docs:,} corpus documents but no "
                                  f"detector scores: scan with detectors (`auditor scan INPUT "
                                  f"--db {db} --detectors ...`)")
    return None


def compute_audit(db: str, settings: AuditSettings, run_id: str | None,
                  progress: Callable[[str], None] | None = None) -> Audit:
    """Every estimate, the collapse profile and coverage of the store, in memory."""
    from auditor.estimate import estimate_db
    from auditor.store.catalogue import open_store

    say = progress or (lambda _m: None)
    errors: list[str] = []
    gap = missing_in_store(db)
    if gap is not None and gap.kind != "scores":  # without scores, coverage is still worth it
        raise AuditError(gap.message)
    with open_store(db, read_only=True) as store:
        cov = coverage(store.con)
    estimates: dict[str, list[dict[str, Any]]] = {}
    separation: dict = {}  # a named detector's separation check: once for the three groupings
    for name, by in GROUPINGS.items():
        say("estimating the synthetic fraction " + ("overall" if not by else f"by {name}"))
        try:
            ests = estimate_db(db, by=by, method=settings.method, detector=settings.detector,
                               weight=settings.weight, n_boot=settings.n_boot,
                               seed=settings.seed, min_docs=settings.min_docs, record=False,
                               separation=separation)
        except (LookupError, ValueError, RuntimeError, OSError, duckdb.Error) as e:
            errors.append(f"estimation {'overall' if not by else 'by ' + name} failed: "
                          f"{type(e).__name__}: {relative_note(str(e))}")
            ests = []
        estimates[name] = [clean_estimate(e.to_dict()) for e in ests]
    overall = (estimates.get("overall") or [None])[0]
    say("projecting model collapse")
    collapse = collapse_section(overall, settings, errors)
    say("setting per-source thresholds")
    calibration = calibration_section(db, (overall or {}).get("detector") or settings.detector,
                                      errors)
    return Audit(db=str(db), run_id=run_id, settings=settings,
                 computed_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                 estimates=estimates, collapse=collapse, coverage=cov, errors=tuple(errors),
                 calibration=calibration, code=code_identity())


def _calibration_dict(con: duckdb.DuckDBPyConnection, detector: str) -> dict[str, Any]:
    """`source_calibrations` as the audit stores it: a dict, without install paths."""
    from auditor.estimate.source_thresholds import source_calibrations

    cal = source_calibrations(con, detector).to_dict()
    cal["machine_reference"] = relative_note(cal["machine_reference"])
    return cal


def calibration_section(db: str, detector: str | None, errors: list[str]) -> dict[str, Any]:
    """Per-source thresholds of the estimate's detector (see `auditor.estimate.
    source_thresholds`), as a dict; empty, with the reason in `errors`, when none can be set."""
    from auditor.store.catalogue import open_store

    if not detector:
        errors.append("no per-source thresholds: no detector estimated the corpus")
        return {}
    try:
        with open_store(db, read_only=True) as store:
            return _calibration_dict(store.con, detector)
    except (LookupError, ValueError, duckdb.Error) as e:
        errors.append(f"per-source thresholds failed: {type(e).__name__}: "
                      f"{relative_note(str(e))}")
        return {}


# --- the store --------------------------------------------------------------------------------

def audit_calibration(db: str | os.PathLike, detector: str) -> dict[str, Any]:
    """The per-source thresholds of `detector` for the store's latest scan run, as the audit
    holds them (`Audit.calibration`): from a stored audit of that run with that detector (they
    depend on the store's content and the detector, not on the other settings) made by this
    code, else computed now the same way. Raises `AuditError` when they cannot be set."""
    code = code_identity()

    def from_store(con, run_id: str | None) -> dict[str, Any]:
        for (payload,) in _stored_payloads(con, run_id):
            d = json.loads(payload)
            cal = d.get("calibration") or {}
            if cal.get("detector") == detector and d.get("settings_hash") == \
                    AuditSettings.from_dict(d.get("settings") or {}).digest() and \
                    d.get("code") == code:
                return cal
        return _calibration_dict(con, detector)

    try:
        return _read_store(str(db), from_store)[1]
    except (LookupError, ValueError, duckdb.Error) as e:
        raise AuditError(f"per-source thresholds of {detector!r} in {db}: "
                         f"{relative_note(str(e))}") from None


def thresholds_by_source(calibration: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{source: {threshold, origin, origin_label, n_pre_cutoff}} of an `audit_calibration`
    answer: what a per-source cut names beside each source (the filter's manifest, the
    trade-off curve)."""
    return {str(s["source"]): {k: s[k] for k in ("threshold", "origin", "origin_label",
                                                  "n_pre_cutoff")}
            for s in calibration["sources"]}


def _stored(db: str, settings: AuditSettings) -> tuple[str | None, Audit | None]:
    """The latest run id and the audit stored for it with these settings, if any (made by
    other code: see `Audit.code`, the caller decides)."""
    def newest(con, run_id: str | None) -> Audit | None:
        rows = _stored_payloads(con, run_id, settings.digest())
        return Audit.from_dict(json.loads(rows[0][0]), db=str(db), persisted=True) \
            if rows else None

    try:
        return _read_store(db, newest)
    except duckdb.Error as e:
        raise AuditError(f"cannot open the store {db}: {e}") from None


def _stored_payloads(con, run_id: str | None, settings_hash: str | None = None) -> list[tuple]:
    """Stored audits of one run (of one settings hash, if given), newest first; none where the
    store predates the `audits` table."""
    sql = "SELECT audit FROM audits WHERE run_id IS NOT DISTINCT FROM ?"
    params: list[Any] = [run_id]
    if settings_hash is not None:
        sql += " AND settings_hash = ?"
        params.append(settings_hash)
    try:
        return con.execute(sql + " ORDER BY computed_at DESC", params).fetchall()
    except duckdb.CatalogException:
        return []


def _read_store(db: str, read) -> tuple[str | None, Any]:
    """`read(con, latest run id)` on the store opened read-only, with the store's own errors
    (missing, locked) as `AuditError`s; other DuckDB errors are the caller's to word."""
    from auditor.estimate.history import latest_run_id
    from auditor.store.catalogue import StoreLockedError, open_store

    if not os.path.exists(db):
        raise AuditError(f"no store at {db}: run `auditor scan INPUT --db {db}` first")
    try:
        with open_store(db, read_only=True) as store:
            run_id = latest_run_id(store.con)
            return run_id, read(store.con, run_id)
    except StoreLockedError as e:
        raise AuditError(str(e)) from None


def save_audit(audit: Audit) -> None:
    """Store `audit` under its run and settings, and its estimates in the history table (one
    row per group per run: rows of the same run and grouping are replaced)."""
    from auditor.estimate.history import ensure_table, record_estimates
    from auditor.estimate.result import Estimate
    from auditor.store.catalogue import open_store

    payload = json.dumps(dataclasses.replace(audit, persisted=True, notes=()).to_dict(),
                         default=str)
    with open_store(audit.db) as store:
        con = store.con
        con.execute(_TABLE_SQL)
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute("DELETE FROM audits WHERE run_id IS NOT DISTINCT FROM ? AND "
                        "settings_hash = ?", [audit.run_id, audit.settings_hash])
            con.execute("INSERT INTO audits VALUES (?, ?, ?, ?, ?)",
                        [audit.run_id, audit.settings_hash,
                         json.dumps(audit.settings.to_dict(), sort_keys=True),
                         dt.datetime.fromisoformat(audit.computed_at), payload])
            ensure_table(con)
            history = audit.settings.estimates_hash()
            for name, by in GROUPINGS.items():
                con.execute("DELETE FROM estimates WHERE run_id IS NOT DISTINCT FROM ? AND "
                            "group_by = ? AND weight = ? AND settings_hash IS NOT DISTINCT "
                            "FROM ?", [audit.run_id, json.dumps(list(by)),
                                       audit.settings.weight, history])
                ests = [Estimate(**{**e, "notes": tuple(e.get("notes") or ()),
                                    **{k: (math.nan if e.get(k) is None else e[k])
                                       for k in ("fraction", "ci_low", "ci_high")}})
                        for e in audit.estimates.get(name) or []]
                record_estimates(con, by, ests, history)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise


def load_audit(db: str | os.PathLike, settings: AuditSettings | None = None, *,
               recompute: bool = False, persist: bool = True,
               progress: Callable[[str], None] | None = None) -> Audit:
    """The audit of the store's latest scan run with `settings`: the stored one when it exists
    (unless `recompute`) and made by this code (`code_identity`), else computed now and
    stored (when `persist` and the store can be written; else returned with `persisted=False`
    and a note saying why). A stored audit made by other code (an upgrade) is recomputed, and
    a note says what changed."""
    from auditor.store.catalogue import StoreAccessError, StoreLockedError

    db = str(db)
    settings = settings or AuditSettings()
    run_id, stored = _stored(db, settings)
    current = code_identity()
    if stored is not None and not recompute and stored.code == current:
        return stored
    stale = (() if stored is None or recompute else
             (f"the stored audit was made by other code ({code_changes(stored.code, current)})"
              ": recomputed",))
    audit = compute_audit(db, settings, run_id, progress)
    if not persist:
        return dataclasses.replace(audit, notes=(*stale, "audit computed in memory; not "
                                                 "stored (asked not to)"))
    try:
        save_audit(audit)
    except (StoreLockedError, StoreAccessError, duckdb.Error, OSError) as e:
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        return dataclasses.replace(audit, notes=(
            *stale, f"audit computed in memory and not stored: the store cannot be written "
            f"({why}); the next command computes it again",))
    return dataclasses.replace(audit, persisted=True, notes=stale)
