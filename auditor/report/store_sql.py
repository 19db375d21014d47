"""Read-only SQL over a store's `documents` view and catalogue tables, for reports and checks.

Kept apart from estimation on purpose: the report needs counts, coverage, correlations and the
top-flagged documents, which are plain aggregates; the synthetic fractions themselves come only
from `auditor.estimate`, so there is one place that defines them. Identifiers (score columns,
group columns) are validated against the view's real columns before they enter SQL; values are
always bound as `?` parameters.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import re
from collections.abc import Iterator
from typing import Any

import duckdb

from auditor.audit import coverage as coverage  # one home (the audit); kept here for callers
from auditor.estimate.choice import PREFERENCE
from auditor.records import NON_AUTHORSHIP_DETECTORS

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Detectors preferred as "the" detector of a report when the estimate names none: the one
#: order estimation uses (`auditor.estimate.choice.PREFERENCE`).
DETECTOR_PREFERENCE = PREFERENCE


class StoreError(Exception):
    """The store cannot be read: missing file, no documents view, no documents."""


@contextlib.contextmanager
def connect(db_path: str) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to an existing store, read-only when possible, closed on exit.

    Closed promptly because estimation opens its own connection to the same file, and DuckDB
    refuses two connections with different settings in one process.
    """
    from auditor.store.catalogue import StoreLockedError, open_store

    if not os.path.exists(db_path):
        raise StoreError(f"no store at {db_path}: run `auditor scan INPUT... --db {db_path}` first")
    try:
        store = open_store(db_path, read_only=True)  # its own `documents` view, moved or not
    except StoreLockedError as e:
        raise StoreError(str(e)) from None
    except duckdb.Error as e:
        raise StoreError(f"cannot open the store {db_path}: {e}") from None
    try:
        yield store.con
    finally:
        store.close()


def ident(name: str, allowed: set[str] | list[str]) -> str:
    """Quote `name` for SQL after checking it is one of the `allowed` column names."""
    if name not in allowed or not _IDENT.match(name):
        raise StoreError(f"unknown column {name!r}; known: {', '.join(sorted(allowed))}")
    return f'"{name}"'


def tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    return {r[0] for r in rows}


def columns(con: duckdb.DuckDBPyConnection, table: str = "documents") -> list[str]:
    if table not in tables(con) or not _IDENT.match(table):
        raise StoreError(f"the store has no {table!r} view or table: was it made by `auditor scan`?")
    try:
        # DESCRIBE resolves the name as queries do (a read-only open has a temp view that
        # shadows the stored one), where information_schema would list both
        rows = con.execute(f'DESCRIBE "{table}"').fetchall()
        if table == "documents":
            con.execute("SELECT 1 FROM documents LIMIT 1").fetchall()
    except duckdb.Error as e:
        raise StoreError(f"cannot read the {table!r} view: {e}; rescan with `auditor scan`") from e
    return [r[0] for r in rows]


def score_detectors(cols: list[str]) -> list[str]:
    """Detector names that have a score column in the view, preferred first."""
    names = [c[len("score_"):] for c in cols if c.startswith("score_")
             and c[len("score_"):] not in NON_AUTHORSHIP_DETECTORS]
    rank = {n: i for i, n in enumerate(DETECTOR_PREFERENCE)}
    return sorted(names, key=lambda n: (rank.get(n, len(rank)), n))


def _iso(v: Any) -> Any:
    if isinstance(v, (dt.datetime, dt.date)):
        return v.isoformat()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def rows_as_dicts(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [{n: _iso(v) for n, v in zip(names, row, strict=False)} for row in cur.fetchall()]


def summary(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Counts over corpus documents, and the count per role."""
    n, tok, src, dmin, dmax = con.execute(
        "SELECT count(*), coalesce(sum(n_tokens), 0), count(DISTINCT source), min(crawl_date), "
        "max(crawl_date) FROM documents WHERE role = 'corpus'").fetchone()
    roles = dict(con.execute("SELECT role, count(*) FROM documents GROUP BY role").fetchall())
    if not n:
        raise StoreError("the store has no corpus documents: scan some with `auditor scan`")
    return {"n_docs": int(n), "n_tokens": int(tok), "n_sources": int(src), "date_min": _iso(dmin),
            "date_max": _iso(dmax), "roles": {k: int(v) for k, v in roles.items()}}


def scan_cutoffs(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The cutoffs the store's scan runs split documents by (`auditor scan --cutoff`), the
    latest run's first: a store scanned with --cutoff 2023-06-01 was labelled 2022-11-30."""
    import json

    if "runs" not in tables(con):
        return []
    out: list[str] = []
    for (options,) in con.execute("SELECT options FROM runs ORDER BY started_at DESC"
                                  ).fetchall():
        try:
            cutoff = ((json.loads(options or "{}") or {}).get("reader") or {}).get("cutoff")
        except (ValueError, AttributeError):
            continue
        if isinstance(cutoff, str) and cutoff not in out:
            out.append(cutoff)
    return out


def per_source(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return rows_as_dicts(con.execute(
        "SELECT source, count(*) AS n_docs, coalesce(sum(n_tokens), 0) AS n_tokens, "
        "count(*) FILTER (WHERE synthetic_by_construction) AS n_synthetic_by_construction, "
        "min(crawl_date) AS date_min, max(crawl_date) AS date_max "
        "FROM documents WHERE role = 'corpus' GROUP BY source ORDER BY source"))


def per_month(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return rows_as_dicts(con.execute(
        "SELECT crawl_month AS month, count(*) AS n_docs, "
        "count(*) FILTER (WHERE pre_cutoff) AS n_pre_cutoff FROM documents "
        "WHERE role = 'corpus' AND crawl_month IS NOT NULL GROUP BY crawl_month ORDER BY 1"))


#: Agreement statistics are computed on at most this many documents (a seeded reservoir
#: sample): ranks over a billion rows cost a sort each, and a million rows pin a correlation to
#: the third decimal.
AGREEMENT_SAMPLE = 1_000_000


def agreement(con: duckdb.DuckDBPyConnection, detectors: list[str],
              thresholds: dict[str, float], sample: int = AGREEMENT_SAMPLE,
              seed: int = 0) -> list[dict[str, Any]]:
    """Pearson and Spearman correlation and the flag agreement rate of each detector pair."""
    cols = columns(con)
    out = []
    for i, a in enumerate(detectors):
        for b in detectors[i + 1:]:
            ca, cb = ident(f"score_{a}", cols), ident(f"score_{b}", cols)
            both = (f"FROM documents WHERE role = 'corpus' AND {ca} IS NOT NULL "
                    f"AND {cb} IS NOT NULL")
            n_all = con.execute(f"SELECT count(*) {both}").fetchone()[0]
            src = (f"(SELECT {ca}, {cb} {both})" if n_all <= sample else
                   f"(SELECT {ca}, {cb} {both}) USING SAMPLE reservoir({int(sample)} ROWS) "
                   f"REPEATABLE ({int(seed)})")
            n, pearson, spearman, agree = con.execute(
                f"SELECT count(*), corr(x, y), corr(rx, ry), "
                f"avg(CASE WHEN (x > ?) = (y > ?) THEN 1.0 ELSE 0.0 END) FROM ("
                f"SELECT {ca} AS x, {cb} AS y, rank() OVER (ORDER BY {ca}) AS rx, "
                f"rank() OVER (ORDER BY {cb}) AS ry FROM {src})",
                [thresholds[a], thresholds[b]]).fetchone()
            out.append({"a": a, "b": b, "n": int(n_all), "n_used": int(n),
                        "pearson": _iso(pearson), "spearman": _iso(spearman),
                        "agreement": _iso(agree), "threshold_a": thresholds[a],
                        "threshold_b": thresholds[b]})
    return out


def top_flagged(con: duckdb.DuckDBPyConnection, detector: str, k: int) -> dict[str, list]:
    """Per source, the `k` corpus documents the detector scores highest, with every score and
    reason, so a person can read them and judge the tool."""
    cols = columns(con)
    main = ident(f"score_{detector}", cols)
    extra = [ident(c, cols) for c in cols if c.startswith(("score_", "reason_"))]
    rows = rows_as_dicts(con.execute(
        f"SELECT * EXCLUDE (rk) FROM (SELECT source, id, url, crawl_date, license, snippet, "
        f"{', '.join(extra)}, row_number() OVER (PARTITION BY source ORDER BY {main} DESC, id) "
        f"AS rk FROM documents WHERE role = 'corpus' AND {main} IS NOT NULL) WHERE rk <= ? "
        f"ORDER BY source, rk", [k]))
    out: dict[str, list] = {}
    for r in rows:
        doc = {k2: r[k2] for k2 in ("id", "url", "crawl_date", "license", "snippet")}
        doc["scores"] = {c[6:]: r[c] for c in r if c.startswith("score_")}
        doc["reasons"] = {c[7:]: r[c] for c in r if c.startswith("reason_") and r[c]}
        out.setdefault(r["source"], []).append(doc)
    return out


def issues(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Runs and the skipped/failed records the scans logged."""
    have = tables(con)
    out: dict[str, Any] = {"n_runs": 0, "last_run": None, "errors": {}, "top_reasons": []}
    if "runs" in have:
        out["n_runs"] = con.execute("SELECT count(*) FROM runs").fetchone()[0]
        last = rows_as_dicts(con.execute("SELECT * FROM runs ORDER BY started_at DESC LIMIT 1"))
        out["last_run"] = last[0] if last else None
    if "errors" in have:
        # records, not rows: a row may stand for many (a WARC file's request records), and
        # `kept` records are stored (with a repair), so they are not among those not stored
        columns = {r[0] for r in con.execute("DESCRIBE errors").fetchall()}
        n = "sum(coalesce(n_records, 1))" if "n_records" in columns else "count(*)"
        by_status = {s: int(k) for s, k in con.execute(
            f"SELECT status, {n} FROM errors GROUP BY status ORDER BY status").fetchall()}
        out["kept"] = by_status.pop("kept", 0)
        out["errors"] = by_status
        out["top_reasons"] = rows_as_dicts(con.execute(
            f"SELECT status, left(reason, 120) AS reason, {n} AS n FROM errors "
            "GROUP BY ALL ORDER BY n DESC, reason LIMIT 10"))
    return out
