"""The `estimates` table: every recorded estimate, with the scan run it describes.

The nightly `check` compares a run's rows with the previous run's, so each row carries the
latest scan run id (from `runs`), the time it was made and `settings_hash`: a hash of the
settings that change a point estimate besides the detector and method (which are columns of
their own). The rise gate compares only rows of equal hash: a rise measured against an
estimate made with another --min-docs, --similar-by or reference says nothing about the data.
Rows are only appended.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
from collections.abc import Sequence

import duckdb

from auditor.estimate.result import Estimate

COLUMNS: dict[str, str] = {
    "estimated_at": "TIMESTAMPTZ",
    "run_id": "VARCHAR",
    "group_by": "VARCHAR",  # JSON list of the group-by columns
    "group_key": "VARCHAR",  # JSON object column -> value
    "n_docs": "BIGINT",
    "n_tokens": "BIGINT",
    "fraction": "DOUBLE",
    "ci_low": "DOUBLE",
    "ci_high": "DOUBLE",
    "method": "VARCHAR",
    "detector": "VARCHAR",
    "n_human_ref": "BIGINT",
    "n_machine_ref": "BIGINT",
    "floor": "DOUBLE",
    "weight": "VARCHAR",
    "human_ref": "VARCHAR",
    "notes": "VARCHAR",  # JSON list
    "status": "VARCHAR",  # result.Status value
    "n_pre_cutoff": "BIGINT",
    "fraction_post": "DOUBLE",
    "vocab_fraction": "DOUBLE",
    "settings_hash": "VARCHAR",  # `settings_hash(...)`; NULL on rows of older versions
}


def settings_hash(weight: str = "docs", min_docs: int | None = None,
                  similar_by: str | None = None, machine_reference: str | None = None,
                  human_reference: str | None = None, generated: bool | None = None) -> str:
    """The hash of the settings two point estimates must share to be compared (the one rule,
    for `estimate_db`'s rows and the audit's): weight, the minimum group size (which groups are
    pooled), the genre column references are borrowed by, the reference overrides (a file by
    its content, `reference_identity`, so one changed in place is another setting; a source
    name as given) and the machine texts of `auditor detectors generate`.
    Not `n_boot` or `seed`: they change the interval, not the point a rise is measured on.
    None means the default, so a default passed explicitly hashes the same."""
    from auditor.estimate.choice import MIN_GROUP_DOCS
    from auditor.estimate.generated import USE_BY_DEFAULT

    settings = {"weight": weight, "min_docs": MIN_GROUP_DOCS if min_docs is None else min_docs,
                "similar_by": similar_by,
                "machine_reference": reference_identity(machine_reference),
                "human_reference": reference_identity(human_reference),
                "generated": USE_BY_DEFAULT if generated is None else bool(generated)}
    text = json.dumps(settings, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def reference_identity(reference: str | None) -> str | None:
    """A reference override as the settings hash sees it: a file as its name and the SHA-256
    of its content (read in 1 MiB blocks), so editing the file in place changes the settings;
    anything else (a source name in the store, None) as given."""
    if reference is None or not os.path.isfile(reference):
        return reference
    digest = hashlib.sha256()
    with open(reference, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return f"{os.path.basename(reference)}|sha256:{digest.hexdigest()}"


def latest_run_id(con: duckdb.DuckDBPyConnection) -> str | None:
    """The most recently started scan run, or None when the store has no `runs` table/rows."""
    try:
        row = con.execute(
            "SELECT run_id FROM runs ORDER BY started_at DESC, run_id DESC LIMIT 1").fetchone()
    except duckdb.CatalogException:
        return None
    return row[0] if row else None


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    """Create `estimates`, or add columns an older version of it lacks."""
    cols = ", ".join(f"{name} {typ}" for name, typ in COLUMNS.items())
    con.execute(f"CREATE TABLE IF NOT EXISTS estimates ({cols})")
    have = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'estimates'"
    ).fetchall()}
    for name, typ in COLUMNS.items():  # names and types are the constants above
        if name not in have:
            con.execute(f"ALTER TABLE estimates ADD COLUMN {name} {typ}")


def _num(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x


def record_estimates(con: duckdb.DuckDBPyConnection, by: Sequence[str],
                     estimates: Sequence[Estimate], settings: str,
                     at: dt.datetime | None = None) -> None:
    """Append `estimates` (one row each) under the latest run id, made with the settings of
    hash `settings` (`settings_hash`)."""
    ensure_table(con)
    at = at or dt.datetime.now(dt.timezone.utc)
    run_id = latest_run_id(con)
    rows = [
        (at, run_id, json.dumps(list(by)), json.dumps(e.group, default=str, sort_keys=True),
         e.n_docs, e.n_tokens, _num(e.fraction), _num(e.ci_low), _num(e.ci_high), e.method,
         e.detector, e.n_human_ref, e.n_machine_ref, _num(e.floor), e.weight, e.human_ref,
         json.dumps(list(e.notes)), e.status, e.n_pre_cutoff, _num(e.fraction_post),
         _num(e.vocab_fraction), settings)
        for e in estimates
    ]
    if rows:
        names = ", ".join(COLUMNS)
        marks = ", ".join("?" for _ in COLUMNS)
        con.executemany(f"INSERT INTO estimates ({names}) VALUES ({marks})", rows)
