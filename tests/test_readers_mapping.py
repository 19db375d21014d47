"""The record -> Document policy shared by every format, driven through real JSONL files."""

from __future__ import annotations

import json

from corpus_files import write_jsonl, write_jsonl_lines

from auditor.readers import ReaderOptions, discover, plan_units, read_unit
from auditor.records import Document, RecordIssue, content_id


def read_all(path, options=None):
    options = options or ReaderOptions()
    return [x for u in plan_units(discover([str(path)]), options) for x in read_unit(u, options)]


def test_ids_from_column_field_or_content(tmp_path):
    rows = [{"text": "alpha beta", "id": 7, "key": "k1"}, {"text": "gamma delta", "key": "k2"}]
    path = write_jsonl(tmp_path / "ids.jsonl", rows)
    assert [d.id for d in read_all(path)] == ["7", content_id("gamma delta")]
    assert [d.id for d in read_all(path, ReaderOptions(id_column="key"))] == ["k1", "k2"]


def test_source_by_modes_and_synthetic_by_source(tmp_path):
    rows = [{"text": "one two", "url": "https://a.blog.example.com/x", "origin": "UltraChat-200k"},
            {"text": "three four", "url": "https://b.example.org/y", "origin": None}]
    path = write_jsonl(tmp_path / "mixed.jsonl.gz", rows, compression="gzip")
    assert [d.source for d in read_all(path)] == ["mixed", "mixed"]
    by_domain = read_all(path, ReaderOptions(source_by="domain"))
    assert [d.source for d in by_domain] == ["example.com", "example.org"]
    by_column = read_all(path, ReaderOptions(source_by="column:origin"))
    assert [(d.source, d.synthetic_by_construction) for d in by_column] == [
        ("UltraChat-200k", True), ("unknown", False)]
    named = read_all(path, ReaderOptions(source_by="dataset:openhermes-2.5"))
    assert all(d.source == "openhermes-2.5" and d.synthetic_by_construction for d in named)
    custom = read_all(path, ReaderOptions(synthetic_sources=("mixed",)))
    assert all(d.synthetic_by_construction for d in custom)


def test_lone_surrogates_and_garbage(tmp_path):
    lines = [json.dumps({"text": "ok \ud800 text"}), json.dumps({"text": "\ufffd" * 10 + "ab"})]
    path = write_jsonl_lines(tmp_path / "u.jsonl", lines)
    doc, replacement_only = read_all(path)
    assert doc.meta["invalid_utf8"] is True and doc.text == "ok ? text"
    # text that merely contains U+FFFD (valid UTF-8) is kept: only invalid bytes count as garbage
    assert isinstance(replacement_only, Document) and "invalid_utf8" not in replacement_only.meta


def test_unparsed_dates_unknown_licences_and_labels_are_kept_in_meta(tmp_path):
    rows = [{"text": "some words here", "date": "last tuesday", "license": "custom-eula",
             "label": "maybe", "note": "x" * 300, "n": 3, "nested": {"a": 1}}]
    path = write_jsonl(tmp_path / "m.jsonl", rows)
    [doc] = read_all(path, ReaderOptions(label_column="label"))
    assert doc.crawl_date is None and doc.meta["unparsed_date"] == "last tuesday"
    assert doc.license == "unknown" and doc.meta["license_raw"] == "custom-eula"
    assert doc.role == "corpus" and doc.meta["label"] == "maybe"
    assert doc.meta["n"] == 3 and "note" not in doc.meta and "nested" not in doc.meta
    json.dumps(doc.meta)  # meta is stored as JSON


def test_explicit_columns_override_defaults(tmp_path):
    rows = [{"body": "text in body", "link": "https://x.example.net/p", "when": "20200102030405",
             "lic": "CC BY 4.0", "lang_code": "de", "url": "https://ignored.example.com"}]
    path = write_jsonl(tmp_path / "cols.jsonl", rows)
    options = ReaderOptions(text_column="body", url_column="link", date_column="when",
                            license_column="lic", language_column="lang_code")
    [doc] = read_all(path, options)
    assert (doc.text, doc.url, doc.license, doc.language) == (
        "text in body", "https://x.example.net/p", "CC-BY-4.0", "de")
    assert doc.crawl_date.isoformat() == "2020-01-02T03:04:05+00:00"
    [issue] = read_all(path)
    assert isinstance(issue, RecordIssue) and "'text'" in issue.reason and "body" in issue.reason
