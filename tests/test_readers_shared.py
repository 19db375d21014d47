"""The real crawl samples in shared/data/crawl (see its README) read with the expected
provenance: Creative Commons licences from 2008 Internet Archive pages, CC BY-SA 4.0 from a 2024
Wikipedia page, C4 urls/timestamps, Dolma metadata.url/created, Common Crawl Parquet columns."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from auditor.readers import ReaderOptions, discover, plan_units, read_unit
from auditor.records import Document, RecordIssue


def read_all(path, options=None):
    options = options or ReaderOptions()
    return [x for u in plan_units(discover([str(path)]), options) for x in read_unit(u, options)]


def docs_of(items):
    """The documents among read items (records that are not documents are counted apart)."""
    return [x for x in items if isinstance(x, Document)]


@pytest.fixture(scope="module")
def crawl(shared_data):
    return shared_data / "crawl"


def test_all_seven_samples_are_discovered_with_their_format(crawl):
    found = {s.uri.rsplit("/", 1)[1]: s.format for s in discover([str(crawl)])}
    found.pop("README.md", None)
    assert found == {
        "ia-2008-blackbook.warc.gz": "warc", "cc-main-2020-34-sample.warc.gz": "warc",
        "cc-main-2024-22-wikipedia.warc.gz": "warc", "cc-main-2024-22-wikipedia.warc.wet.gz": "wet",
        "c4-sample-2019.json.gz": "jsonl", "dolma-cc-en-head-2020.jsonl.gz": "jsonl",
        "cc-main-2026-30-sample.parquet": "parquet"}


def test_ia_2008_blackbook_creative_commons_licences(crawl):
    items = read_all(crawl / "ia-2008-blackbook.warc.gz")
    docs = [x for x in items if isinstance(x, Document)]
    issues = [x for x in items if isinstance(x, RecordIssue)]
    assert not [i for i in issues if i.status == "failed"]
    # 822 records, 299 responses: every record is a document or a skip with a reason; the 523
    # requests, metadata and warcinfo are one issue per type with their number
    assert sum(1 if isinstance(x, Document) else x.count for x in items) == 822
    assert sum(x.count for x in issues if x.reason.startswith("not a document")) == 523
    reasons = Counter(i.reason.split(" (")[0] for i in issues)
    assert reasons["not HTML"] > 50 and reasons["HTTP status 404"] > 10
    licensed = {d.url: d.license for d in docs if d.license != "unknown"}
    # the four HTML pages with <a rel="license"> (two such links each: the README's 8)
    assert licensed == {
        "http://www.archive.org/details/no_thoroughfare_librivox": "CC-PDDC",
        "http://www.archive.org/details/JTRNET15": "CC-BY-NC-ND-3.0",
        "http://www.archive.org/details/code4lib.conf.2008.keynote.Coyle."
        "CanResourceDescriptionBecomeRigorousData": "CC-BY-SA-3.0",
        "http://www.archive.org/details/zh27814": "CC-BY-NC-SA-2.0",
    }
    assert all(d.meta["license_source"] == "rel" for d in docs if d.license != "unknown")
    assert {d.crawl_date.date() for d in docs} == {dt.date(2008, 4, 30)}
    assert all(d.pre_cutoff() for d in docs)
    assert "archive.org" in {d.domain for d in docs}


def test_wikipedia_2024_warc_and_wet(crawl):
    [doc] = docs_of(read_all(crawl / "cc-main-2024-22-wikipedia.warc.gz"))
    assert doc.license == "CC-BY-SA-4.0" and doc.meta["license_source"] == "rel"
    assert doc.url == "https://an.wikipedia.org/wiki/Escopete" and doc.domain == "wikipedia.org"
    assert (doc.crawl_date.year, doc.crawl_date.month) == (2024, 5)
    assert doc.meta["html_generator"].startswith("MediaWiki")
    assert "Escopete" in doc.text and "<div" not in doc.text
    assert doc.pre_cutoff() is False
    [wet] = docs_of(read_all(crawl / "cc-main-2024-22-wikipedia.warc.wet.gz"))
    assert wet.url == doc.url and wet.language == "es" and wet.crawl_date == doc.crawl_date
    assert wet.id != doc.id and "Escopete" in wet.text


def test_cc_2020_warc_sample(crawl):
    items = read_all(crawl / "cc-main-2020-34-sample.warc.gz")
    docs = [x for x in items if isinstance(x, Document)]
    assert len(docs) == 16  # the other records are requests and metadata, counted by type
    assert all(x.reason.startswith("not a document") for x in items if x not in docs)
    assert {d.crawl_date.year for d in docs} == {2020}
    assert len({d.domain for d in docs}) >= 15  # 16 hosts, two share a registered domain


def test_c4_json_gz_urls_and_2019_timestamps(crawl):
    docs = read_all(crawl / "c4-sample-2019.json.gz")
    assert len(docs) == 1000 and all(isinstance(d, Document) for d in docs)
    assert all(d.url.startswith("http") for d in docs)
    assert {(d.crawl_date.year, d.crawl_date.month) for d in docs} == {(2019, 4)}
    assert len({d.domain for d in docs}) > 900
    assert docs[0].source == "c4-sample-2019"


def test_dolma_metadata_url_and_created(crawl):
    docs = read_all(crawl / "dolma-cc-en-head-2020.jsonl.gz")
    assert len(docs) == 10 and all(isinstance(d, Document) for d in docs)
    assert all(d.url and d.domain for d in docs)  # from metadata.url
    assert {d.crawl_date.year for d in docs} == {2020}  # from created
    assert all(d.id.startswith("http") for d in docs) and {d.language for d in docs} == {"en"}
    by_domain = read_all(crawl / "dolma-cc-en-head-2020.jsonl.gz",
                         ReaderOptions(source_by="domain"))
    assert [d.source for d in by_domain] == [d.domain for d in docs]


def test_common_crawl_parquet_with_warc_columns(crawl):
    path = crawl / "cc-main-2026-30-sample.parquet"
    [issue] = read_all(path)
    assert isinstance(issue, RecordIssue) and "content" in issue.reason
    items = read_all(path, ReaderOptions(text_column="content"))
    docs = [x for x in items if isinstance(x, Document)]
    assert len(items) == 147 and len(docs) > 130
    assert {(x.status, x.reason) for x in items if isinstance(x, RecordIssue)} == {
        ("skipped", "empty text")}
    assert {(d.crawl_date.year, d.crawl_date.month) for d in docs} == {(2026, 7)}
    assert all(d.url for d in docs) and len({d.domain for d in docs}) >= 120
    assert docs[0].meta["WARC-Identified-Payload-Type"] == "text/plain"
