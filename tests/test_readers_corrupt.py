"""Corrupt inputs: every broken record becomes a RecordIssue naming file and record, the
readable rest is kept, and a broken stream stops its unit cleanly."""

from __future__ import annotations

import gzip
import json

import pytest
from corpus_files import (
    corrupt_jsonl_lines,
    corrupt_parquet_row_group,
    corrupt_warc_header,
    make_rows,
    sample_pages,
    truncate_file,
    write_hf_saved,
    write_jsonl,
    write_jsonl_lines,
    write_parquet,
    write_warc,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.readers import ReaderOptions, discover, plan_units, read_unit
from auditor.records import Document, RecordIssue


def read_all(path, options=None):
    options = options or ReaderOptions()
    return [x for u in plan_units(discover([str(path)]), options) for x in read_unit(u, options)]


def split(items):
    return ([x for x in items if isinstance(x, Document)],
            [x for x in items if isinstance(x, RecordIssue)])


@pytest.mark.parametrize("compression,name", [(None, "bad.jsonl"), ("gzip", "bad.jsonl.gz"),
                                              ("zstd", "bad.jsonl.zst")])
def test_malformed_jsonl_lines_become_issues_and_reading_goes_on(tmp_path, compression, name):
    lines, problems = corrupt_jsonl_lines(seed=1)
    path = write_jsonl_lines(tmp_path / name, lines, compression=compression)
    docs, issues = split(read_all(path))
    by_line = {int(i.record.split()[1]): i for i in issues}
    expected_issue = {k: v for k, v in problems.items() if v != "invalid_utf8"}
    assert set(by_line) == set(expected_issue)
    assert all(i.shard == str(path) for i in issues)
    for line_no, kind in expected_issue.items():
        issue = by_line[line_no]
        assert issue.record == f"line {line_no}"
        status = "skipped" if kind == "empty_text" else "failed"
        assert issue.status == status, kind
    assert by_line[next(k for k, v in problems.items() if v == "invalid_json")].reason.startswith(
        f"invalid JSON at line {next(k for k, v in problems.items() if v == 'invalid_json')}")
    missing = by_line[next(k for k, v in problems.items() if v == "missing_text")]
    assert "'text'" in missing.reason and "body" in missing.reason and name in missing.reason
    assert len(docs) + len(issues) == len(lines)
    latin1 = next(d for d in docs if d.id == "latin1")
    assert latin1.meta["invalid_utf8"] is True and "\ufffd" in latin1.text


@pytest.mark.parametrize("compression,name", [("gzip", "cut.jsonl.gz"), ("zstd", "cut.jsonl.zst")])
def test_truncated_compressed_jsonl_keeps_what_was_read(tmp_path, compression, name):
    rows = make_rows(3000, seed=2)
    full = write_jsonl(tmp_path / f"full-{name}", rows, compression=compression)
    cut = truncate_file(full, tmp_path / name, 0.5)
    docs, issues = split(read_all(cut))
    assert len(issues) == 1 and issues[0].status == "failed"
    assert issues[0].record.startswith("line ") and name in issues[0].reason
    assert "truncated or corrupt" in issues[0].reason
    assert 500 < len(docs) < 3000
    assert [d.id for d in docs] == [r["id"] for r in rows[: len(docs)]]  # a clean prefix


def test_gzip_with_corrupt_member_stops_with_issue(tmp_path):
    rows = make_rows(200, seed=3)
    first = gzip.compress(b"".join(json.dumps(r).encode() + b"\n" for r in rows[:100]), mtime=0)
    second = bytearray(gzip.compress(
        b"".join(json.dumps(r).encode() + b"\n" for r in rows[100:]), mtime=0))
    second[len(second) // 2: len(second) // 2 + 40] = b"\x00" * 40
    path = tmp_path / "members.jsonl.gz"
    path.write_bytes(first + bytes(second))
    docs, issues = split(read_all(path))
    assert [d.id for d in docs[:100]] == [r["id"] for r in rows[:100]]
    # Deflate decodes damaged data into garbage until the member's CRC check fails at its end:
    # the garbage lines fail as invalid JSON, and the CRC failure stops the unit.
    assert issues and all(i.status == "failed" for i in issues)
    last = issues[-1]
    assert "members.jsonl.gz" in last.reason and "truncated or corrupt" in last.reason
    assert len(docs) + len(issues) <= 201


def test_corrupt_parquet_row_group_names_it_and_keeps_earlier_rows(tmp_path):
    good = write_parquet(tmp_path / "good.parquet", make_rows(500, seed=4), row_group_size=100)
    bad = corrupt_parquet_row_group(good, tmp_path / "bad.parquet", row_group=2)
    docs, issues = split(read_all(bad))
    assert [d.offset for d in docs] == list(range(200))
    assert len(issues) == 1
    issue = issues[0]
    assert issue.record == "row group 2" and issue.status == "failed"
    assert "bad.parquet" in issue.reason and "rows 200-299" in issue.reason


def test_truncated_parquet_footer_is_one_clear_failure(tmp_path):
    good = write_parquet(tmp_path / "good.parquet", make_rows(50, seed=5))
    cut = truncate_file(good, tmp_path / "cut.parquet", 0.7)
    docs, issues = split(read_all(cut))
    assert docs == [] and len(issues) == 1
    assert issues[0].record == "file" and "cut.parquet" in issues[0].reason
    assert "footer" in issues[0].reason


def test_parquet_without_text_column_names_columns_present(tmp_path):
    path = write_parquet(tmp_path / "cols.parquet",
                         [{"body": "x y z", "url": "https://a.example.com"}] * 3)
    docs, issues = split(read_all(path))
    assert docs == [] and len(issues) == 1
    assert "'text'" in issues[0].reason and "body, url" in issues[0].reason
    assert "--text-column" in issues[0].reason and "cols.parquet" in issues[0].reason


@pytest.mark.parametrize("gz", [True, False])
def test_truncated_warc_reports_the_cut_record(tmp_path, gz):
    pages = sample_pages() * 3
    full = write_warc(tmp_path / f"full.warc{'.gz' if gz else ''}", pages, gzip_records=gz)
    cut = truncate_file(full, tmp_path / f"cut.warc{'.gz' if gz else ''}", 0.6)
    docs, issues = split(read_all(cut))
    failed = [i for i in issues if i.status == "failed"]
    assert len(failed) == 1 and "cut.warc" in failed[0].reason
    assert failed[0].record.startswith(("urn:uuid:", "offset "))
    full_docs, _ = split(read_all(full))
    assert 0 < len(docs) < len(full_docs)
    assert [d.id for d in docs] == [d.id for d in full_docs[: len(docs)]]


def test_malformed_warc_record_fails_with_offset_and_reading_goes_on(tmp_path):
    full = write_warc(tmp_path / "full.warc", sample_pages() * 2, gzip_records=False)
    bad = corrupt_warc_header(full, tmp_path / "bad.warc")
    docs, issues = split(read_all(bad))
    failed = [i for i in issues if i.status == "failed"]
    assert len(failed) == 1 and failed[0].record.startswith("offset ")
    assert "malformed WARC record" in failed[0].reason and "bad.warc" in failed[0].reason
    # the broken header is not a page's response: every page before and after it is kept
    assert "reading went on at the next WARC/ header" in failed[0].reason
    assert len(docs) == 12


def test_corrupt_arrow_file_in_saved_dataset(tmp_path):
    folder = write_hf_saved(tmp_path / "ds", make_rows(40, seed=6), num_shards=1)
    arrow = next(folder.glob("*.arrow"))
    truncate_file(arrow, arrow, 0.6)
    docs, issues = split(read_all(folder))
    assert len(issues) == 1 and issues[0].status == "failed" and arrow.name in issues[0].reason
    assert len(docs) < 40


def test_long_and_empty_texts_follow_policy(tmp_path):
    rows = [{"id": "long", "text": "word " * 5000}, {"id": "blank", "text": "\n\t "},
            {"id": "short", "text": "hi"}]
    path = write_jsonl(tmp_path / "policy.jsonl", rows)
    docs, issues = split(read_all(path, ReaderOptions(max_chars=1000, min_chars=3)))
    assert [d.id for d in docs] == ["long"]
    assert len(docs[0].text) == 1000 and docs[0].meta["truncated"] is True
    assert docs[0].meta["original_chars"] == 25000
    assert {(i.record, i.status, i.reason.split(" ")[0]) for i in issues} == {
        ("line 2", "skipped", "empty"), ("line 3", "skipped", "text")}


@pytest.fixture(scope="module")
def full_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("full")
    rows = make_rows(300, seed=9)
    files = {
        "warc.gz": write_warc(folder / "f.warc.gz", sample_pages() * 2),
        "warc": write_warc(folder / "f.warc", sample_pages() * 2, gzip_records=False),
        "jsonl.gz": write_jsonl(folder / "f.jsonl.gz", rows, compression="gzip"),
        "jsonl.zst": write_jsonl(folder / "f.jsonl.zst", rows, compression="zstd"),
        "parquet": write_parquet(folder / "f.parquet", rows, row_group_size=50),
    }
    return {k: (p, [d.id for d in split(read_all(p))[0]]) for k, p in files.items()}


@settings(derandomize=True, max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["warc.gz", "warc", "jsonl.gz", "jsonl.zst", "parquet"]),
       fraction=st.floats(min_value=0.02, max_value=0.98))
def test_any_truncation_never_raises_and_keeps_a_clean_prefix(full_files, tmp_path, kind, fraction):
    path, full_ids = full_files[kind]
    cut = truncate_file(path, tmp_path / f"cut-{fraction:.4f}.{kind}", fraction)
    docs, issues = split(read_all(cut))
    assert [d.id for d in docs] == full_ids[: len(docs)]
    failed = [i for i in issues if i.status == "failed"]
    assert len(failed) <= 1
    if kind != "warc":  # compressed streams and Parquet footers always notice a cut
        assert len(failed) == 1
    for issue in failed:
        assert cut.name in issue.reason and issue.record
    if not failed:  # a plain WARC cut exactly between records is a valid, shorter WARC
        assert len(docs) < len(full_ids)
