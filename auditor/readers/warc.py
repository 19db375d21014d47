"""WARC and WET shards, read record by record with FastWARC.

A WARC `response` holding HTML becomes one `Document`: licence, `<meta name="generator">` and
IPTC digital-source-type are read from the raw HTML first (extraction drops them), then the
text is extracted with Resiliparse. A WET `conversion` record is already text. Requests,
metadata, warcinfo and revisit records are not documents: they are counted as skipped, one
issue per record type and shard with their number (a crawl holds about two per page, too many
for a row each); other responses (images, robots.txt, redirects, DNS) are skipped one by one
with the reason.

The file is decompressed in Python (`auditor.readers.files.decompressed`) and handed to FastWARC
as a plain stream, because FastWARC's own decompressor stops silently on a truncated gzip
member; this way truncation surfaces as an error naming the offset. Offsets are therefore
positions in the uncompressed stream, as for compressed JSON lines.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter, deque
from collections.abc import Iterator
from typing import Any, BinaryIO

from auditor.provenance.dates import parse_date
from auditor.provenance.html_meta import html_provenance
from auditor.readers.base import ReaderOptions, WorkUnit
from auditor.readers.columnar import INVALID_UTF8_KEY, UNPARSED_DATE_KEY, Record
from auditor.readers.files import decompressed, open_binary
from auditor.readers.http_response import HttpParseError, parse_http_response
from auditor.readers.mapping import RecordMapper, decode_text
from auditor.records import RecordIssue

#: Responses bigger than this are not web pages worth extracting (and would cost memory).
MAX_HTML_BYTES = 16 << 20
HTML_TYPES = ("text/html", "application/xhtml+xml", "application/xml+html")
_DRAIN = 1 << 20


class _CountingStream:
    """A read-only stream for FastWARC that counts bytes and turns a decompression error into
    end-of-stream, keeping the error so the reader can report where the file broke."""

    _TAIL = 1 << 18

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.position = 0
        self.error: BaseException | None = None
        self._tail: deque[bytes] = deque()
        self._tail_bytes = 0

    def tail(self) -> tuple[int, bytes]:
        """The last bytes read (at least 256 KiB when there were that many) and where they start."""
        data = b"".join(self._tail)
        return self.position - len(data), data

    _PIECE = 1 << 14

    def read(self, size: int = -1) -> bytes:
        """Read in small pieces, so a stream that breaks gives up all it decoded before."""
        if size is None or size < 0:
            size = 1 << 62
        pieces: list[bytes] = []
        got = 0
        while got < size and self.error is None:
            try:
                data = self._stream.read(min(self._PIECE, size - got))
            except Exception as exc:  # EOFError, BadGzipFile, zlib.error, ZstdError
                self.error = exc
                break
            if not data:
                break
            pieces.append(data)
            got += len(data)
        self.position += got
        data = b"".join(pieces)
        if data:
            self._tail.append(data)
            self._tail_bytes += len(data)
            while self._tail_bytes - len(self._tail[0]) >= self._TAIL:
                self._tail_bytes -= len(self._tail.popleft())
        return data

    def tell(self) -> int:
        return self.position


def _read_block(record: Any, limit: int) -> tuple[bytes, int]:
    """Up to `limit` bytes of the record block, and the block's full length (rest drained)."""
    head = record.reader.read(limit)
    total = len(head)
    while True:
        chunk = record.reader.read(_DRAIN)
        if not chunk:
            return head, total
        total += len(chunk)


def _record_id(record: Any) -> str:
    return (record.record_id or "").strip("<>") or f"offset {record.stream_pos}"


def _html_to_text(html: bytes, charset: str | None) -> str:
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    try:
        text = bytes_to_str(html, charset or detect_encoding(html))
    except LookupError:  # a charset name no codec knows ("utf8mb4", typos): detect instead
        text = bytes_to_str(html, detect_encoding(html))
    extracted = extract_plain_text(text, main_content=True, preserve_formatting=True)
    if not extracted.strip():  # pages too small for the main-content heuristics
        extracted = extract_plain_text(text, main_content=False, preserve_formatting=True)
    return extracted


def _warc_options(options: ReaderOptions) -> ReaderOptions:
    """WARC text and provenance come from the record, not from column names."""
    return dataclasses.replace(options, text_column="text", id_column=None, url_column=None,
                               date_column=None, license_column=None, language_column=None,
                               label_column=None)


def warc_mapper(unit: WorkUnit, options: ReaderOptions) -> RecordMapper:
    """The mapper of a WARC/WET shard: text and provenance come from the record."""
    return RecordMapper(_warc_options(options), unit.shard)


#: Why each WARC record type that is not a document is skipped (`NOT_DOCUMENT_OTHER` else).
NOT_DOCUMENT = {
    "request": "the crawler's HTTP request, not a page",
    "metadata": "crawl metadata (fetch details, outlinks), not a page",
    "warcinfo": "the description of the crawl that wrote the file, not a page",
    "revisit": "a revisit: the page is unchanged and its content is in an earlier record",
}
NOT_DOCUMENT_OTHER = "a WARC record type that holds no page"


def warc_records(unit: WorkUnit, options: ReaderOptions) -> Iterator[Record | RecordIssue]:
    """Records of the HTML responses (WARC) or conversion records (WET) of a whole shard, then
    one skipped issue per type of the records that are not documents, with their number.

    A malformed record (a garbage header, a broken Content-Length) fails with its offset and
    reading goes on at the next line that starts a `WARC/` header, so the good records after
    it are kept.
    """
    others: Counter[str] = Counter()
    yield from _warc_records(unit, options, others)
    for kind, n in sorted(others.items()):
        yield RecordIssue(unit.shard, f"{n} WARC {kind} record(s)", "skipped",
                          f"not a document: WARC {kind} record "
                          f"({NOT_DOCUMENT.get(kind, NOT_DOCUMENT_OTHER)})", count=n)


def _warc_records(unit: WorkUnit, options: ReaderOptions,
                  others: Counter[str]) -> Iterator[Record | RecordIssue]:
    """`warc_records` without the closing counts: records that are not documents are counted
    in `others` by their WARC-Type, once known to be whole (not a cut-off last record)."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    shard = unit.shard
    text_types = (WarcRecordType.response, WarcRecordType.resource, WarcRecordType.conversion)
    max_html = min(MAX_HTML_BYTES, max(options.max_chars * 8, 1 << 16))
    with open_binary(unit.shard) as raw:
        stream, compression = decompressed(raw)
        counted = _CountingStream(stream)
        source: Any = counted
        base = 0  # where `source` starts in the (uncompressed) stream
        last: tuple[int, str] | None = None  # stream_pos and id of the last record
        last_block_end = 0  # end of the last whole record read (where a search may start)
        # Each record's result waits for the next record: only then is it known not to be a
        # last record whose header was cut off (FastWARC yields those as empty records).
        pending: Record | RecordIssue | None = None
        pending_other: str | None = None  # the same wait for a record that is no document
        while True:
            read_since_restart = False
            try:
                for record in ArchiveIterator(source, parse_http=False, stream_detect=False):
                    read_since_restart = True
                    if pending is not None:
                        yield pending
                        pending = None
                    if pending_other is not None:
                        others[pending_other] += 1
                        pending_other = None
                    where = _record_id(record)
                    pos = record.stream_pos  # from the stream's tell(): whole-stream offsets
                    last = (pos, where)
                    wanted = any(record.record_type == t for t in text_types)
                    block, got = _read_block(record, max_html if wanted else 0)
                    if got < record.content_length:
                        yield _truncated(unit, where, pos, record.content_length, got,
                                         counted.error)
                        return
                    if wanted:
                        pending = _record_result(shard, record, block, got, where, pos)
                    else:
                        pending_other = (record.headers.get("WARC-Type") or "untyped").lower()
                    last_block_end = pos + 1
                break
            except OSError as exc:  # FastWARC: malformed record header
                if pending is not None:
                    yield pending
                    pending = None
                if pending_other is not None:
                    others[pending_other] += 1
                    pending_other = None
                new_stretch = read_since_restart or base == 0
                resumed = _resynchronise(counted, max(last_block_end, base + 1))
                if new_stretch:  # one issue per bad stretch, not per failed restart in it
                    yield _malformed(unit, max(last_block_end - 1, base), exc, compression,
                                     resumed[0] if resumed else None)
                if resumed is None:
                    if counted.error is not None:
                        break
                    return
                base, source = resumed
        problem = _last_record_problem(counted, last[0]) if last is not None else None
        if pending is not None and problem is None:
            yield pending
        if pending_other is not None and problem is None:
            others[pending_other] += 1
        if counted.error is not None:
            yield RecordIssue(unit.shard, f"offset {counted.position}", "failed",
                              f"{compression} stream of {unit.shard} broke at byte "
                              f"{counted.position} of the uncompressed data: {counted.error}; the "
                              "file is truncated or corrupt, re-download it")
            return
        if problem is not None and last is not None:
            yield RecordIssue(unit.shard, last[1], "failed",
                              f"WARC record {last[1]} at offset {last[0]} of {unit.shard} "
                              f"{problem}; the file is cut short, re-download it")


def _malformed(unit: WorkUnit, at: int, exc: BaseException, compression: str | None,
               resumed_at: int | None) -> RecordIssue:
    then = (f"; reading went on at the next WARC/ header (byte {resumed_at})"
            if resumed_at is not None else "; no WARC/ header follows it")
    return RecordIssue(unit.shard, f"offset {at}", "failed",
                       f"malformed WARC record in {unit.shard}, after the record at byte {at} of "
                       f"the {'uncompressed ' if compression else ''}stream: {exc}{then}; check "
                       "the file with a WARC validator (e.g. warcio check)")


_HEADER_START = re.compile(rb"(?:^|\n)(WARC/\d)")
_SEARCH_CHUNK = 1 << 16


class _Prefixed:
    """`prefix` bytes, then the rest of `stream`: the stream restarted at a found header."""

    def __init__(self, prefix: bytes, stream: _CountingStream) -> None:
        self._prefix = prefix
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if self._prefix:
            if size is None or size < 0 or size >= len(self._prefix):
                data, self._prefix = self._prefix, b""
                return data
            data, self._prefix = self._prefix[:size], self._prefix[size:]
            return data
        return self._stream.read(size)

    def tell(self) -> int:
        """Position in the whole (uncompressed) stream: FastWARC takes record offsets from it,
        so records after a restart keep their true offsets."""
        return self._stream.tell() - len(self._prefix)


def _resynchronise(counted: _CountingStream, start: int) -> tuple[int, _Prefixed] | None:
    """The first line at or after `start` that begins a `WARC/` header, and a stream from it.

    Searches the bytes already read (the stream's tail) and then reads on, in bounded pieces.
    None when the stream ends first.
    """
    tail_start, data = counted.tail()
    offset = max(start, tail_start)
    buf = data[offset - tail_start:]
    while True:
        match = _HEADER_START.search(buf, 0 if offset == start else 1)
        if match is not None:
            at = match.start(1)
            return offset + at, _Prefixed(buf[at:], counted)
        more = counted.read(_SEARCH_CHUNK)
        if not more:
            return None
        keep = buf[-8:]  # a header split across two pieces
        offset += len(buf) - len(keep)
        buf = keep + more


_CONTENT_LENGTH = re.compile(rb"\r?\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)


def _last_record_problem(counted: _CountingStream, pos: int) -> str | None:
    """Why the file's last record is incomplete, or None. FastWARC yields a record whose header
    was cut off as an empty record, so the end of the stream is checked against its header."""
    tail_start, tail = counted.tail()
    if pos < tail_start:
        return None  # a long last record whose block was read in full: its header was whole
    data = tail[pos - tail_start:]
    header_end = data.find(b"\r\n\r\n")
    if header_end < 0:
        return "has an incomplete header"
    match = _CONTENT_LENGTH.search(data, 0, header_end + 2)
    if match is None:
        return "has no Content-Length header"
    expected = header_end + 4 + int(match.group(1))
    if len(data) < expected:
        return f"ends after {len(data)} of {expected + 4} bytes"
    if data[expected:].strip(b"\r\n"):
        return f"is followed by {len(data) - expected} bytes that are not a complete record"
    return None


def _truncated(unit: WorkUnit, where: str, pos: int, length: int, got: int,
               error: BaseException | None) -> RecordIssue:
    cause = f" ({error})" if error is not None else ""
    return RecordIssue(unit.shard, where, "failed",
                       f"WARC record {where} at offset {pos} of {unit.shard} is truncated: {got} "
                       f"of {length} bytes{cause}; the file is cut short or corrupt, re-download it")


def _record_result(shard: str, record: Any, block: bytes, size: int,
                   where: str, pos: int) -> Record | RecordIssue:
    from fastwarc.warc import WarcRecordType

    headers = record.headers
    url = headers.get("WARC-Target-URI") or None
    warc_date = headers.get("WARC-Date")
    crawl_date = parse_date(warc_date)
    defaults: dict[str, Any] = {
        "id": where,
        "url": url,
        "crawl_date": crawl_date,
        # ISO 639-3 in WET files (`eng,spa`): as written; the columnar builder stores it as
        # ISO 639-1 (`en`) like every format's language, keeping the list in meta.language_raw
        "language": headers.get("WARC-Identified-Content-Language") or None,
    }
    meta: dict[str, Any] = {}
    if warc_date and crawl_date is None:  # kept and counted, as a date field's is
        meta[UNPARSED_DATE_KEY] = warc_date[:64]
    warc_type = headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    if record.record_type == WarcRecordType.conversion:
        text, invalid = decode_text(block)
        if invalid:
            meta[INVALID_UTF8_KEY] = True
        return Record({"text": text}, pos, where, meta, defaults)

    if warc_type.startswith("application/http") or (
            record.record_type == WarcRecordType.response and block.startswith(b"HTTP/")):
        try:
            response = parse_http_response(block, MAX_HTML_BYTES)
        except HttpParseError as exc:
            return RecordIssue(shard, where, "failed", f"unreadable HTTP response in WARC record "
                                f"{where} of {shard}: {exc}")
        if response.status is not None and not 200 <= response.status < 300:
            return RecordIssue(shard, where, "skipped", f"HTTP status {response.status}")
        content_type, charset, body = response.content_type, response.charset, response.body
    elif record.record_type == WarcRecordType.response:
        return RecordIssue(shard, where, "skipped", f"not an HTTP response ({warc_type or 'no type'}, "
                            f"{url or 'no URI'})")
    else:  # resource record: the block is the document itself
        content_type, charset, body = warc_type, None, block
    if not content_type and b"<html" in body[:1024].lower():
        content_type = "text/html"
    if content_type not in HTML_TYPES:
        return RecordIssue(shard, where, "skipped", f"not HTML ({content_type or 'no content type'})")
    if size > MAX_HTML_BYTES:
        return RecordIssue(shard, where, "skipped", f"HTML larger than {MAX_HTML_BYTES >> 20} MB")
    found = html_provenance(body)
    if found.license_source:
        defaults["license"] = found.license
        meta["license_source"] = found.license_source
        meta["licenses"] = list(found.licenses_found)
    if found.generator:
        meta["html_generator"] = found.generator
    if found.digital_source_type:
        meta["digital_source_type"] = found.digital_source_type
    try:
        text = _html_to_text(body, charset)
    except Exception as exc:  # resiliparse parse errors: one bad page must not stop the shard
        return RecordIssue(shard, where, "failed", f"cannot extract text from the HTML of {where} in "
                            f"{shard}: {type(exc).__name__}: {exc}")
    return Record({"text": text}, pos, where, meta, defaults)
