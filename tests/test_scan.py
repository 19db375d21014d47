"""`auditor scan` end to end through the CLI on real files: accounting of every record,
corrupt inputs, incremental re-runs, new and upgraded detectors, parallel workers."""

from __future__ import annotations

import gzip
import json
import os
import random

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from auditor.cli import main
from auditor.scan import unit as unit_module

WORDS = ("the of and to in is that for it as was with be by on not he this are or his from at "
         "which but have an they you were her she there been one all we their").split()
AI_OPENERS = ("As an AI language model, I cannot browse the web, but ",
              "Certainly! Here's a revised version of your text: ")


def make_rows(prefix: str, n: int, seed: int, empty_every: int = 0) -> list[dict]:
    """Documents with ids, URLs, dates (half before the 2022-11-30 cutoff), some AI openers."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 120)))
        if i % 5 == 0:
            text = AI_OPENERS[i % 2] + text
        if empty_every and i % empty_every == 3:
            text = "   "
        year = 2021 if i % 2 else 2024
        rows.append({"id": f"{prefix}-{i}", "text": text,
                     "url": f"https://www.site{i % 7}.co.uk/page/{i}",
                     "date": f"{year}-0{1 + i % 9}-15T10:00:00Z"})
    return rows


def write_parquet(path, rows: list[dict], row_group_size: int = 100) -> None:
    pq.write_table(pa.Table.from_pylist(rows), str(path), row_group_size=row_group_size)


def write_jsonl_gz(path, lines: list[str]) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for line in lines:
            fh.write(line + "\n")


def scan(args: list[str]):
    """Run `auditor scan ... --json` in-process; return (exit code, parsed summary)."""
    result = CliRunner().invoke(main, ["scan", *args, "--json"], catch_exceptions=False)
    try:
        summary = json.loads(result.stdout)
    except ValueError:
        pytest.fail(f"scan did not print JSON (exit {result.exit_code}):\n{result.output}")
    return result.exit_code, summary


def stored(db) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(f"SELECT id, shard, \"offset\" FROM read_parquet('{db}.sidecars/*.parquet', "
                           "union_by_name=true) ORDER BY shard, \"offset\"").fetchall()
    finally:
        con.close()


def query(db, sql: str, params=()) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def test_every_record_is_stored_skipped_or_failed(tmp_path):
    rows = make_rows("pq", 350, seed=1, empty_every=50)
    write_parquet(tmp_path / "web.parquet", rows, row_group_size=100)  # 4 row groups
    lines = [json.dumps(r) for r in make_rows("js", 60, seed=2)]
    lines[10] = '{"id": "js-10", "text": "broken json'  # invalid JSON: a failed record
    lines[20] = json.dumps({"id": "js-20", "text": ""})  # empty: a skipped record
    write_jsonl_gz(tmp_path / "chat.jsonl.gz", lines)
    db = tmp_path / "audit.duckdb"

    code, s = scan([str(tmp_path / "web.parquet"), str(tmp_path / "chat.jsonl.gz"),
                    "--db", str(db), "--detectors", "markers", "--unit-size", "1"])

    assert code == 3 and s["status"] == "partial"  # one record failed
    empty_pq = {r["id"] for r in rows if not r["text"].strip()}
    expected = ({r["id"] for r in rows} - empty_pq) | {f"js-{i}" for i in range(60)} - {"js-10",
                                                                                        "js-20"}
    ids = [r[0] for r in stored(db)]
    assert len(ids) == len(set(ids)) and set(ids) == expected
    c = s["counts"]
    assert (c["stored"], c["skipped"], c["failed"]) == (len(expected), len(empty_pq) + 1, 1)
    assert c["stored"] + c["skipped"] + c["failed"] == 350 + 60
    # the Parquet file became one unit per row group
    assert query(db, "SELECT count(*) FROM units WHERE shard LIKE '%web.parquet'")[0][0] == 4
    errors = query(db, "SELECT shard, record, status, reason FROM errors ORDER BY status")
    assert len(errors) == c["skipped"] + c["failed"]
    failed = [e for e in errors if e[2] == "failed"]
    assert failed[0][0].endswith("chat.jsonl.gz") and "line 11" in failed[0][1]
    assert "invalid JSON" in failed[0][3]
    # provenance and scores landed in the documents view
    got = query(db, "SELECT count(*), count(score_markers), sum(pre_cutoff::int), "
                    "count(DISTINCT domain) FROM documents WHERE shard LIKE '%web.parquet'")[0]
    assert got[0] == got[1] == 350 - len(empty_pq)
    assert got[2] == sum(1 for r in rows if r["date"].startswith("2021") and r["text"].strip())
    assert got[3] == 7
    ai = query(db, "SELECT min(score_markers) FROM documents WHERE id IN ('pq-0', 'pq-5')")[0][0]
    assert ai > 0.5
    assert set(s["detectors"]) == {"markers"}


def test_corrupt_inputs_are_recorded_and_the_scan_goes_on(tmp_path):
    good = make_rows("ok", 120, seed=3)
    write_parquet(tmp_path / "good.parquet", good, row_group_size=50)
    write_parquet(tmp_path / "broken.parquet", make_rows("bad", 100, seed=4))
    data = (tmp_path / "broken.parquet").read_bytes()
    (tmp_path / "broken.parquet").write_bytes(data[: len(data) // 2])  # footer gone
    write_jsonl_gz(tmp_path / "cut.jsonl.gz", [json.dumps(r) for r in make_rows("cut", 6000, 5)])
    whole = (tmp_path / "cut.jsonl.gz").read_bytes()
    (tmp_path / "cut.jsonl.gz").write_bytes(whole[: int(len(whole) * 0.6)])  # truncated gzip
    db = tmp_path / "audit.duckdb"

    code, s = scan([str(tmp_path), "--db", str(db), "--detectors", "none"])

    assert code == 3 and s["status"] == "partial"
    ids = [r[0] for r in stored(db)]
    assert len(ids) == len(set(ids))
    assert {f"ok-{i}" for i in range(120)} <= set(ids)
    n_cut = sum(1 for i in ids if i.startswith("cut-"))
    assert 0 < n_cut < 6000  # what came before the truncation is kept
    errors = query(db, "SELECT shard, record, reason FROM errors WHERE status = 'failed' "
                       "ORDER BY shard")
    by_file = {os.path.basename(e[0]): e for e in errors}
    assert set(by_file) == {"broken.parquet", "cut.jsonl.gz"}
    assert "Parquet" in by_file["broken.parquet"][2]
    assert "truncated" in by_file["cut.jsonl.gz"][2]
    status = dict(query(db, "SELECT uri, status FROM shards"))
    assert status[str(tmp_path / "good.parquet")] == "ok"
    assert status[str(tmp_path / "broken.parquet")] == "failed"
    assert status[str(tmp_path / "cut.jsonl.gz")] == "partial"


def test_incremental_reruns_touch_only_what_changed(tmp_path):
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    write_parquet(a, make_rows("a", 200, seed=6))
    write_parquet(b, make_rows("b", 200, seed=7))
    db = tmp_path / "audit.duckdb"
    base = ["--db", str(db), "--detectors", "markers", "--unit-size", "1"]

    code, s = scan([str(tmp_path / "*.parquet"), *base])
    assert code == 0 and s["counts"]["units_scanned"] == 4 and s["counts"]["stored"] == 400

    code, s = scan([str(tmp_path / "*.parquet"), *base])  # nothing changed
    c = s["counts"]
    assert code == 0 and (c["units_scanned"], c["units_reused"], c["stored"]) == (0, 4, 0)

    write_parquet(a, make_rows("a", 250, seed=8))  # shard a changed (appended rows)
    code, s = scan([str(tmp_path / "*.parquet"), *base])
    c = s["counts"]
    assert (c["units_scanned"], c["units_reused"], c["stored"]) == (3, 2, 250)

    write_parquet(tmp_path / "c.parquet", make_rows("c", 50, seed=9))  # new shard
    code, s = scan([str(tmp_path / "*.parquet"), *base])
    c = s["counts"]
    assert (c["units_scanned"], c["units_reused"], c["stored"]) == (1, 5, 50)

    expected = {f"a-{i}" for i in range(250)} | {f"b-{i}" for i in range(200)} | {
        f"c-{i}" for i in range(50)}
    ids = [r[0] for r in stored(db)]
    assert len(ids) == len(expected) and set(ids) == expected  # old rows of `a` replaced

    code, s = scan([str(tmp_path / "*.parquet"), *base, "--force"])
    c = s["counts"]
    assert (c["units_scanned"], c["units_reused"], c["stored"]) == (6, 0, 500)
    assert sorted(r[0] for r in stored(db)) == sorted(expected)
    runs = query(db, "SELECT status, n_units_scanned FROM runs ORDER BY started_at")
    assert runs == [("ok", 4), ("ok", 0), ("ok", 3), ("ok", 1), ("ok", 6)]


def test_new_and_upgraded_detector_fill_only_their_column(tmp_path, monkeypatch):
    path = tmp_path / "docs.parquet"
    write_parquet(path, make_rows("d", 300, seed=10))
    db, fresh = tmp_path / "audit.duckdb", tmp_path / "fresh.duckdb"
    base = [str(path), "--unit-size", "1"]

    code, s = scan([*base, "--db", str(db), "--detectors", "none"])
    assert code == 0 and s["counts"]["units_scanned"] == 3
    before = query(db, "SELECT * FROM documents ORDER BY \"offset\"")

    code, s = scan([*base, "--db", str(db), "--detectors", "markers"])
    c = s["counts"]
    assert (c["units_scanned"], c["units_rescored"], c["stored"]) == (0, 3, 0)
    after = query(db, "SELECT * EXCLUDE (score_markers, reason_markers) FROM documents "
                      "ORDER BY \"offset\"")
    assert after == before  # provenance untouched
    scan([*base, "--db", str(fresh), "--detectors", "markers"])
    cols = "id, score_markers, reason_markers"
    assert query(db, f"SELECT {cols} FROM documents ORDER BY id") == query(
        fresh, f"SELECT {cols} FROM documents ORDER BY id")
    assert query(db, "SELECT DISTINCT detectors FROM units") == [('{"markers": "1"}',)]

    # an upgraded detector (new version) is recomputed; nothing else is
    from detectors.markers import MarkersDetector

    monkeypatch.setattr(MarkersDetector, "version", "2-test")
    monkeypatch.setattr(unit_module, "_LOADED", {})
    code, s = scan([*base, "--db", str(db), "--detectors", "markers"])
    assert (s["counts"]["units_rescored"], s["counts"]["units_scanned"]) == (3, 0)
    assert query(db, "SELECT DISTINCT detectors FROM units") == [('{"markers": "2-test"}',)]
    assert query(db, "SELECT * EXCLUDE (score_markers, reason_markers) FROM documents "
                     "ORDER BY \"offset\"") == before
    code, s = scan([*base, "--db", str(db), "--detectors", "markers"])
    assert s["counts"]["units_reused"] == 3 and s["counts"]["units_rescored"] == 0


def test_two_workers_store_the_same_rows_as_one(tmp_path):
    for k in range(3):
        write_parquet(tmp_path / f"s{k}.parquet", make_rows(f"s{k}", 150, seed=20 + k), 50)
    write_jsonl_gz(tmp_path / "t.jsonl.gz", [json.dumps(r) for r in make_rows("t", 80, 30)])
    one, two = tmp_path / "one.duckdb", tmp_path / "two.duckdb"
    args = [str(tmp_path / "s*.parquet"), str(tmp_path / "t.jsonl.gz"), "--detectors", "markers",
            "--unit-size", "1"]
    code1, s1 = scan([*args, "--db", str(one), "--workers", "1"])
    code2, s2 = scan([*args, "--db", str(two), "--workers", "2"])
    assert code1 == code2 == 0
    assert s1["counts"] == s2["counts"]
    sql = "SELECT * FROM documents ORDER BY shard, \"offset\""
    rows1 = query(one, sql)
    assert len(rows1) == 530 and rows1 == query(two, sql)


def test_runs_and_status_report_the_store(tmp_path):
    write_parquet(tmp_path / "x.parquet", make_rows("x", 120, seed=11), 40)
    db = tmp_path / "audit.duckdb"
    scan([str(tmp_path / "x.parquet"), "--db", str(db), "--detectors", "markers",
          "--unit-size", "1"])
    scan([str(tmp_path / "x.parquet"), "--db", str(db), "--detectors", "markers",
          "--unit-size", "1"])
    runner = CliRunner()
    res = runner.invoke(main, ["scan", str(tmp_path / "x.parquet"), "--db", str(db),
                               "--detectors", "markers", "--unit-size", "1", "--progress"])
    assert res.exit_code == 0 and "3 already stored" in res.stdout
    assert "docs/s" in res.stderr  # the progress bar went to stderr
    res = runner.invoke(main, ["runs", "--db", str(db), "--json"])
    assert res.exit_code == 0
    runs = json.loads(res.stdout)
    assert [r["n_units_scanned"] for r in runs] == [0, 0, 3]  # newest first
    assert runs[2]["n_stored"] == 120 and runs[0]["detectors"] == {"markers": "1"}
    res = runner.invoke(main, ["status", "--db", str(db), "--json"])
    st = json.loads(res.stdout)
    assert st["totals"]["stored"] == 120 and st["totals"]["documents_in_view"] == 120
    assert st["shards"][0]["status"] == "ok" and st["shards"][0]["n_units"] == 3
    assert st["detectors"] == {"markers": {"1": 3}}
    res = runner.invoke(main, ["status", "--db", str(db), "--errors"])
    assert res.exit_code == 0 and "x.parquet" in res.stdout and "120" in res.stdout
    res = runner.invoke(main, ["status", "--db", str(tmp_path / "missing.duckdb")])
    assert res.exit_code == 2 and "no store at" in res.output


def test_scan_errors_are_clear(tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["scan", str(tmp_path / "nope.parquet"), "--db",
                               str(tmp_path / "a.duckdb")])
    assert res.exit_code == 2 and "nope.parquet" in res.output
    write_parquet(tmp_path / "x.parquet", make_rows("x", 5, seed=1))
    res = runner.invoke(main, ["scan", str(tmp_path / "x.parquet"), "--db",
                               str(tmp_path / "a.duckdb"), "--detectors", "nosuch"])
    assert res.exit_code == 2 and "unknown detector 'nosuch'" in res.output
    res = runner.invoke(main, ["scan", str(tmp_path / "x.parquet"), "--source-by", "bogus"])
    assert res.exit_code == 2 and "column:NAME" in res.output
    res = runner.invoke(main, ["scan", "--help"])
    assert "Exit status" in res.output and "partial" in res.output


def test_warc_and_wet_provenance_and_html_metadata_reach_the_store(tmp_path):
    from corpus_files import (
        SAMPLE_EXPECTED,
        SAMPLE_SKIPPED,
        corrupt_warc_header,
        sample_pages,
        write_warc,
        write_wet,
    )

    crawl = tmp_path / "crawl"
    crawl.mkdir()
    write_warc(crawl / "pages.warc.gz", sample_pages())
    write_warc(tmp_path / "plain.warc", sample_pages(), gzip_records=False)
    corrupt_warc_header(tmp_path / "plain.warc", crawl / "broken.warc")
    write_wet(crawl / "text.warc.wet.gz", [
        ("https://news.example.com/a", "A plain text record about the weather.",
         "2019-03-01T00:00:00Z", "eng"),
        ("https://news.example.com/b", "Certainly! Here's a revised version of your text: hi",
         "2024-03-01T00:00:00Z", "eng")])
    db = tmp_path / "audit.duckdb"

    code, s = scan([str(crawl), "--db", str(db), "--detectors", "markers"])

    assert code == 3  # the broken WARC record failed
    rows = {r[0]: r[1:] for r in query(
        db, "SELECT url, license, score_markers, reason_markers, pre_cutoff FROM documents "
            "WHERE shard LIKE '%pages.warc.gz'")}
    assert set(rows) == set(SAMPLE_EXPECTED)
    for url, (license_id, _generator, source_type) in SAMPLE_EXPECTED.items():
        assert rows[url][0] == license_id, url
        if source_type:  # IPTC "trainedAlgorithmicMedia" meta reached the markers detector
            assert rows[url][1] >= 0.7 and "digital_source_type" in rows[url][2]
    skipped = query(db, "SELECT record, reason FROM errors WHERE status = 'skipped' "
                        "AND shard LIKE '%pages.warc.gz' AND reason NOT LIKE 'not a document%'")
    assert len(skipped) == len(SAMPLE_SKIPPED)
    wet = dict(query(db, "SELECT url, pre_cutoff FROM documents WHERE shard LIKE '%.wet.gz'"))
    assert wet == {"https://news.example.com/a": True, "https://news.example.com/b": False}
    broken = query(db, "SELECT count(*) FROM errors WHERE status = 'failed' "
                       "AND shard LIKE '%broken.warc'")[0][0]
    assert broken >= 1
    assert s["counts"]["failed"] >= 1


def test_a_unit_that_cannot_be_read_fails_alone_and_writes_nothing(tmp_path):
    from auditor.readers import discover, plan_units
    from auditor.scan import ScanOptions, process_unit
    from auditor.store import StorePaths

    path = tmp_path / "gone.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in make_rows("g", 10, seed=1)) + "\n")
    options = ScanOptions()
    (unit,) = plan_units(discover([str(path)]), options.reader, options.unit_bytes)
    path.unlink()  # the shard vanished between planning and reading
    paths = StorePaths.for_db(tmp_path / "a.duckdb")
    res = process_unit(unit, options, ["markers"], paths)
    assert res.status == "failed" and res.sidecar is None and res.n_stored == 0
    assert "gone.jsonl" in res.issues[0].reason and "retried" in res.issues[0].reason
    assert not os.path.exists(paths.sidecars) or not os.listdir(paths.sidecars)
