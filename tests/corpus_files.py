"""Write real corpus files for tests: Parquet, JSON lines (plain/gzip/zstd), WARC, WET, saved
Hugging Face datasets, and corrupt variants of each.

Every helper writes to a path the test gives (normally under `tmp_path`) and returns it, so
tests exercise the same bytes a user's corpus would have. The data is generated from a seed:
`make_rows(n, seed)` is the same every run. Other areas' tests import these, so signatures are
kept stable.

    rows = make_rows(500, seed=1)
    write_parquet(tmp_path / "c.parquet", rows, row_group_size=100)   # 5 row groups
    write_jsonl(tmp_path / "c.jsonl.zst", rows, compression="zstd")
    write_warc(tmp_path / "crawl.warc.gz", sample_pages())
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

_WORDS = (
    "the a model corpus web page data crawl text human machine language report river city "
    "history science music garden market winter network library museum school village story "
    "engine bridge festival harbour election recipe weather football research season"
).split()
_DOMAINS = ("example.com", "news.example.co.uk", "blog.example.org", "wiki.example.net",
            "shop.example.de", "forum.example.io")
_LICENSES = ("CC-BY-4.0", "cc by-sa 4.0", "https://creativecommons.org/licenses/by-nc/3.0/",
             "MIT", None)


def make_text(rng: random.Random, min_words: int = 5, max_words: int = 60) -> str:
    """A sentence-like text of random words (some non-ASCII, so UTF-8 handling is exercised)."""
    words = [rng.choice(_WORDS) for _ in range(rng.randint(min_words, max_words))]
    if rng.random() < 0.2:
        words.append(rng.choice(("café", "naïve", "Zürich", "東京", "😀")))
    return " ".join(words).capitalize() + "."


def make_rows(n: int, seed: int = 0, *, start_date: dt.datetime | None = None) -> list[dict]:
    """`n` records with `id`, `text`, `url`, `timestamp` (ISO, UTC), `license`, `language`,
    `label` (human/ai) and `meta_score`; deterministic for a given seed."""
    rng = random.Random(seed)
    start = start_date or dt.datetime(2021, 1, 1, tzinfo=dt.timezone.utc)
    rows = []
    for i in range(n):
        when = start + dt.timedelta(days=rng.randint(0, 1200), seconds=rng.randint(0, 86399))
        rows.append({
            "id": f"doc-{seed}-{i:06d}",
            "text": make_text(rng),
            "url": f"https://{rng.choice(_DOMAINS)}/page/{i}",
            "timestamp": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "license": rng.choice(_LICENSES),
            "language": "en",
            "label": rng.choice(("human", "ai")),
            "meta_score": round(rng.random(), 4),
        })
    return rows


# ---------------------------------------------------------------------------------- Parquet

def write_parquet(path: Path, rows: Sequence[dict], *, row_group_size: int = 100,
                  compression: str = "zstd") -> Path:
    """Rows as Parquet with several row groups (`len(rows) / row_group_size`)."""
    table = pa.Table.from_pylist(list(rows))
    pq.write_table(table, path, row_group_size=row_group_size, compression=compression)
    return Path(path)


def corrupt_parquet_row_group(src: Path, dst: Path, row_group: int) -> Path:
    """Copy `src` to `dst` with the data pages of one row group overwritten by garbage.

    The footer stays intact, so the file opens and the other row groups read; reading the
    damaged row group fails as a real bit-rot or partial overwrite would.
    """
    data = bytearray(Path(src).read_bytes())
    meta = pq.ParquetFile(src).metadata
    rg = meta.row_group(row_group)
    for i in range(rg.num_columns):
        col = rg.column(i)
        start = col.dictionary_page_offset or col.data_page_offset
        stop = start + col.total_compressed_size
        data[start:stop] = bytes((j * 131 + 7) % 256 for j in range(stop - start))
    Path(dst).write_bytes(bytes(data))
    return Path(dst)


def truncate_file(src: Path, dst: Path, fraction: float = 0.5) -> Path:
    """Copy the first `fraction` of `src` to `dst`: a download cut short."""
    data = Path(src).read_bytes()
    Path(dst).write_bytes(data[: int(len(data) * fraction)])
    return Path(dst)


# ------------------------------------------------------------------------------- JSON lines

def _compress(data: bytes, compression: str | None) -> bytes:
    if compression is None:
        return data
    if compression == "gzip":
        return gzip.compress(data, mtime=0)
    if compression == "zstd":
        import zstandard

        return zstandard.ZstdCompressor(level=3).compress(data)
    raise ValueError(f"unknown compression {compression!r}: use None, 'gzip' or 'zstd'")


def write_jsonl_lines(path: Path, lines: Iterable[bytes | str], *,
                      compression: str | None = None) -> Path:
    """Raw lines (bytes or str, newline added) to a JSONL file, optionally gzip/zstd.

    For malformed input: pass lines that are not JSON, invalid UTF-8 bytes, etc.
    """
    body = b"".join((x.encode("utf-8") if isinstance(x, str) else x) + b"\n" for x in lines)
    Path(path).write_bytes(_compress(body, compression))
    return Path(path)


def write_jsonl(path: Path, rows: Iterable[dict], *, compression: str | None = None) -> Path:
    """Records as JSON lines (`compression`: None, "gzip" or "zstd")."""
    return write_jsonl_lines(path, (json.dumps(r, ensure_ascii=False) for r in rows),
                             compression=compression)


def jsonl_line_offsets(path: Path) -> list[int]:
    """Byte offsets of the non-blank lines of an uncompressed JSONL file (the expected
    `Document.offset`s)."""
    offsets, pos = [], 0
    for line in Path(path).read_bytes().splitlines(keepends=True):
        if line.strip():
            offsets.append(pos)
        pos += len(line)
    return offsets


def corrupt_jsonl_lines(seed: int = 0) -> tuple[list[bytes], dict[int, str]]:
    """Lines mixing good records with every kind of bad one, and what each bad line is.

    Returns (lines, problems) where problems maps a 1-based line number to one of
    `invalid_json`, `not_object`, `missing_text`, `empty_text`, `invalid_utf8` (a kept document
    flagged in meta), `garbage` (undecodable), `not_string`.
    """
    rng = random.Random(seed)
    good = [json.dumps({"id": f"ok-{i}", "text": make_text(rng)}).encode() for i in range(6)]
    bad = {
        "invalid_json": b'{"id": "broken", "text": "no closing brace"',
        "not_object": b'["a", "list"]',
        "missing_text": b'{"id": "no-text", "body": "wrong column"}',
        "empty_text": b'{"id": "empty", "text": "   "}',
        "invalid_utf8": b'{"id": "latin1", "text": "caf\xe9 au lait and more words"}',
        "garbage": b'{"id": "bin", "text": "' + bytes(range(0x80, 0xC0)) + b'"}',
        "not_string": b'{"id": "num", "text": 42}',
    }
    lines, problems = [], {}
    for kind, line in bad.items():
        lines.append(good.pop() if good else b'{"text": "filler"}')
        lines.append(line)
        problems[len(lines)] = kind
    lines.extend(good)
    return lines, problems


# ------------------------------------------------------------------------------ WARC / WET

@dataclass(frozen=True)
class Page:
    """One crawled HTTP response for `write_warc`."""

    url: str
    body: bytes
    date: str = "2024-05-18T01:58:10Z"
    status: str = "200 OK"
    content_type: str = "text/html; charset=utf-8"
    extra_headers: tuple[tuple[str, str], ...] = field(default_factory=tuple)


def html_page(title: str, paragraphs: Sequence[str], head_extra: str = "",
              body_extra: str = "") -> bytes:
    """A plain but real HTML document (head, nav, article, footer)."""
    paras = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{title}</title>{head_extra}</head>\n<body><nav><a href=\"/\">Home</a> | "
        f"<a href=\"/about\">About</a></nav>\n<article><h1>{title}</h1>\n{paras}\n</article>\n"
        f"<footer>{body_extra}</footer></body></html>\n"
    ).encode()


#: What `sample_pages()` holds, by URL: expected licence, generator, IPTC source type.
SAMPLE_EXPECTED = {
    "https://blog.example.org/cc-by": ("CC-BY-4.0", "WordPress 6.4.2", None),
    "https://photos.example.net/gallery": ("CC-BY-NC-ND-3.0", None, None),
    "https://art.example.com/ai-image": ("unknown", "Hugo 0.121", "trainedAlgorithmicMedia"),
    "https://wiki.example.net/wiki/River": ("CC-BY-SA-4.0", "MediaWiki 1.43.0", None),
    "https://pd.example.org/poem": ("PDM-1.0", None, None),
    "https://zero.example.org/data": ("CC0-1.0", None, None),
}
#: URLs in `sample_pages()` that are not documents, and the skip reason's start.
SAMPLE_SKIPPED = {
    "https://blog.example.org/logo.png": "not HTML",
    "https://blog.example.org/missing": "HTTP status 404",
}


def sample_pages() -> list[Page]:
    """Realistic pages covering the provenance the WARC reader extracts (see SAMPLE_EXPECTED),
    plus a PNG and a 404 that must be skipped with a reason."""
    rng = random.Random(7)
    text = [make_text(rng, 20, 40) for _ in range(4)]
    cc_badge = ('<a rel="license" href="http://creativecommons.org/licenses/by/4.0/">'
                '<img alt="Creative Commons License" '
                'src="https://i.creativecommons.org/l/by/4.0/88x31.png"></a>')
    return [
        Page("https://blog.example.org/cc-by", html_page(
            "Walking the river", text[:2], '<meta name="generator" content="WordPress 6.4.2">',
            f"This work is licensed under {cc_badge}.")),
        Page("https://photos.example.net/gallery", html_page(
            "Gallery", text[1:3], "",
            'Photos: <a href="https://creativecommons.org/licenses/by-nc-nd/3.0/deed.en">'
            "CC BY-NC-ND 3.0</a>")),
        Page("https://art.example.com/ai-image", html_page(
            "A generated landscape", text[2:4],
            '<meta name="generator" content="Hugo 0.121">'
            '<meta property="Iptc4xmpExt:DigitalSourceType" '
            'content="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia">')),
        Page("https://wiki.example.net/wiki/River", html_page(
            "River - Wiki", text[:3],
            '<meta name="generator" content="MediaWiki 1.43.0">'
            '<link rel="license" href="https://creativecommons.org/licenses/by-sa/4.0/deed.en">'),
            date="2024-05-31T10:00:00Z"),
        Page("https://pd.example.org/poem", html_page(
            "A poem", text[3:], "",
            '<a rel="license" href="https://creativecommons.org/publicdomain/mark/1.0/">PD</a>'),
            date="2008-04-30T20:48:25Z"),
        Page("https://zero.example.org/data", html_page(
            "Open data", text[:1], "",
            '<a rel="license nofollow" href="//creativecommons.org/publicdomain/zero/1.0/">'
            "CC0</a>")),
        Page("https://blog.example.org/logo.png", b"\x89PNG\r\n\x1a\n" + bytes(200),
             content_type="image/png"),
        Page("https://blog.example.org/missing", html_page("Not found", ["Nothing here."]),
             status="404 Not Found"),
    ]


def write_warc(path: Path, pages: Sequence[Page], *, gzip_records: bool = True,
               with_requests: bool = True) -> Path:
    """A WARC (one gzip member per record when `gzip_records`) with a warcinfo record, a
    request + response per page, and a metadata record, written with warcio."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=gzip_records)
        writer.write_record(writer.create_warcinfo_record(
            Path(path).name, {"software": "tests/corpus_files.py", "isPartOf": "TEST-CRAWL"}))
        for page in pages:
            if with_requests:
                request = StatusAndHeaders(f"GET {page.url} HTTP/1.1",
                                           [("User-Agent", "test-crawler")],
                                           is_http_request=True)
                writer.write_record(writer.create_warc_record(
                    page.url, "request", http_headers=request,
                    warc_headers_dict={"WARC-Date": page.date}))
            headers = StatusAndHeaders(page.status,
                                       [("Content-Type", page.content_type),
                                        *page.extra_headers],
                                       protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(
                page.url, "response", payload=io.BytesIO(page.body), http_headers=headers,
                warc_headers_dict={"WARC-Date": page.date}))
            writer.write_record(writer.create_warc_record(
                page.url, "metadata", payload=io.BytesIO(b"fetchTimeMs: 12\r\n"),
                warc_content_type="application/warc-fields",
                warc_headers_dict={"WARC-Date": page.date}))
    return Path(path)


def write_wet(path: Path, docs: Sequence[tuple[str, str, str, str | None]], *,
              gzip_records: bool = True) -> Path:
    """A WET file: warcinfo then one `conversion` record per (url, text, WARC-Date, language)."""
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=gzip_records)
        writer.write_record(writer.create_warcinfo_record(
            Path(path).name, {"software": "tests/corpus_files.py"}))
        for url, text, date, language in docs:
            headers: dict[str, Any] = {"WARC-Date": date}
            if language:
                headers["WARC-Identified-Content-Language"] = language
            writer.write_record(writer.create_warc_record(
                url, "conversion", payload=io.BytesIO(text.encode("utf-8")),
                warc_content_type="text/plain", warc_headers_dict=headers))
    return Path(path)


def corrupt_warc_header(src: Path, dst: Path) -> Path:
    """Copy an uncompressed WARC with the `Content-Length` of a record past the middle made
    invalid, so the record cannot be parsed."""
    data = bytearray(Path(src).read_bytes())
    at = data.find(b"Content-Length:", len(data) // 2)
    if at < 0:
        raise ValueError(f"{src}: no Content-Length header past the middle to corrupt")
    data[at:at + 15] = b"Content-Lxngth:"
    end = data.find(b"\r\n", at)
    data[at + 16:end] = b"x" * (end - at - 16)
    Path(dst).write_bytes(bytes(data))
    return Path(dst)


# ------------------------------------------------------------------------- HF saved datasets

def write_hf_saved(path: Path, rows: Sequence[dict], *, num_shards: int = 2,
                   splits: Sequence[str] | None = None) -> Path:
    """A `Dataset.save_to_disk` folder (several Arrow shards), or a `DatasetDict` folder with
    the same rows in each of `splits`. Imports `datasets`, so call it only in tests that need it.
    """
    import datasets

    dataset = datasets.Dataset.from_list(list(rows))
    datasets.disable_progress_bars()
    if splits:
        datasets.DatasetDict({s: dataset for s in splits}).save_to_disk(
            str(path), num_shards={s: num_shards for s in splits})
    else:
        dataset.save_to_disk(str(path), num_shards=num_shards)
    return Path(path)


def build_many_sources_store(root, n_sources: int = 1000) -> str:
    """A real store of `n_sources` sources (JSONL, `--source-by column:source`), two documents
    each, one source in seven with assistant boilerplate: the shape that swamped every output.
    Used by the check tests and by scripts/bench_outputs.py."""
    import json
    from pathlib import Path

    from auditor.readers.base import ReaderOptions
    from auditor.scan.options import ScanOptions
    from auditor.scan.runner import run_scan

    root = Path(root)
    rows = []
    for i in range(n_sources):
        for j in range(2):
            marker = "As an AI language model, I hope this helps! " if i % 7 == 0 else ""
            rows.append({"id": f"s{i}-{j}", "source": f"site{i:04d}.example",
                         "crawl_date": "2024-03-01T00:00:00Z" if j else "2021-03-01T00:00:00Z",
                         "text": f"{marker}Notes on river {i} and the weather on day {j}."})
    (root / "many.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    db = str(root / "many.duckdb")
    run_scan([str(root / "many.jsonl")], db,
             ScanOptions(reader=ReaderOptions(source_by="column:source")))
    return db


def copy_store(db: str, folder: Path) -> str:
    """A copy of the store `db` (the database and the folders beside it: side-cars, models,
    logs) in `folder`; returns the copy's database path. For a test that writes to a store a
    fixture scanned once: side-cars are named relative to their database
    (`StorePaths.sidecar_name`), so the copy reads its own, and the corpus stays in place."""
    import glob
    import shutil

    src = Path(db)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for path in map(Path, glob.glob(glob.escape(str(src)) + "*")):
        if path.is_dir():
            shutil.copytree(path, folder / path.name)
        else:
            shutil.copy2(path, folder / path.name)
    return str(folder / src.name)
