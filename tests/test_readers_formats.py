"""Every format read from real files written in tmp_path: Parquet, JSONL (plain/gz/zst), WARC,
WET, saved HF datasets and `hf:` load_dataset inputs; plus discovery and planning."""

from __future__ import annotations

import datetime as dt
import os

import pyarrow.parquet as pq
import pytest
from corpus_files import (
    SAMPLE_EXPECTED,
    SAMPLE_SKIPPED,
    jsonl_line_offsets,
    make_rows,
    sample_pages,
    write_hf_saved,
    write_jsonl,
    write_parquet,
    write_warc,
    write_wet,
)

from auditor.readers import (
    ReaderError,
    ReaderOptions,
    ShardInfo,
    WorkUnit,
    discover,
    plan_units,
    read_unit,
)
from auditor.records import Document, RecordIssue


def read_all(inputs, options=None, target_bytes=64 << 20, fmt=None):
    options = options or ReaderOptions()
    shards = discover([str(i) for i in inputs], fmt)
    return [x for u in plan_units(shards, options, target_bytes) for x in read_unit(u, options)]


def docs_of(items):
    return [x for x in items if isinstance(x, Document)]


def test_parquet_several_row_groups_maps_every_row(tmp_path):
    rows = make_rows(450, seed=3)
    path = write_parquet(tmp_path / "web.parquet", rows, row_group_size=100)
    assert pq.ParquetFile(path).metadata.num_row_groups == 5
    docs = docs_of(read_all([path]))
    assert [d.id for d in docs] == [r["id"] for r in rows]
    assert [d.offset for d in docs] == list(range(450))
    first, row = docs[0], rows[0]
    assert first.text == row["text"]
    assert first.url == row["url"] and first.domain is not None and "example" in first.domain
    assert first.crawl_date == dt.datetime.fromisoformat(row["timestamp"].replace("Z", "+00:00"))
    assert first.source == "web" and first.shard == str(path)
    assert first.meta["meta_score"] == row["meta_score"]  # small scalar column kept
    by_license = {r["id"]: r["license"] for r in rows}
    expected = {"CC-BY-4.0": "CC-BY-4.0", "cc by-sa 4.0": "CC-BY-SA-4.0", "MIT": "MIT",
                "https://creativecommons.org/licenses/by-nc/3.0/": "CC-BY-NC-3.0", None: "unknown"}
    assert all(d.license == expected[by_license[d.id]] for d in docs)


def test_parquet_planned_by_row_group_ranges_covers_each_row_once(tmp_path):
    path = write_parquet(tmp_path / "big.parquet", make_rows(1000, seed=4), row_group_size=100)
    shards = discover([str(path)])
    units = plan_units(shards, ReaderOptions(), target_bytes=1)  # one row group per unit
    assert [(u.start, u.stop) for u in units] == [(i, i + 1) for i in range(10)]
    assert all(u.n_parts == 10 for u in units)
    offsets = [d.offset for u in units for d in read_unit(u, ReaderOptions())]
    assert offsets == list(range(1000))
    whole = plan_units(shards, ReaderOptions())
    assert len(whole) == 1 and (whole[0].start, whole[0].stop) == (0, 10)


def test_parquet_nested_columns_and_explicit_columns(tmp_path):
    rows = [{"content": f"document number {i}", "meta": {"url": f"https://x{i}.example.com/a",
             "created": 1556000000 + i}, "src": "forum", "doc": f"k{i}"} for i in range(5)]
    path = write_parquet(tmp_path / "nested.parquet", rows, row_group_size=2)
    options = ReaderOptions(text_column="content", id_column="doc", url_column="meta.url",
                            date_column="meta.created", source_by="column:src")
    docs = docs_of(read_all([path], options))
    assert [d.id for d in docs] == [f"k{i}" for i in range(5)]
    assert docs[3].domain == "example.com" and docs[3].url == "https://x3.example.com/a"
    assert docs[0].crawl_date == dt.datetime(2019, 4, 23, 6, 13, 20, tzinfo=dt.timezone.utc)
    assert {d.source for d in docs} == {"forum"}


@pytest.mark.parametrize("compression,name", [(None, "c.jsonl"), ("gzip", "c.jsonl.gz"),
                                              ("zstd", "c.jsonl.zst"), ("gzip", "c.json")])
def test_jsonl_plain_and_compressed_read_the_same(tmp_path, compression, name):
    rows = make_rows(120, seed=5)
    path = write_jsonl(tmp_path / name, rows, compression=compression)
    docs = docs_of(read_all([path]))
    assert [d.id for d in docs] == [r["id"] for r in rows]
    assert [d.text for d in docs] == [r["text"] for r in rows]
    plain = write_jsonl(tmp_path / "plain.jsonl", rows)
    assert [d.offset for d in docs] == jsonl_line_offsets(plain)  # uncompressed offsets
    assert docs[0].source == "c"


def test_jsonl_label_column_sets_role_and_synthetic_sources(tmp_path):
    rows = make_rows(40, seed=6)
    path = write_jsonl(tmp_path / "cosmopedia-v2.jsonl", rows)
    docs = docs_of(read_all([path], ReaderOptions(label_column="label")))
    roles = {r["id"]: r["label"] for r in rows}
    for d in docs:
        assert d.role == {"human": "human_reference", "ai": "machine_reference"}[roles[d.id]]
        assert d.synthetic_by_construction  # "cosmopedia" in the file name
    plain = write_jsonl(tmp_path / "web.jsonl", rows)
    assert not any(d.synthetic_by_construction for d in docs_of(read_all([plain])))
    assert {d.role for d in docs_of(read_all([plain]))} == {"corpus"}


def test_warc_pages_give_licence_generator_and_source_type(tmp_path):
    for gz in (True, False):
        path = write_warc(tmp_path / f"crawl{gz}.warc{'.gz' if gz else ''}", sample_pages(),
                          gzip_records=gz)
        items = read_all([path])
        docs = {d.url: d for d in docs_of(items)}
        assert set(docs) == set(SAMPLE_EXPECTED)
        for url, (license, generator, source_type) in SAMPLE_EXPECTED.items():
            doc = docs[url]
            assert doc.license == license, url
            assert doc.meta.get("html_generator") == generator
            assert doc.meta.get("digital_source_type") == source_type
            assert doc.id.startswith("urn:uuid:")
            assert "<" not in doc.text and len(doc.text.split()) > 10
        assert docs["https://wiki.example.net/wiki/River"].crawl_date == dt.datetime(
            2024, 5, 31, 10, tzinfo=dt.timezone.utc)
        assert docs["https://pd.example.org/poem"].pre_cutoff() is True
        issues = [x for x in items if isinstance(x, RecordIssue)]
        skipped = [x for x in issues if not x.reason.startswith("not a document")]
        assert len(skipped) == len(SAMPLE_SKIPPED)
        assert sorted(x.reason.split(" (")[0] for x in skipped) == sorted(SAMPLE_SKIPPED.values())
        assert all(x.status == "skipped" and x.record.startswith("urn:uuid:") for x in skipped)
        # requests, metadata and warcinfo: counted as skipped, one issue per type
        n_pages = len(sample_pages())
        assert {(x.status, x.reason.split(" (")[0], x.count) for x in issues
                if x not in skipped} == {
            ("skipped", "not a document: WARC warcinfo record", 1),
            ("skipped", "not a document: WARC request record", n_pages),
            ("skipped", "not a document: WARC metadata record", n_pages)}


def test_warc_offsets_point_at_records(tmp_path):
    path = write_warc(tmp_path / "crawl.warc", sample_pages(), gzip_records=False)
    data = path.read_bytes()
    for doc in docs_of(read_all([path])):
        assert data[doc.offset:doc.offset + 9] == b"WARC/1.0\r"
        assert doc.id.encode() in data[doc.offset:doc.offset + 600]


def test_wet_conversion_records(tmp_path):
    docs_in = [("https://a.example.com/one", "First page text about rivers.",
                "2021-03-04T05:06:07Z", "eng"),
               ("https://b.example.org/two", "Second page, about mountains.",
                "2023-01-02T00:00:00Z", None)]
    path = write_wet(tmp_path / "crawl.warc.wet.gz", docs_in)
    assert discover([str(path)])[0].format == "wet"
    docs = docs_of(read_all([path]))
    # The record's own language header is kept, as ISO 639-1 (`eng` -> `en`, as other formats
    # store it); without one, it is identified.
    assert [(d.url, d.text, d.language) for d in docs] == [
        (u, t, "en") for u, t, _, _ in docs_in]
    assert docs[0].crawl_date == dt.datetime(2021, 3, 4, 5, 6, 7, tzinfo=dt.timezone.utc)
    assert docs[1].domain == "example.org"


def test_hf_saved_dataset_folder_and_dataset_dict(tmp_path):
    rows = make_rows(60, seed=8)
    folder = write_hf_saved(tmp_path / "tinystories_sample", rows, num_shards=3)
    shards = discover([str(folder)])
    assert len(shards) == 3 and {s.format for s in shards} == {"arrow"}
    docs = docs_of(read_all([folder], ReaderOptions(label_column="label")))
    assert sorted(d.id for d in docs) == sorted(r["id"] for r in rows)
    assert all(d.source == "tinystories_sample" and d.synthetic_by_construction for d in docs)
    assert {d.role for d in docs} == {"human_reference", "machine_reference"}
    by_shard: dict[str, list[int]] = {}
    for d in docs:
        by_shard.setdefault(d.shard, []).append(d.offset)
    assert all(offs == list(range(len(offs))) for offs in by_shard.values())  # row index per file

    dd = write_hf_saved(tmp_path / "corpus", rows[:10], num_shards=1, splits=["train", "test"])
    docs = docs_of(read_all([dd]))
    assert len(docs) == 20 and {d.source for d in docs} == {"corpus"}


def test_hf_load_dataset_local_parquet(tmp_path):
    rows = make_rows(30, seed=9)
    write_parquet(tmp_path / "part-0.parquet", rows[:15], row_group_size=5)
    write_parquet(tmp_path / "part-1.parquet", rows[15:], row_group_size=5)
    uri = f"hf:parquet:{tmp_path}/part-*.parquet@train"
    shards = discover([uri])
    assert shards == [ShardInfo(uri=uri, format="hf")]
    docs = docs_of(read_all([uri], ReaderOptions(source_by="dataset:mydata")))
    assert sorted(d.id for d in docs) == sorted(r["id"] for r in rows)
    assert [d.offset for d in docs] == list(range(30)) and {d.source for d in docs} == {"mydata"}


def test_discover_folders_globs_sniffing_and_override(tmp_path):
    rows = make_rows(10, seed=10)
    (tmp_path / "a" / "b").mkdir(parents=True)
    write_parquet(tmp_path / "a" / "one.parquet", rows)
    write_jsonl(tmp_path / "a" / "b" / "two.jsonl.gz", rows, compression="gzip")
    write_parquet(tmp_path / "a" / "b" / "noext", rows)  # sniffed: PAR1
    write_jsonl(tmp_path / "a" / "b" / "data.bin", rows, compression="zstd")  # sniffed: zstd+{
    write_warc(tmp_path / "a" / "crawl.dat", sample_pages()[:2])  # sniffed: gzip+WARC
    (tmp_path / "a" / ".hidden").write_text("ignored")
    found = {os.path.basename(s.uri): s.format for s in discover([str(tmp_path / "a")])}
    assert found == {"one.parquet": "parquet", "two.jsonl.gz": "jsonl", "noext": "parquet",
                     "data.bin": "jsonl", "crawl.dat": "warc"}
    globbed = discover([str(tmp_path / "a" / "**" / "*.parquet")])
    assert [os.path.basename(s.uri) for s in globbed] == ["one.parquet"]
    shard = globbed[0]
    assert shard.size == os.path.getsize(shard.uri) and shard.mtime == os.path.getmtime(shard.uri)
    assert discover([str(tmp_path / "a" / "one.parquet")] * 2) == globbed  # no duplicates
    forced = discover([str(tmp_path / "a" / "b" / "data.bin")], fmt="jsonl")
    assert forced[0].format == "jsonl"
    uri = discover([f"file://{tmp_path}/a/one.parquet"])
    assert len(docs_of(read_all([uri[0].uri]))) == 10


def test_discover_and_read_through_fsspec_memory_filesystem(tmp_path):
    fsspec = pytest.importorskip("fsspec")
    rows = make_rows(25, seed=11)
    local = write_jsonl(tmp_path / "remote.jsonl", rows)
    fs = fsspec.filesystem("memory")
    fs.pipe("/bucket/crawl/remote.jsonl", local.read_bytes())
    try:
        shards = discover(["memory://bucket/crawl/"])
        assert [s.format for s in shards] == ["jsonl"] and shards[0].size == local.stat().st_size
        docs = docs_of(read_all([shards[0].uri], target_bytes=500))
        assert [d.id for d in docs] == [r["id"] for r in rows]
    finally:
        fs.rm("/bucket", recursive=True)


def test_discover_errors_name_the_path(tmp_path):
    with pytest.raises(ReaderError, match="nope.parquet"):
        discover([str(tmp_path / "nope.parquet")])
    odd = tmp_path / "notes.xyz"
    odd.write_bytes(b"just some words, not a corpus format")
    with pytest.raises(ReaderError, match=r"notes\.xyz.*unknown format.*--format"):
        discover([str(odd)])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReaderError, match="holds no files"):
        discover([str(tmp_path / "empty")])
    with pytest.raises(ReaderError, match="matches no files"):
        discover([str(tmp_path / "*.warc")])
    with pytest.raises(ReaderError, match="unknown format 'csv'"):
        discover([str(odd)], fmt="csv")
    with pytest.raises(ReaderError, match="unknown format"):
        list(read_unit(WorkUnit(str(odd), "csv", 0, 1), ReaderOptions()))
    with pytest.raises(ReaderError, match="source-by"):
        list(read_unit(WorkUnit(str(odd), "jsonl", 0, 1), ReaderOptions(source_by="site")))


def test_folders_skip_documentation_and_reject_json_arrays(tmp_path):
    write_jsonl(tmp_path / "data.jsonl", make_rows(3, seed=12))
    for name in ("README.md", "LICENSE", "data.jsonl.sha256", ".DS_Store"):
        (tmp_path / name).write_text("not data")
    assert [os.path.basename(s.uri) for s in discover([str(tmp_path)])] == ["data.jsonl"]
    array = tmp_path / "array.json"
    array.write_text('[\n  {"text": "a"},\n  {"text": "b"}\n]\n')
    with pytest.raises(ReaderError, match=r"array\.json: a JSON array.*jq"):
        discover([str(array)])


def test_jsonl_with_byte_order_mark(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b'{"text": "first"}\n{"text": "second"}\n')
    assert [d.text for d in docs_of(read_all([path]))] == ["first", "second"]


def test_warc_http_encodings_charsets_and_broken_bodies(tmp_path):
    import gzip as gz

    from corpus_files import Page, html_page

    page = html_page("Café", ["Un café très noir, s'il vous plaît."])
    body = b"<html><body><p>" + "Crème brûlée – naïve".encode("cp1252") + b"</p></body></html>"
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(page[i:i + 50]), page[i:i + 50])
                       for i in range(0, len(page), 50)) + b"0\r\n\r\n"
    pages = [
        Page("https://a.example.com/", page, content_type="text/html; charset=utf8mb4"),
        Page("https://b.example.com/", body, content_type="text/html; charset=windows-1252"),
        Page("https://c.example.com/", gz.compress(page, mtime=0), content_type="text/html",
             extra_headers=(("Content-Encoding", "gzip"),)),
        Page("https://d.example.com/", chunked, content_type="text/html",
             extra_headers=(("Transfer-Encoding", "chunked"),)),
        Page("https://e.example.com/", b"\x1f\x8b\x08\x00broken", content_type="text/html",
             extra_headers=(("Content-Encoding", "gzip"),)),
        Page("https://f.example.com/", b"<html><body>   </body></html>"),
    ]
    items = read_all([write_warc(tmp_path / "enc.warc.gz", pages)])
    docs = docs_of(items)
    texts = {d.url: d.text for d in docs}
    assert "Un café très noir" in texts["https://a.example.com/"]  # unknown charset: detected
    assert texts["https://b.example.com/"] == "Crème brûlée – naïve"
    assert "Un café très noir" in texts["https://c.example.com/"]  # gzip content-encoding
    assert "Un café très noir" in texts["https://d.example.com/"]  # chunked transfer-encoding
    assert "0\r\n" not in texts["https://d.example.com/"]
    issues = {x.status: x for x in items if isinstance(x, RecordIssue)
              and not x.reason.startswith("not a document")}  # warcinfo/request: counted apart
    assert len(issues) == 2 and len(docs) == 4
    assert "broken gzip content encoding" in issues["failed"].reason
    assert issues["failed"].record.startswith("urn:uuid:") and "enc.warc.gz" in issues["failed"].reason
    assert issues["skipped"].reason == "empty text"


def test_warc_resource_and_revisit_records(tmp_path):
    import io

    from warcio.warcwriter import WARCWriter

    path = tmp_path / "mixed.warc"
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=False)
        writer.write_record(writer.create_warc_record(
            "https://r.example.com/page", "resource",
            payload=io.BytesIO(b"<html><body><p>A stored resource page.</p></body></html>"),
            warc_content_type="text/html", warc_headers_dict={"WARC-Date": "2022-01-01T00:00:00Z"}))
        writer.write_record(writer.create_warc_record(
            "https://r.example.com/page", "revisit", payload=io.BytesIO(b""),
            warc_headers_dict={"WARC-Date": "2023-01-01T00:00:00Z"}))
        writer.write_record(writer.create_warc_record(
            "https://r.example.com/notes.txt", "resource", payload=io.BytesIO(b"plain notes"),
            warc_content_type="text/plain"))
    items = read_all([path])
    grouped = [x for x in items if isinstance(x, RecordIssue)
               and x.reason.startswith("not a document")]
    assert [(x.reason.split(" (")[0], x.count) for x in grouped] == [
        ("not a document: WARC revisit record", 1)]  # counted as skipped, one issue per type
    doc, issue = [x for x in items if x not in grouped]
    assert isinstance(doc, Document) and doc.text == "A stored resource page."
    assert doc.crawl_date.year == 2022
    assert isinstance(issue, RecordIssue) and issue.reason == "not HTML (text/plain)"


def test_importing_readers_stays_light():
    import subprocess
    import sys

    code = ("import sys, auditor.readers, auditor.provenance; heavy = ['torch', 'transformers', "
            "'datasets', 'ray', 'fastwarc', 'resiliparse', 'tldextract', 'fsspec', 'zstandard']; "
            "print([m for m in heavy if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert out.stdout.strip() == "[]"
