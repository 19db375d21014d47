"""JSON Lines shards (plain, gzip, zstd), read line by line.

Uncompressed files can be split into byte ranges: a unit owns the lines that START inside
`[start, stop)`, so a line crossing a boundary is read once, by the unit it starts in. Compressed
files are read whole through a streaming decompressor; offsets are then positions in the
uncompressed stream.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator

from auditor.readers.base import ReaderOptions, WorkUnit
from auditor.readers.columnar import INVALID_UTF8_KEY, Record
from auditor.readers.errors import ReaderError
from auditor.readers.files import decompressed, open_binary
from auditor.readers.mapping import decode_text
from auditor.records import RecordIssue

_STREAM_ERRORS: tuple[type[BaseException], ...] = (EOFError, OSError, zlib.error)


def _stream_errors() -> tuple[type[BaseException], ...]:
    try:
        import zstandard

        return (*_STREAM_ERRORS, zstandard.ZstdError)
    except ImportError:  # pragma: no cover - zstandard is a core dependency
        return _STREAM_ERRORS


def _seek_to_line(raw, start: int) -> int:
    """Position `raw` at the first line starting at or after byte `start`; return that offset."""
    if start <= 0:
        return 0
    raw.seek(start - 1)
    # the rest of the line holding byte start-1 (just "\n" if it ended), read in bounded pieces
    return start - 1 + _skip_rest_of_line(raw, 1 << 20)


def jsonl_records(unit: WorkUnit, options: ReaderOptions) -> Iterator[Record | RecordIssue]:
    """Records of the lines that start in `[unit.start, unit.stop)` (stop -1: to the end), and
    the issues of lines that are not records."""
    shard = unit.shard
    raw = open_binary(unit.shard)
    errors = _stream_errors()
    with raw:
        try:
            stream, compression = decompressed(raw)
        except errors as exc:
            yield RecordIssue(unit.shard, "offset 0", "failed",
                              f"cannot open compressed stream of {unit.shard}: {exc}")
            return
        if compression is not None and (unit.start > 0 or unit.stop >= 0):
            raise ReaderError(f"{unit.shard}: a {compression} file cannot be read by byte "
                              "range; plan it as one unit")
        pos = _seek_to_line(stream, unit.start) if compression is None else 0
        line_no = 1 if unit.start <= 0 else None  # unknown when starting mid-file
        stop = unit.stop if unit.stop >= 0 else None
        cap = max(int(options.max_record_bytes), 1)
        while stop is None or pos < stop:
            where = f"line {line_no}" if line_no else f"offset {pos}"
            try:
                # One byte past the cap tells an over-long line from one of exactly `cap`.
                line = stream.readline(cap + 1)
                offset = pos
                pos += len(line)
                too_long = len(line) > cap and not line.endswith(b"\n")
                if too_long:
                    line = b""  # drop it now: memory stays bounded by the cap
                    pos += _skip_rest_of_line(stream, cap)
            except errors as exc:
                yield RecordIssue(
                    unit.shard, where, "failed",
                    f"{compression or 'file'} stream of {unit.shard} broke at {where} (byte "
                    f"{pos} of the uncompressed data): {exc}; the file is truncated or corrupt, "
                    "re-download or re-compress it")
                return
            if too_long:
                yield RecordIssue(
                    shard, where, "failed",
                    f"{where} of {unit.shard} is longer than {cap} bytes (the record size cap; "
                    f"it ends at byte {pos}); skipped to the next line. Raise "
                    "--max-record-size if such records are real")
                if line_no:
                    line_no += 1
                continue
            if not line:
                break
            if line_no:
                line_no += 1
            if not line.strip():
                continue
            yield _record_of_line(shard, line, offset, where)


def _skip_rest_of_line(stream, chunk: int) -> int:
    """Read past the end of the current line in pieces of `chunk` bytes; return bytes read."""
    skipped = 0
    while True:
        piece = stream.readline(chunk)
        skipped += len(piece)
        if not piece or piece.endswith(b"\n"):
            return skipped


def _record_of_line(shard: str, line: bytes, offset: int, where: str) -> Record | RecordIssue:
    text, invalid = decode_text(line)
    if offset == 0 and text.startswith("\ufeff"):  # a byte-order mark some editors write
        text = text[1:]
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        return RecordIssue(shard, where, "failed", f"invalid JSON at {where} of {shard}: {exc}")
    except RecursionError:
        return RecordIssue(shard, where, "failed", f"{where} of {shard} nests JSON too deeply "
                           "to parse (thousands of levels); skipped")
    if not isinstance(record, dict):
        return RecordIssue(shard, where, "failed", f"{where} of {shard} is a JSON "
                           f"{type(record).__name__}, not an object")
    return Record(record, offset, where, {INVALID_UTF8_KEY: True} if invalid else None)
