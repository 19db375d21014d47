"""The store on real files: side-cars, the documents view, crash reconciliation, the planner's
resume rules, sampling texts back from shards, and store locking."""

from __future__ import annotations

import datetime as dt
import glob
import json
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.readers.base import WorkUnit
from auditor.readers.provenance_rows import provenance_batch
from auditor.records import DEFAULT_CUTOFF, PROVENANCE_SCHEMA, Document, estimate_tokens
from auditor.scan.options import ScanOptions
from auditor.scan.plan import make_plan
from auditor.scan.runner import run_scan
from auditor.store import StoreLockedError, open_store, sample_texts
from auditor.store.reconcile import reconcile
from auditor.store.sidecar import (
    read_sidecar,
    read_sidecar_info,
    write_attribute,
    write_sidecar,
)

UTC = dt.timezone.utc


def doc(i: int, text: str, date: dt.datetime | None = None, **kw) -> Document:
    return Document(id=f"d{i}", text=text, source=kw.pop("source", "s"), shard="x.jsonl",
                    offset=i, crawl_date=date, **kw)


def write_corpus(path, n: int, seed: int = 0) -> list[dict]:
    """Parquet rows with ids, text, dates on both sides of the cutoff and two sources."""
    rows = [{"id": f"r{seed}-{i}",
             "text": f"Row {i} of corpus {seed}: " + " ".join(["river", "stone", "light"][i % 3]
                                                             for _ in range(20 + i % 7)),
             "date": "2020-05-01" if i % 2 else "2024-05-01",
             "src": "books" if i % 3 == 0 else "web"} for i in range(n)]
    pq.write_table(pa.Table.from_pylist(rows), str(path), row_group_size=max(1, n // 4))
    return rows


def test_provenance_batch_columns():
    naive = dt.datetime(2022, 11, 29, 23, 0)
    docs = [doc(0, "Hello   world\nagain " * 40, dt.datetime(2020, 1, 2, tzinfo=UTC),
                meta={"html_generator": "WordPress"}),
            doc(1, "after", dt.datetime(2023, 3, 4, tzinfo=UTC)),
            doc(2, "no date"), doc(3, "naive date", naive),
            doc(4, "other zone", dt.datetime(2022, 11, 30, 1, 0, 0, 7,
                                             tzinfo=dt.timezone(dt.timedelta(hours=5))))]
    b = provenance_batch(docs, DEFAULT_CUTOFF)
    assert b.schema == PROVENANCE_SCHEMA
    d = b.to_pydict()
    assert d["pre_cutoff"] == [True, False, None, True, True]  # 2022-11-29T20:00:00Z
    assert d["crawl_month"] == ["2020-01", "2023-03", None, "2022-11", "2022-11"]
    assert d["crawl_date"][3] == naive.replace(tzinfo=UTC)
    assert d["crawl_date"][4] == dt.datetime(2022, 11, 29, 20, 0, 0, 7, tzinfo=UTC)
    assert d["n_chars"] == [len(x.text) for x in docs]
    assert d["n_tokens"] == [estimate_tokens(x.text) for x in docs]
    assert d["snippet"][0] == docs[0].text[:300] and len(d["snippet"][0]) == 300
    assert json.loads(d["meta"][0]) == {"html_generator": "WordPress"} and d["meta"][1] is None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(
    st.text(max_size=400),
    st.text(alphabet=st.sampled_from(" \t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x00ab.\u00a0\u3000\u2028é"),
            max_size=60)), min_size=1, max_size=6))
def test_provenance_batch_counts_match_records(texts):
    b = provenance_batch([doc(i, t) for i, t in enumerate(texts)], DEFAULT_CUTOFF).to_pydict()
    assert b["n_chars"] == [len(t) for t in texts]
    assert b["n_tokens"] == [estimate_tokens(t) for t in texts]
    assert b["snippet"] == [t[:300] for t in texts]


def test_sidecar_write_is_atomic_and_keeps_metadata(tmp_path):
    path = str(tmp_path / "sc" / "u.parquet")
    table = pa.Table.from_batches([provenance_batch([doc(i, f"t{i}") for i in range(5)],
                                                    DEFAULT_CUTOFF)])
    table = table.append_column("score_a", pa.array([0.1] * 5))
    write_sidecar(path, table, {"shard": "x.jsonl", "part": 0}, {"a": "1"})
    assert os.listdir(tmp_path / "sc") == ["u.parquet"]
    info = read_sidecar_info(path)
    assert info.unit == {"shard": "x.jsonl", "part": 0} and info.detectors == {"a": "1"}
    assert info.n_rows == 5 and info.columns[-1] == "score_a"

    attr = str(tmp_path / "sc" / "attributes" / "b" / "u.parquet")
    write_attribute(attr, table, {"score_b": pa.array([0.5] * 5)}, "b", "3",
                    {"shard": "x.jsonl", "part": 0})
    t = read_sidecar(attr)
    assert t.column_names == ["shard", "offset", "score_b"]
    assert t.column("offset").to_pylist() == table.column("offset").to_pylist()
    assert read_sidecar_info(attr).detectors == {"b": "3"}
    assert read_sidecar(path).column("score_a").to_pylist() == [0.1] * 5  # untouched
    with pytest.raises(ValueError, match="has 2 rows, the unit has 5"):
        write_attribute(attr, table, {"score_b": pa.array([0.1, 0.2])}, "b", "4", {})
    assert os.listdir(tmp_path / "sc" / "attributes" / "b") == ["u.parquet"]  # nothing left
    assert read_sidecar_info(attr).detectors == {"b": "3"}


def test_documents_view_empty_then_union_of_sidecars(tmp_path):
    db = tmp_path / "a.duckdb"
    with open_store(db) as store:
        rel = store.documents_view()
        assert rel.columns == PROVENANCE_SCHEMA.names
        assert store.con.execute("SELECT count(*) FROM documents").fetchone()[0] == 0
    for name, det, n in (("one", "alpha", 3), ("two", "beta", 4)):
        t = pa.Table.from_batches([provenance_batch([doc(i, "x") for i in range(n)],
                                                    DEFAULT_CUTOFF)])
        t = t.append_column(f"score_{det}", pa.array([0.5] * n))
        write_sidecar(str(tmp_path / "a.duckdb.sidecars" / f"{name}.parquet"), t, {}, {det: "1"})
    with open_store(db, read_only=True) as store:
        got = store.con.execute("SELECT count(*), count(score_alpha), count(score_beta) "
                                "FROM documents").fetchone()
    assert got == (7, 3, 4)


def scanned_store(tmp_path, n_rows: int = 400) -> tuple[str, list[dict], str]:
    corpus = tmp_path / "c.parquet"
    rows = write_corpus(corpus, n_rows)
    db = str(tmp_path / "s" / "a.duckdb")
    summary = run_scan([str(corpus)], db, ScanOptions(unit_bytes=1), detectors="markers")
    assert summary.status == "ok" and summary.counts["units_scanned"] == 4
    return db, rows, str(corpus)


def test_reconcile_repairs_every_crash_state(tmp_path):
    db, rows, corpus = scanned_store(tmp_path)
    with open_store(db) as store:
        units = store.units()
        # crash states: a run left running, a side-car without its row, a row without its
        # side-car, a half-written temporary file, a side-car newer than its row
        store.con.execute("UPDATE runs SET status = 'running'")
        store.con.execute("DELETE FROM units WHERE part = 0")
        os.unlink(units[1]["sidecar"])
        open(units[2]["sidecar"] + ".123.tmp", "wb").write(b"PAR1 half")
        store.set_unit_detectors(units[3]["shard"], 3, {"markers": "0-old"})
        report = reconcile(store, by_run="R")
        assert report.interrupted_runs and report.removed_tmp == 1
        assert (report.removed_orphan_sidecars, report.dropped_unit_rows) == (1, 1)
        assert report.updated_detectors == 1
        assert [u["part"] for u in store.units()] == [2, 3]
        assert json.loads(store.units()[1]["detectors"]) == {"markers": "1"}
        assert store.runs()[0]["status"] == "failed" and "R" in store.runs()[0]["note"]
        assert len(store.sidecar_files()) == 2
    summary = run_scan([corpus], db, ScanOptions(unit_bytes=1), detectors="markers")
    assert (summary.counts["units_scanned"], summary.counts["units_reused"]) == (2, 2)
    with open_store(db, read_only=True) as store:
        ids = [r[0] for r in store.con.execute("SELECT id FROM documents").fetchall()]
    assert sorted(ids) == sorted(r["id"] for r in rows)


def unit(shard: str, part: int, n_parts: int) -> WorkUnit:
    return WorkUnit(shard=shard, format="parquet", part=part, n_parts=n_parts, start=part,
                    stop=part + 1, size=100, mtime=1.0)


def row(shard, part, n_parts, fp="F", status="ok", dets=None) -> dict:
    return {"shard": shard, "part": part, "n_parts": n_parts, "fingerprint": fp,
            "status": status, "detectors": json.dumps(dets or {"m": "1"})}


def test_plan_rules():
    units = [unit("a", 0, 2), unit("a", 1, 2), unit("b", 0, 1), unit("c", 0, 1),
             unit("d", 0, 2), unit("d", 1, 2), unit("e", 0, 1)]
    fps = {(u.shard, u.part): "F" for u in units}
    fps[("c", 0)] = "F2"  # c changed on disk
    cat = {("a", 0): row("a", 0, 2), ("a", 1): row("a", 1, 2, status="failed"),
           ("b", 0): row("b", 0, 1, dets={"m": "0"}),  # older detector version
           ("c", 0): row("c", 0, 1),
           ("d", 0): row("d", 0, 3), ("d", 1): row("d", 1, 3), ("d", 2): row("d", 2, 3),
           ("gone", 0): row("gone", 0, 1)}
    key = lambda us: sorted((u.shard, u.part) for u in us)  # noqa: E731
    held = make_plan(units, fps, cat, {"m": "1"})  # a failed unit waits for --retry-failed
    assert key(held.held) == [("a", 1)] and ("a", 1) not in key(held.scan)
    assert "a" not in held.register
    plan = make_plan(units, fps, cat, {"m": "1"}, retry_failed=True)
    assert key(plan.reuse) == [("a", 0)] and not plan.held
    assert key(plan.rescore) == [("b", 0)]
    assert key(plan.scan) == [("a", 1), ("c", 0), ("d", 0), ("d", 1), ("e", 0)]
    assert sorted(plan.forget) == ["c", "d"]  # changed file; changed number of units
    assert sorted(plan.register) == ["a", "c", "d", "e"]
    forced = make_plan(units, fps, cat, {"m": "1"}, force=True)
    assert len(forced.scan) == len(units) and sorted(forced.forget) == ["a", "b", "c", "d"]
    assert key(make_plan(units, fps, cat, {}).reuse) == [("a", 0), ("b", 0)]


def test_sample_texts_reads_real_texts_deterministically(tmp_path):
    db, rows, _ = scanned_store(tmp_path)
    by_text = {r["text"]: r for r in rows}
    first = sample_texts(db, 25, seed=1)
    assert len(first) == 25 and len(set(first)) == 25
    assert all(t in by_text and by_text[t]["date"] == "2020-05-01" for t in first)  # pre-cutoff
    assert sample_texts(db, 25, seed=1) == first
    assert sample_texts(db, 25, seed=2) != first
    everything = sample_texts(db, 1000, pre_cutoff_only=False)
    assert sorted(everything) == sorted(by_text)
    assert sample_texts(db, 0) == []
    assert sample_texts(db, 10, source="nope") == []


def test_sample_texts_by_source(tmp_path):
    corpus = tmp_path / "c.parquet"
    rows = write_corpus(corpus, 60)
    db = str(tmp_path / "a.duckdb")
    from auditor.readers.base import ReaderOptions

    run_scan([str(corpus)], db, ScanOptions(reader=ReaderOptions(source_by="column:src")),
             detectors="none")
    books = sample_texts(db, 100, pre_cutoff_only=False, source="books")
    assert sorted(books) == sorted(r["text"] for r in rows if r["src"] == "books")


def test_open_store_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no store at"):
        open_store(tmp_path / "none.duckdb", read_only=True)
    db = tmp_path / "a.duckdb"
    open_store(db).close()
    os.makedirs(str(db) + ".logs", exist_ok=True)
    with open(str(db) + ".logs/r1.log", "w") as fh:
        fh.write('{"event": "progress", "units_done": 7}\n')
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
         "print('held', flush=True); time.sleep(60)", str(db)], stdout=subprocess.PIPE,
        text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreLockedError, match=r"open for writing by .*pid .*units_done\": 7"):
            open_store(db)
    finally:
        holder.kill()
        holder.wait()
    assert glob.glob(str(db) + ".sidecars")
