"""Every record accounted for (the readers findings of a QA walkthrough): a file that fails as a
whole is a failed unit that `--retry-failed` reads again, stray JSON files are skipped with a
reason, and records stored with a repair or left out by type are counted, all on real files."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from auditor.scan.options import ScanOptions
from auditor.scan.runner import run_scan
from tests.corpus_files import make_rows


def _units(db) -> list[dict]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        cur = con.execute("SELECT shard, status, sidecar, n_stored, n_failed FROM units")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()


def test_file_without_text_column_is_a_failed_unit_that_retry_reads_again(tmp_path):
    rows = make_rows(5)
    table = pa.table({"id": [r["id"] for r in rows], "content": [r["text"] for r in rows]})
    pq.write_table(table, tmp_path / "content.parquet")
    db = tmp_path / "s.duckdb"
    first = run_scan([str(tmp_path / "content.parquet")], db, ScanOptions(), detectors="none")
    assert first.status == "partial" and first.counts["units_failed"] == 1
    assert first.counts["failed"] == 1 and first.counts["stored"] == 0
    [unit] = _units(db)
    assert unit["status"] == "failed" and unit["sidecar"] is None
    held = run_scan([str(tmp_path / "content.parquet")], db, ScanOptions(), detectors="none")
    assert held.counts["units_held_failed"] == 1 and held.counts["units_failed"] == 0
    again = run_scan([str(tmp_path / "content.parquet")], db, ScanOptions(), detectors="none",
                     retry_failed=True)
    assert again.counts["units_held_failed"] == 0 and again.counts["units_failed"] == 1
