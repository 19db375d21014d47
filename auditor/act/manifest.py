"""The filter manifest: one row per stored document with the decision and the rules behind it.

A manifest is the durable answer to "what do I keep?": shard, record offset (byte offset for
JSON lines and WARC, row index for Parquet, as in the store) and id identify the record; decision
is `keep` or `drop`; reasons lists every rule that matched. It is computed in DuckDB over the
`documents` view and streamed to Parquet batch by batch, so memory does not grow with the
corpus. The rules are stored in the file's metadata, so a manifest says how it was made, and
so are the per-source thresholds a `source_threshold` rule used (each source's threshold and
its origin, from the store's audit).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from auditor.act.rules import Rule, decision_sql, view_types
from auditor.output_files import replaced_when_done

MANIFEST_SCHEMA = pa.schema([
    pa.field("shard", pa.string(), nullable=False),
    pa.field("offset", pa.int64(), nullable=False),
    pa.field("id", pa.string(), nullable=False),
    pa.field("source", pa.string()),
    pa.field("role", pa.string()),
    pa.field("decision", pa.string(), nullable=False),
    pa.field("reasons", pa.list_(pa.string())),
])
#: Parquet key-value metadata key holding the rules as JSON.
RULES_KEY = b"auditor.filter.rules"
#: Parquet key-value metadata key holding the per-source thresholds (JSON) a rule used.
THRESHOLDS_KEY = b"auditor.filter.source_thresholds"
BATCH_ROWS = 65_536


@dataclass(frozen=True)
class ManifestSummary:
    """Counts of a written manifest, per source and overall."""

    path: str
    n_docs: int
    n_kept: int
    n_dropped: int
    by_source: dict[str, dict[str, int]]
    by_reason: dict[str, int]
    rules: tuple[str, ...]
    #: per detector of a `source_threshold` rule: {detector, fpr, shipped_threshold, sources:
    #: {source: {threshold, origin, origin_label, n_pre_cutoff}}}
    source_thresholds: tuple[dict, ...] = ()

    def to_dict(self) -> dict:
        return {"path": self.path, "n_docs": self.n_docs, "n_kept": self.n_kept,
                "n_dropped": self.n_dropped, "by_source": self.by_source,
                "by_reason": self.by_reason, "rules": list(self.rules),
                "source_thresholds": list(self.source_thresholds)}


def resolve_source_thresholds(db_path: str | os.PathLike, rules: Sequence[Rule]
                              ) -> tuple[tuple[Rule, ...], tuple[dict, ...]]:
    """Rules with every `source_threshold` filled in from the store's audit
    (`auditor.audit.audit_calibration`), and what each detector's thresholds were."""
    from auditor.act.rules import RuleError
    from auditor.audit import AuditError, audit_calibration, thresholds_by_source

    out, used = [], {}
    for rule in rules:
        det = rule.detector()
        if not rule.per_source or det is None:
            out.append(rule)
            continue
        if det not in used:
            try:
                used[det] = audit_calibration(db_path, det)
            except AuditError as e:
                raise RuleError(f"rule {rule.text!r}: {e}") from None
        cal = used[det]
        out.append(rule.with_thresholds(
            {s["source"]: s["threshold"] for s in cal["sources"]}, cal.get("shipped_threshold")))
    return tuple(out), tuple(
        {"detector": det, "fpr": cal["fpr"], "shipped_threshold": cal.get("shipped_threshold"),
         "min_pre_cutoff": cal["min_pre_cutoff"],
         "sources": thresholds_by_source(cal)}
        for det, cal in used.items())


def write_manifest(db_path: str | os.PathLike, rules: Sequence[Rule],
                   out_path: str | os.PathLike) -> ManifestSummary:
    """Decide every stored document of the store at `db_path` and write the manifest Parquet
    (atomically: a temporary name, then a rename). Raises `RuleError` for a rule that does not
    fit the store (a missing column, a date compared with a number)."""
    from auditor.store import open_store

    if not os.path.exists(db_path):
        raise FileNotFoundError(f"no store at {db_path}: run `auditor scan INPUT --db {db_path}` "
                                "first")
    rules, thresholds = resolve_source_thresholds(db_path, rules)
    out = os.fspath(out_path)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".tmp"
    meta = {RULES_KEY: json.dumps([{"action": r.action, "rule": r.text} for r in rules]).encode(),
            THRESHOLDS_KEY: json.dumps(thresholds).encode()}
    schema = MANIFEST_SCHEMA.with_metadata(meta)
    with open_store(db_path, read_only=True) as store:
        (decision, d_params), (reasons, r_params) = decision_sql(rules, view_types(store.con))
        sql = (f'SELECT shard, "offset", id, source, role, {decision} AS decision, '
               f"{reasons} AS reasons FROM documents ORDER BY shard, \"offset\", id")
        reader = store.con.sql(sql, params=[*d_params, *r_params]).to_arrow_reader(BATCH_ROWS)
        with replaced_when_done(out, tmp), pq.ParquetWriter(tmp, schema,
                                                           compression="zstd") as writer:
            for batch in reader:
                writer.write_batch(pa.RecordBatch.from_arrays(
                    [batch.column(i).cast(f.type) for i, f in enumerate(MANIFEST_SCHEMA)],
                    schema=schema))
    return summarise_manifest(out)


def summarise_manifest(path: str | os.PathLike) -> ManifestSummary:
    """Counts of a manifest file, read back with DuckDB (aggregates only)."""
    import duckdb

    p = os.fspath(path)
    con = duckdb.connect()
    try:
        rows = con.execute("SELECT coalesce(source, ''), decision, count(*) FROM read_parquet(?) "
                           "GROUP BY ALL ORDER BY ALL", [p]).fetchall()
        reasons = con.execute("SELECT r, count(*) FROM (SELECT unnest(reasons) AS r FROM "
                              "read_parquet(?)) GROUP BY r ORDER BY r", [p]).fetchall()
    finally:
        con.close()
    by_source: dict[str, dict[str, int]] = {}
    for source, decision, n in rows:
        by_source.setdefault(source, {"keep": 0, "drop": 0})[decision] = int(n)
    kept = sum(v["keep"] for v in by_source.values())
    dropped = sum(v["drop"] for v in by_source.values())
    meta = pq.read_schema(p).metadata or {}
    rules = tuple(f"{r['action']} {r['rule']}" for r in json.loads(meta.get(RULES_KEY, b"[]")))
    return ManifestSummary(p, kept + dropped, kept, dropped, by_source,
                           {r: int(n) for r, n in reasons}, rules,
                           tuple(json.loads(meta.get(THRESHOLDS_KEY, b"[]"))))
