"""One path from record to row: a batch taken column by column stores exactly the rows and
issues of the same records looked up one by one, and a JSON lines file stores the rows of the
Parquet file with the same records.

Each test writes a real Parquet, Arrow or JSONL file and scans it through
`auditor.scan.unit.process_unit`: once as it runs (columns where the schema allows), once with
the column plan refused, so every batch takes the record-by-record field lookup. Both end in
`BatchBuilder.rows`, the rules; the test compares the side-cars cell by cell, the record
issues and the counts.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.readers import ReaderOptions, discover, plan_units
from auditor.readers import columnar as columnar_module
from auditor.readers.columnar import BatchBuilder
from auditor.readers.stream import read_unit_chunks
from auditor.readers.textstats import arrow_word_counts
from auditor.records import RecordIssue
from auditor.scan.options import ScanOptions
from auditor.scan.unit import process_unit
from auditor.store.paths import StorePaths
from auditor.store.sidecar import read_unit_table


def _no_plan(self, schema):
    raise columnar_module._Fallback


def scan_both(tmp_path, monkeypatch, path, reader: ReaderOptions, detectors=()):
    """(record-lookup results, column results), each a list of (UnitResult, side-car table)."""
    options = ScanOptions(reader=reader)
    units = plan_units(discover([str(path)]), reader, 1 << 30)
    out = []
    for mode in ("records", "columns"):
        with monkeypatch.context() as patch:
            if mode == "records":
                patch.setattr(BatchBuilder, "_plan", _no_plan)
            paths = StorePaths.for_db(tmp_path / f"store-{mode}.duckdb")
            results = []
            for unit in units:
                res = process_unit(unit, options, list(detectors), paths)
                table = read_unit_table(paths, res.sidecar) if res.sidecar else None
                results.append((res, table))
        out.append(results)
    return out


def assert_same(records, columnar):
    assert len(records) == len(columnar)
    for (r1, t1), (r2, t2) in zip(records, columnar, strict=True):
        assert (r1.status, r1.n_stored, r1.n_skipped, r1.n_failed) == \
            (r2.status, r2.n_stored, r2.n_skipped, r2.n_failed)
        assert r1.issues == r2.issues
        if t1 is None:
            assert t2 is None
            continue
        assert t1.schema == t2.schema
        for name in t1.column_names:
            a, b = t1.column(name).to_pylist(), t2.column(name).to_pylist()
            if a != b:
                bad = next(i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y)
                pytest.fail(f"column {name!r} differs at row {bad}: {a[bad]!r} != {b[bad]!r}")
        assert t1.equals(t2)


def columnar_share(path, reader: ReaderOptions, monkeypatch) -> float:
    """Share of the file's batches taken column by column (not looked up record by record)."""
    calls = {"columns": 0, "records": 0}
    arrow_raw, records_raw = BatchBuilder._arrow_raw, BatchBuilder._records_raw

    def count(kind, fn):
        def wrapper(*args, **kwargs):
            calls[kind] += 1
            return fn(*args, **kwargs)
        return wrapper

    with monkeypatch.context() as patch:
        patch.setattr(BatchBuilder, "_arrow_raw", count("columns", arrow_raw))
        patch.setattr(BatchBuilder, "_records_raw", count("records", records_raw))
        for unit in plan_units(discover([str(path)]), reader, 1 << 30):
            for _ in read_unit_chunks(unit, reader):
                pass
    return calls["columns"] / max(calls["columns"] + calls["records"], 1)


LONG = "word " * 120  # 600 characters


def odd_rows(n: int, seed: int) -> dict:
    """Rows with every oddity the policy handles, mixed with ordinary ones."""
    rng = np.random.default_rng(seed)
    texts = [
        None, "", "   \n\t ", "\u3000\u00a0", "ok", " padded text ", "ends with newline\n",
        "unicode\u2009space and\u00a0nbsp", "caf\u00e9 \u2019quoted\u2019 \U0001f600 emoji",
        "ctrl\x07char\x1cfs\x0e", LONG, "\u0085lead nel", "x",
    ]
    urls = [
        "https://News.Example.co.uk/a?b#c", "http://user:pw@host.example.org/", "  https://sp.com/ ",
        "example.net/path", "", None, "https://[2001:db8::1]:8080/x", "ftp://files.example.com:21",
        "https://trailing.example.com./", "http://a.com:80@b.com/", "https://xn--bcher-kva.ch/",
        "mailto:someone@example.com", "https://192.168.1.1/admin", "HTTPS://UPPER.EXAMPLE.COM",
    ]
    dates = ["2019-05-01T12:00:00Z", "Fri, 31 May 2024 01:16:46 GMT", "1600000000", "not a date",
             "", None, "1900-01-01", "20210304123456", "2022-11-29", "2022-11-30T00:00:00+02:00"]
    licenses = ["https://creativecommons.org/licenses/by-sa/4.0/", "cc-by-4.0", "weird licence",
                None, "", "MIT"]
    labels = ["human", "AI", " machine ", "other", None, ""]
    notes = ['he said "hi"\nthen left', "plain", "x" * 300, None, "", "back\\slash", "tab\there"]
    floats = [1.0, float("nan"), float("inf"), 0.1, None, 1e20, -0.0]
    pick = lambda xs: [xs[i] for i in rng.integers(0, len(xs), n)]  # noqa: E731
    body = [" ".join(rng.choice(["alpha", "beta", "gamma", "d\u00e9lta"], rng.integers(3, 40)))
            for _ in range(n)]
    text = [t if rng.random() < 0.6 else o for t, o in zip(body, pick(texts), strict=True)]
    ids = [f"id-{i}" if rng.random() < 0.7 else rng.choice(["", None]) for i in range(n)]
    return {
        "id": ids, "text": text, "url": pick(urls), "date": pick(dates), "license": pick(licenses),
        "language": pick(["en", "de", None, ""]), "label": pick(labels), "site": pick(
            ["alpha", "cosmopedia-web", None, ""]),
        "note": pick(notes), "count": [int(x) for x in rng.integers(-5, 10**12, n)],
        "flag": pick([True, False, None]), "score": pick(floats),
        "seen": [dt.datetime(2020, 1, 1) + dt.timedelta(days=int(d)) for d in
                 rng.integers(0, 900, n)],
    }


def write_parquet(path, rows: dict, row_group_size: int = 700):
    pq.write_table(pa.table(rows), path, row_group_size=row_group_size)
    return path


READER_VARIANTS = [
    ReaderOptions(),
    ReaderOptions(label_column="label", source_by="domain", min_chars=3, max_chars=200),
    ReaderOptions(source_by="column:site", max_chars=40, cutoff=dt.date(2021, 1, 1)),
    ReaderOptions(source_by="dataset:cosmopedia", id_column="count", license_column="note"),
]


@pytest.mark.parametrize("reader", READER_VARIANTS, ids=["default", "label-domain",
                                                         "column-source", "dataset-ids"])
def test_odd_parquet_stores_the_same_rows_both_ways(tmp_path, monkeypatch, reader):
    path = write_parquet(tmp_path / "odd.parquet", odd_rows(3000, seed=7))
    records, columnar = scan_both(tmp_path, monkeypatch, path, reader)
    assert_same(records, columnar)
    res, table = columnar[0]
    assert res.n_skipped > 0 and res.n_stored > 2000  # oddities were hit
    # a null text (the column is there) is an empty text, skipped; nothing here is missing
    assert res.n_failed == 0 and res.n_stored + res.n_skipped == 3000
    metas = [json.loads(m) for m in table.column("meta").to_pylist() if m]
    assert any(m.get("truncated") for m in metas) or reader.max_chars > 1000
    assert columnar_share(path, reader, monkeypatch) == 1.0  # all of it column by column


def test_invalid_utf8_and_binary_texts_match(tmp_path, monkeypatch):
    good = [f"document number {i} with text" for i in range(50)]
    raw = [t.encode() for t in good]
    raw[3] = b"caf\xe9 latin-1 bytes in a binary column"
    raw[9] = b"\xff\xfe\xfd\xfc"  # garbage: fails as undecodable
    path = write_parquet(tmp_path / "binary.parquet", {"text": pa.array(raw, pa.binary())})
    records, columnar = scan_both(tmp_path, monkeypatch, path, ReaderOptions())
    assert_same(records, columnar)
    res, table = columnar[0]
    assert res.n_stored == 49 and res.n_failed == 1
    assert json.loads(table.column("meta")[3].as_py()) == {"invalid_utf8": True}
    # invalid UTF-8 inside a *string* column: both ways give the same (unit-level) outcome
    bad = pa.array([b"fine text"] * 5 + [b"bad \xff text"], pa.binary()).view(pa.string())
    path = write_parquet(tmp_path / "badstr.parquet", {"text": bad})
    records, columnar = scan_both(tmp_path, monkeypatch, path, ReaderOptions())
    assert_same(records, columnar)


def test_fallback_batches_match(tmp_path, monkeypatch):
    """Several URL candidates (a per-row choice) and a nested field are looked up per record."""
    n = 500
    rows = odd_rows(n, seed=3)
    rows["link"] = [None if i % 3 else f"https://link{i}.example.com/" for i in range(n)]
    rows["metadata"] = [{"url": f"https://m{i}.org/"} for i in range(n)]
    path = write_parquet(tmp_path / "fallback.parquet", rows)
    records, columnar = scan_both(tmp_path, monkeypatch, path, ReaderOptions())
    assert_same(records, columnar)
    assert columnar_share(path, ReaderOptions(), monkeypatch) == 0.0


def test_arrow_file_and_detectors_match(tmp_path, monkeypatch):
    rows = odd_rows(1200, seed=11)
    rows["text"] = [t if i % 5 else "As an AI language model, I cannot help with that. " + (t or "")
                    for i, t in enumerate(rows["text"])]
    folder = tmp_path / "cosmo-set"
    folder.mkdir()
    path = folder / "data-00000-of-00001.arrow"
    table = pa.table(rows)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=400):
            writer.write_batch(batch)
    records, columnar = scan_both(tmp_path, monkeypatch, path, ReaderOptions(),
                                  detectors=["markers"])
    assert_same(records, columnar)
    res, table = columnar[0]
    assert table.column("synthetic_by_construction").to_pylist() == [False] * res.n_stored
    assert max(table.column("score_markers").to_pylist()) > 0


def test_shared_crawl_and_labeled_data_match(tmp_path, monkeypatch, shared_data):
    crawl = shared_data / "crawl" / "cc-main-2026-30-sample.parquet"
    records, columnar = scan_both(tmp_path, monkeypatch, crawl,
                                  ReaderOptions(text_column="content", source_by="domain"))
    assert_same(records, columnar)
    assert columnar[0][0].n_stored > 100
    labeled = pq.read_table(shared_data / "labeled" / "dev.parquet")
    pick = np.sort(np.random.default_rng(5).choice(labeled.num_rows, 6000, replace=False))
    part = labeled.take(pa.array(pick))
    path = write_parquet(tmp_path / "dev-part.parquet", {c: part.column(c) for c in part.column_names},
                         row_group_size=3000)
    records, columnar = scan_both(tmp_path, monkeypatch, path, ReaderOptions(label_column="label"))
    assert_same(records, columnar)
    roles = set(columnar[0][1].column("role").to_pylist())
    assert roles == {"human_reference", "machine_reference"}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(
    [" ", "\t", "\n", "\x1c", "\x00", "\x0e", "a", "\u00e9", "\u2019", "\u00a0", "\u3000",
     "\x85", "\u2009", "\u200b", "\U0001f600", "\u2028", "\u1680", "\u205f", "\u180e"]),
    max_size=20), max_size=40), st.integers(0, 5))
def test_arrow_word_counts_is_str_split(texts, start):
    arr = pa.array(texts, pa.string()).slice(min(start, len(texts)))
    expected = [len(t.split()) for t in texts[min(start, len(texts)):]]
    assert arrow_word_counts(arr).tolist() == expected
    assert arrow_word_counts(arr.cast(pa.large_string())).tolist() == expected


def _damage_tail_of_text_chunk(src, dst, row_group: int, keep: float):
    """Copy `src` with the text column chunk of one row group overwritten after its first
    `keep` share: the row group breaks part-way, after several readable pages."""
    data = bytearray(src.read_bytes())
    rg = pq.ParquetFile(src).metadata.row_group(row_group)
    col = next(rg.column(i) for i in range(rg.num_columns)
               if rg.column(i).path_in_schema == "text")
    start = col.dictionary_page_offset or col.data_page_offset
    cut = start + int(col.total_compressed_size * keep)
    stop = start + col.total_compressed_size
    data[cut:stop] = bytes((j * 131 + 7) % 256 for j in range(stop - cut))
    dst.write_bytes(bytes(data))
    return dst


def test_corrupt_row_groups_and_arrow_files_match(tmp_path, monkeypatch):
    rows = odd_rows(9000, seed=13)
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table(rows), good, row_group_size=3000, data_page_size=4096,
                   use_dictionary=False)
    bad = _damage_tail_of_text_chunk(good, tmp_path / "bad.parquet", row_group=1, keep=0.6)
    records, columnar = scan_both(tmp_path, monkeypatch, bad, ReaderOptions())
    assert_same(records, columnar)
    res = columnar[0][0]
    issue = res.issues[-1]
    assert issue.record == "row group 1" and issue.status == "failed"
    assert 3000 < res.n_stored + res.n_skipped + res.n_failed - 1 < 6000  # part of group 1 kept
    cut = tmp_path / "cut"
    cut.mkdir()
    arrow = cut / "data-00000-of-00001.arrow"
    table = pa.table(rows)
    with pa.OSFile(str(arrow), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=500):
            writer.write_batch(batch)
    arrow.write_bytes(arrow.read_bytes()[: int(arrow.stat().st_size * 0.55)])
    records, columnar = scan_both(tmp_path, monkeypatch, arrow, ReaderOptions())
    assert_same(records, columnar)
    assert columnar[0][0].issues[-1].reason.startswith("corrupt Arrow data")


def test_json_lines_store_the_rows_of_the_same_parquet_records(tmp_path):
    """One path for every format: the same records as JSON lines (read record by record, some
    with their fields in another order) and as Parquet (read column by column) store the same
    rows, bar the offsets, which are byte offsets in one and row numbers in the other."""
    rows = odd_rows(1500, seed=17)
    del rows["seen"]  # no JSON type for datetimes
    rows["score"] = [None if isinstance(x, float) and not np.isfinite(x) else x
                     for x in rows["score"]]
    parquet = write_parquet(tmp_path / "same.parquet", rows)
    keys = list(rows)
    with open(tmp_path / "same.jsonl", "w") as fh:
        for i in range(len(rows["text"])):
            order = keys[::-1] if i % 5 == 0 else keys
            fh.write(json.dumps({k: rows[k][i] for k in order}) + "\n")
    reader = ReaderOptions(label_column="label", source_by="domain", max_chars=300)
    tables = []
    for path in (parquet, tmp_path / "same.jsonl"):
        paths = StorePaths.for_db(tmp_path / f"{path.suffix}.duckdb")
        (unit,) = plan_units(discover([str(path)]), reader, 1 << 30)
        res = process_unit(unit, ScanOptions(reader=reader), [], paths)
        tables.append((res, read_unit_table(paths, res.sidecar)))
    (r1, t1), (r2, t2) = tables
    assert (r1.n_stored, r1.n_skipped, r1.n_failed) == (r2.n_stored, r2.n_skipped, r2.n_failed)
    assert r1.n_skipped and not r1.n_failed and r1.n_stored > 1000  # null texts: skipped
    assert [i.reason.split(" in ")[0] for i in r1.issues] == \
        [i.reason.split(" in ")[0] for i in r2.issues]
    for name in t1.column_names:
        if name not in ("shard", "offset", "meta"):
            assert t1.column(name).to_pylist() == t2.column(name).to_pylist(), name
    # the same metadata, each document's keys in its own record's order
    as_dicts = [[json.loads(m) if m else {} for m in t.column("meta").to_pylist()]
                for t in (t1, t2)]
    assert as_dicts[0] == as_dicts[1]
    reversed_row = next(i for i, o in enumerate(t2.column("offset").to_pylist()) if
                        t1.column("offset")[i].as_py() % 5 == 0 and t2.column("meta")[i].as_py())
    policy = {"truncated", "original_chars", "unparsed_date", "license_raw", "label"}
    own = [[k for k in d[reversed_row] if k not in policy] for d in as_dicts]
    assert len(own[0]) >= 2 and own[1] == own[0][::-1]
    metas = [json.loads(m) for m in t2.column("meta").to_pylist() if m]
    assert any("truncated" in m for m in metas) and any("label" in m for m in metas)


def test_json_lines_with_fields_in_varying_order_are_one_batch_and_keep_each_order(tmp_path):
    """Records listing their fields in two orders, interleaved: one chunk, not a chunk per
    change of order (which made such a file 15x slower to scan), and each document's `meta`
    holds its own fields in its own record's order."""
    path = tmp_path / "orders.jsonl"
    records = []
    for i in range(3000):
        fields = [("a", i), ("b", f"x{i % 7}")] if (i * 7919) % 3 else [("b", "y"), ("a", i)]
        if i % 11 == 0:
            fields.append(("c", True))
        records.append({"id": f"r{i}", "text": f"document {i} about the river and the garden",
                        **dict(fields)})
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    reader = ReaderOptions()
    (unit,) = plan_units(discover([str(path)]), reader, 1 << 30)
    chunks = [c for c in read_unit_chunks(unit, reader) if not isinstance(c, RecordIssue)]
    assert len(chunks) <= 2  # RECORD_BATCH (2,048) records a chunk, whatever their order
    metas = [m for c in chunks for m in c.provenance.column("meta").to_pylist()]
    assert len(metas) == 3000
    for record, meta in zip(records, metas, strict=True):
        own = {k: v for k, v in record.items() if k not in ("id", "text")}
        assert list(json.loads(meta).items()) == list(own.items())


def test_a_record_in_another_order_keeps_its_first_keys_up_to_the_cap(tmp_path):
    """The key cap (META_MAX_KEYS) applies to a record rendered in its own order as to the
    others: the first keys of its own order are kept."""
    from auditor.readers.columnar import META_MAX_KEYS

    names = [f"f{k:02d}" for k in range(META_MAX_KEYS + 6)]
    first = {"text": "the first document of the file", **{n: 1 for n in names}}
    second = {"text": "the second document, its fields reversed", **{n: 2 for n in names[::-1]}}
    path = tmp_path / "cap.jsonl"
    path.write_text(json.dumps(first) + "\n" + json.dumps(second) + "\n")
    reader = ReaderOptions()
    (unit,) = plan_units(discover([str(path)]), reader, 1 << 30)
    (chunk,) = [c for c in read_unit_chunks(unit, reader) if not isinstance(c, RecordIssue)]
    one, two = (json.loads(m) for m in chunk.provenance.column("meta").to_pylist())
    assert list(one) == names[:META_MAX_KEYS]
    assert list(two) == names[::-1][:META_MAX_KEYS] and set(two.values()) == {2}
