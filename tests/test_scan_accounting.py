"""Every record accounted for (the readers findings of a QA walkthrough): a file that fails as a
whole is a failed unit that `--retry-failed` reads again, stray JSON files are skipped with a
reason, and records stored with a repair or left out by type are counted, all on real files."""

from __future__ import annotations

import json

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


def test_pretty_printed_json_object_is_a_skipped_file_and_json_lines_still_read(
        shared_data, tmp_path):
    """The leaky corpus's truth.json (one object over many lines) was read as JSON lines:
    1,854 failed records and exit 3 on every run. C4's `.json.gz` is JSON lines: still read."""
    import shutil

    from auditor.readers.discover import find_shards

    found = find_shards([str(shared_data / "benchmarks" / "leaky_corpus")])
    assert [f.uri.rsplit("/", 1)[-1] for f in found.skipped] == ["truth.json"]
    assert "one JSON object spread over many lines" in found.skipped[0].reason
    assert len(found.shards) == 3
    crawl = find_shards([str(shared_data / "crawl")])
    assert any(s.uri.endswith("c4-sample-2019.json.gz") and s.format == "jsonl"
               for s in crawl.shards)

    folder = tmp_path / "corpus"
    folder.mkdir()
    shutil.copy(shared_data / "benchmarks" / "leaky_corpus" / "truth.json", folder)
    rows = make_rows(4)
    (folder / "lines.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = run_scan([str(folder)], tmp_path / "s.duckdb", ScanOptions(), detectors="none")
    assert summary.status == "ok" and summary.counts["failed"] == 0
    assert summary.counts["stored"] == 4
    assert [f["file"].rsplit("/", 1)[-1] for f in summary.skipped_files] == ["truth.json"]
    assert any("1 file(s) that are not corpus shards skipped: truth.json" in n
               for n in summary.notes)


def _errors(db) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT record, status, reason FROM errors ORDER BY record").fetchall()
    finally:
        con.close()


def test_invalid_utf8_record_is_kept_and_listed_as_an_issue(tmp_path):
    rows = make_rows(3)
    lines = [json.dumps(r).encode() + b"\n" for r in rows]
    lines.insert(1, b'{"id": "latin1", "text": "caf\xe9 au lait and more words", "src": "x"}\n')
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"".join(lines))
    db = tmp_path / "s.duckdb"
    summary = run_scan([str(path)], db, ScanOptions(), detectors="none")
    assert summary.status == "ok" and summary.counts["stored"] == 4
    assert summary.counts["failed"] == 0 and summary.counts["invalid_utf8"] == 1
    offset = len(lines[0])
    assert _errors(db) == [(f"offset {offset}", "kept",
                            "invalid UTF-8 replaced: bytes that are not UTF-8 were stored as "
                            "U+FFFD; the record is kept (re-encode the file as UTF-8 to keep "
                            "its text whole)")]
    assert any("1 record(s) stored with invalid UTF-8 replaced" in n for n in summary.notes)


def test_null_text_is_skipped_as_empty_not_failed_as_missing(tmp_path):
    """`"text": null` failed with "no 'text' field ... (fields present: id, text)"."""
    rows = make_rows(3)
    lines = [json.dumps(r) + "\n" for r in rows] + ['{"id": "n1", "text": null}\n',
                                                     '{"id": "n2", "body": "no text here"}\n']
    (tmp_path / "nulls.jsonl").write_text("".join(lines))
    texts = [r["text"] for r in rows] + [None]
    pq.write_table(pa.table({"id": [r["id"] for r in rows] + ["p1"], "text": texts}),
                   tmp_path / "nulls.parquet")
    db = tmp_path / "s.duckdb"
    summary = run_scan([str(tmp_path)], db, ScanOptions(), detectors="none")
    assert summary.counts["stored"] == 6 and summary.counts["skipped"] == 2
    assert summary.counts["failed"] == 1  # the record with no text field at all
    issues = {(r[1], r[2].split(" in ")[0]) for r in _errors(db)}
    assert issues == {("skipped", "empty text"), ("failed", "no 'text' field")}
    [failed] = [r for r in _errors(db) if r[1] == "failed"]
    assert "fields present: body, id" in failed[2]


def test_warc_records_that_are_not_documents_are_counted_as_skipped(shared_data, tmp_path):
    """The 2008 Internet Archive file holds 822 records: 299 responses, 523 requests,
    metadata and warcinfo that were counted nowhere (while `dns:` responses were skipped)."""
    from collections import Counter

    warc = shared_data / "crawl" / "ia-2008-blackbook.warc.gz"
    types: Counter[str] = Counter()
    from fastwarc.warc import ArchiveIterator

    with open(warc, "rb") as fh:
        for record in ArchiveIterator(fh, parse_http=False):
            types[record.headers.get("WARC-Type")] += 1
    assert sum(types.values()) == 822 and types["response"] == 299
    db = tmp_path / "s.duckdb"
    summary = run_scan([str(warc)], db, ScanOptions(), detectors="none")
    c = summary.counts
    assert c["stored"] + c["skipped"] + c["failed"] == 822  # every record accounted for once
    not_documents = {k: v for k, v in c["skipped_by_reason"].items()
                     if k.startswith("not a document")}
    assert not_documents == {f"not a document: WARC {t} record": n
                             for t, n in types.items() if t != "response"}
    assert sum(not_documents.values()) == 523
    rows = [r for r in _errors(db) if r[2].startswith("not a document")]
    assert len(rows) == len(not_documents)  # one row per type, not 523
    from auditor.report.store_sql import issues

    con = duckdb.connect(str(db), read_only=True)
    try:  # the report counts records, not rows: each row says how many it stands for
        assert con.execute("SELECT sum(n_records) FROM errors WHERE reason LIKE "
                           "'not a document%'").fetchone() == (523,)
        assert issues(con)["errors"] == {k: c[k] for k in ("skipped", "failed") if c[k]}
    finally:
        con.close()
    assert any(n.startswith("skipped records by reason: ") and "WARC request record" in n
               for n in summary.notes)


def test_wet_language_is_stored_as_iso_639_1_like_other_formats(shared_data, tmp_path):
    """WET's `WARC-Identified-Content-Language: spa` was stored as `spa` while other formats
    store `es`, so `--by language` split one language in two."""
    wet = shared_data / "crawl" / "cc-main-2024-22-wikipedia.warc.wet.gz"
    rows = [{"id": "a", "text": "Un texto en castellano sobre el río y el monte. " * 3,
             "language": "es"}]
    (tmp_path / "es.jsonl").write_text(json.dumps(rows[0]) + "\n")
    db = tmp_path / "s.duckdb"
    run_scan([str(wet), str(tmp_path / "es.jsonl")], db, ScanOptions(), detectors="none")
    con = duckdb.connect(str(db), read_only=True)
    try:
        langs = con.execute("SELECT language, count(*) FROM documents GROUP BY 1").fetchall()
    finally:
        con.close()
    assert langs == [("es", 2)]

    import detectors
    from auditor.provenance.language_codes import primary_language

    assert primary_language("eng,spa") == "en" and primary_language("pt_BR") == "pt"
    english_only = detectors.Detector()
    english_only.languages = ("en",)
    assert english_only.valid_for("eng") and not english_only.valid_for("spa")


def test_truncated_zstd_keeps_every_decodable_line_and_names_the_file(tmp_path):
    """A truncated `.zst` keeps all zstd can decode before the cut (whole blocks: the cut block
    cannot be decoded), like a truncated gzip keeps what precedes its cut, and the truncation
    is a failed issue naming the file and saying what was lost."""
    import zstandard

    lines = b"".join(json.dumps(r).encode() + b"\n" for r in make_rows(3000, seed=3))
    packed = zstandard.ZstdCompressor(level=3).compress(lines)
    cut = packed[: len(packed) * 2 // 3]
    path = tmp_path / "cut.jsonl.zst"
    path.write_bytes(cut)
    decodable = zstandard.ZstdDecompressor().decompressobj().decompress(cut)
    assert 0 < decodable.count(b"\n") < 3000
    db = tmp_path / "s.duckdb"
    summary = run_scan([str(path)], db, ScanOptions(), detectors="none")
    assert summary.counts["stored"] == decodable.count(b"\n")  # nothing decodable is lost
    assert summary.counts["failed"] == 1
    [(record, status, reason)] = _errors(db)
    assert status == "failed" and str(path) in reason and "truncated" in reason
    assert "up to 128 KiB, is lost" in reason


def test_unreadable_dates_are_counted_in_the_summary(tmp_path):
    rows = make_rows(4)
    dates = ["2021-03-04", "not a date", "yesterday-ish", "2020-01-01T00:00:00Z"]
    path = tmp_path / "dates.jsonl"
    path.write_text("".join(json.dumps({**r, "crawl_date": d}) + "\n"
                            for r, d in zip(rows, dates, strict=True)))
    pq.write_table(pa.table({"text": [r["text"] for r in rows], "date": dates[::-1]}),
                   tmp_path / "dates.parquet")
    db = tmp_path / "s.duckdb"
    summary = run_scan([str(tmp_path)], db, ScanOptions(), detectors="none")
    assert summary.counts["stored"] == 8 and summary.counts["unreadable_dates"] == 4
    assert any(n.startswith("4 date(s) that could not be read stored empty") for n in summary.notes)
    con = duckdb.connect(str(db), read_only=True)
    try:
        n_empty = con.execute("SELECT count(*) FROM documents WHERE crawl_date IS NULL").fetchone()
    finally:
        con.close()
    assert n_empty == (4,)


def test_unreadable_warc_date_is_counted_too(tmp_path):
    from tests.corpus_files import Page, html_page, write_warc

    body = html_page("River", ["A page about the river and the hills around it."] * 3)
    pages = [Page("https://a.example.com/", body), Page("https://b.example.com/", body,
                                                         date="the thirtieth of May")]
    path = write_warc(tmp_path / "dates.warc.gz", pages)
    summary = run_scan([str(path)], tmp_path / "s.duckdb", ScanOptions(), detectors="none")
    assert summary.counts["stored"] == 2 and summary.counts["unreadable_dates"] == 1


def test_a_record_field_named_like_a_repair_is_not_counted_as_one(tmp_path):
    """Repairs are what the reader reports, not what a record's own fields say: a JSON line
    whose own fields are `invalid_utf8: true` and `unparsed_date` (kept in `meta` as written)
    is neither a `kept` issue nor an unreadable date."""
    rows = make_rows(3)
    rows[1] = {**rows[1], "invalid_utf8": True, "unparsed_date": "2021-13-45"}
    path = tmp_path / "own_fields.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    db = tmp_path / "s.duckdb"
    summary = run_scan([str(path)], db, ScanOptions(), detectors="none")
    assert summary.counts["stored"] == 3
    assert summary.counts["invalid_utf8"] == 0 and summary.counts["unreadable_dates"] == 0
    assert _errors(db) == []
    con = duckdb.connect(str(db), read_only=True)
    try:
        (meta,) = con.execute("SELECT meta FROM documents WHERE id = ?", [rows[1]["id"]]).fetchone()
    finally:
        con.close()
    assert json.loads(meta)["invalid_utf8"] is True  # the record's field, kept as written


def test_a_folder_scan_says_when_it_reads_a_file_again_under_other_options(tmp_path,
                                                                           shared_data):
    """The crawl's Parquet sample needs `--text-column content`; a later scan of its folder
    with the folder's options read it again under them, failed, and dropped its 137 stored
    documents without a word. The summary now names the shard and the documents replaced."""
    import shutil

    from auditor.readers.base import ReaderOptions

    folder = tmp_path / "crawl"
    folder.mkdir()
    shutil.copy(shared_data / "crawl" / "cc-main-2026-30-sample.parquet", folder)
    shutil.copy(shared_data / "crawl" / "dolma-cc-en-head-2020.jsonl.gz", folder)
    parquet = folder / "cc-main-2026-30-sample.parquet"
    db = tmp_path / "s.duckdb"
    first = run_scan([str(parquet)], db, ScanOptions(ReaderOptions(text_column="content")),
                     detectors="none")
    assert first.counts["stored"] == 137
    again = run_scan([str(parquet)], db, ScanOptions(ReaderOptions(text_column="content")),
                     detectors="none")
    assert not any("other reader options" in n for n in again.notes)  # same options: reused
    folder_scan = run_scan([str(folder)], db, ScanOptions(), detectors="none")
    [note] = [n for n in folder_scan.notes if "other reader options" in n]
    assert note.startswith("1 shard(s) stored under other reader options are read again")
    assert "replacing their 137 stored document(s): cc-main-2026-30-sample.parquet" in note
    assert folder_scan.counts["units_failed"] == 1
