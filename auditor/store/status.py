"""What is in a store, per run and per shard: the data behind `auditor runs` and `auditor status`.

Plain dicts of JSON-friendly values, so the CLI prints them as tables or `--json` unchanged
and other tools (a scheduler, a notebook) get the same view.
"""

from __future__ import annotations

import datetime as dt
import json
import os

from auditor.store.catalogue import open_store
from auditor.store.prune import missing_shards


def _jsonable(row: dict) -> dict:
    out = {}
    for k, v in row.items():
        if isinstance(v, (dt.datetime, dt.date)):
            v = v.isoformat()
        elif k in ("inputs", "detectors", "options") and isinstance(v, str):
            try:
                v = json.loads(v)
            except ValueError:
                pass
        out[k] = v
    return out


def list_runs(db_path: str | os.PathLike, limit: int | None = None) -> list[dict]:
    """Runs, newest first, with their counts and status."""
    with open_store(db_path, read_only=True) as store:
        rows = store.runs()
    rows = [_jsonable(r) for r in reversed(rows)]
    return rows[:limit] if limit else rows


def unit_totals(store) -> dict[str, int]:
    """Over a store's work units: how many, records stored, skipped and failed, units failed
    and partial. The one count, for `status` and for the note `estimate` prints when the scan
    left records out."""
    row = store.con.execute(
        "SELECT count(*), coalesce(sum(n_stored), 0), coalesce(sum(n_skipped), 0), "
        "coalesce(sum(n_failed), 0), count(*) FILTER (WHERE status = 'failed'), "
        "count(*) FILTER (WHERE status = 'partial') FROM units").fetchone()
    keys = ("units", "stored", "skipped", "failed", "units_failed", "units_partial")
    return {k: int(v) for k, v in zip(keys, row, strict=True)}


def store_status(db_path: str | os.PathLike, errors_limit: int = 20) -> dict:
    """Per-shard state, totals, and the latest record errors of a store."""
    with open_store(db_path, read_only=True) as store:
        shards = [_jsonable(s) for s in store.shards()]
        totals = unit_totals(store)
        detectors = {}
        for (dets,) in store.con.execute("SELECT detectors FROM units").fetchall():
            for name, version in json.loads(dets or "{}").items():
                detectors.setdefault(name, {}).setdefault(version, 0)
                detectors[name][version] += 1
        errors = store.rows("SELECT * FROM errors ORDER BY run_id DESC, shard, part, record "
                            "LIMIT ?", [errors_limit])
        n_errors = store.con.execute("SELECT count(*) FROM errors").fetchone()[0]
        last = store.rows("SELECT run_id, status, started_at, finished_at FROM runs "
                          "ORDER BY started_at DESC LIMIT 1")
        documents = store.con.execute("SELECT count(*) FROM documents").fetchone()[0]
        missing = missing_shards(store)
        paths = store.paths
    return {
        "db": paths.db,
        "sidecars": paths.sidecars,
        "last_run": _jsonable(last[0]) if last else None,
        "totals": {"shards": len(shards), **totals, "documents_in_view": documents,
                   "errors": n_errors},
        "detectors": detectors,  # name -> {version: number of units scored with it}
        "shards": shards,
        "missing_shards": missing,  # catalogued, file gone: `auditor prune` removes them
        "errors": [_jsonable(e) for e in errors],
    }
