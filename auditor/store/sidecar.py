"""Side-car Parquet files: one per work unit, the per-document rows of the store.

A side-car holds provenance (`PROVENANCE_SCHEMA`) and one score column per detector, never the
text beyond a snippet, so the store stays small and a new detector adds a column instead of
rewriting the corpus (dolma's "attributes" idea). Files are written under a temporary name and
renamed, so a reader or a crash never sees half a file; the unit it came from and the detector
versions travel in the Parquet key-value metadata, which lets the catalogue be checked against
the files after a crash.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from auditor.records import (
    PROVENANCE_SCHEMA,
    SNIPPET_CHARS,
    Document,
    reason_column,
    score_column,
)

UNIT_KEY = b"auditor.unit"
DETECTORS_KEY = b"auditor.detectors"
#: Rows per Parquet row group: large, so DuckDB scans side-cars with few seeks.
ROW_GROUP_ROWS = 1 << 20
#: Columns with few distinct values, dictionary-encoded. The others (ids, URLs, snippets,
#: metadata, scores) are nearly unique per row, where building a dictionary only to give it
#: up costs a large share of the write.
DICTIONARY_COLUMNS = ("source", "shard", "domain", "crawl_month", "license", "language", "role")


def provenance_batch(docs: Sequence[Document], cutoff: dt.date) -> pa.RecordBatch:
    """Provenance columns for a batch of documents, in `PROVENANCE_SCHEMA` order.

    The per-record path (formats read record by record: JSONL, WARC). It works column by
    column (one list pass per field, dates and months in Arrow compute) and never copies the
    texts into Arrow: only lengths, word counts and snippets are taken from them. Parquet and
    Arrow shards take the columnar path (`auditor.readers.columnar`), which ends in the same
    `assemble_provenance`, so both store the same rows.
    """
    texts = [d.text for d in docs]
    # Through exact integer microseconds: naive datetimes are UTC by our convention, not
    # whatever a converter assumes.
    dates = pa.array([utc_micros(d.crawl_date) for d in docs], pa.int64()).cast(
        pa.timestamp("us", tz="UTC"))
    return assemble_provenance(
        ids=pa.array([d.id for d in docs], pa.string()),
        sources=pa.array([d.source for d in docs], pa.string()),
        shards=pa.array([d.shard for d in docs], pa.string()),
        offsets=pa.array([d.offset for d in docs], pa.int64()),
        urls=pa.array([d.url for d in docs], pa.string()),
        domains=pa.array([d.domain for d in docs], pa.string()),
        dates=dates,
        licenses=pa.array([d.license for d in docs], pa.string()),
        languages=pa.array([d.language for d in docs], pa.string()),
        roles=pa.array([d.role for d in docs], pa.string()),
        synthetic=pa.array([d.synthetic_by_construction for d in docs], pa.bool_()),
        n_chars=pa.array([len(t) for t in texts], pa.int64()),
        word_counts=word_counts(texts),
        snippets=pa.array([t[:SNIPPET_CHARS] for t in texts], pa.string()),
        metas=pa.array([json.dumps(d.meta, default=str, ensure_ascii=False) if d.meta else None
                        for d in docs], pa.string()),
        cutoff=cutoff,
    )


def crawl_months(dates: pa.Array) -> pa.Array:
    """`YYYY-MM` of each UTC timestamp (`strftime("%Y-%m")`), formatted once per distinct month:
    `pc.strftime` per row was the slowest step of building a batch."""
    if dates.null_count == len(dates):
        return pa.nulls(len(dates), pa.string())
    keys = pc.add(pc.multiply(pc.year(dates), 100), pc.month(dates))
    distinct = pc.unique(keys)
    labels = pa.array([None if k is None else f"{k // 100:04d}-{k % 100:02d}"
                       for k in distinct.to_pylist()], pa.string())
    return labels.take(pc.index_in(keys, value_set=distinct))


def assemble_provenance(*, ids: pa.Array, sources: pa.Array, shards: pa.Array,
                        offsets: pa.Array, urls: pa.Array, domains: pa.Array, dates: pa.Array,
                        licenses: pa.Array, languages: pa.Array, roles: pa.Array,
                        synthetic: pa.Array, n_chars: pa.Array, word_counts: np.ndarray,
                        snippets: pa.Array, metas: pa.Array, cutoff: dt.date) -> pa.RecordBatch:
    """The one place the derived columns (crawl month, pre-cutoff flag, token estimate) are
    computed, so the per-record and the columnar paths cannot drift apart. `dates` are
    `timestamp[us, UTC]`; `word_counts` are `len(text.split())` per text."""
    cutoff_ts = pa.scalar(dt.datetime(cutoff.year, cutoff.month, cutoff.day,
                                      tzinfo=dt.timezone.utc), pa.timestamp("us", tz="UTC"))
    columns = [
        ids, sources, shards, offsets, urls, domains, dates,
        crawl_months(dates),
        licenses, languages, roles,
        pc.less(dates, cutoff_ts),
        synthetic, n_chars,
        pa.array(np.round(np.asarray(word_counts, dtype=np.float64) * 1.3).astype(np.int64)),
        snippets, metas,
    ]
    return pa.RecordBatch.from_arrays(columns, schema=PROVENANCE_SCHEMA)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_MICROSECOND = dt.timedelta(microseconds=1)


def utc_micros(x: dt.datetime | None) -> int | None:
    """Microseconds since the epoch, exact; naive datetimes are taken as UTC."""
    if x is None:
        return None
    if x.tzinfo is None:
        x = x.replace(tzinfo=dt.timezone.utc)
    return (x - _EPOCH) // _MICROSECOND


def word_counts(texts: Sequence[str]) -> np.ndarray:
    """`len(text.split())` for each text (float64), as in `records.estimate_tokens`.

    ASCII texts are counted together with numpy (a word starts where a non-space follows a
    space or the start of a text), which is several times faster than splitting each text into
    Python strings; other texts fall back to `str.split`, whose Unicode whitespace rules are
    the definition.
    """
    n = len(texts)
    counts = np.zeros(n, dtype=np.float64)
    ascii_idx = [i for i, t in enumerate(texts) if t.isascii()]
    ascii_set = set(ascii_idx)
    for i, t in enumerate(texts):
        if i not in ascii_set:
            counts[i] = len(t.split())
    if not ascii_idx:
        return counts
    chunk = [texts[i] for i in ascii_idx]
    buf = np.frombuffer("".join(chunk).encode("ascii"), dtype=np.uint8)
    if buf.size == 0:
        return counts
    lengths = np.fromiter((len(t) for t in chunk), dtype=np.int64, count=len(chunk))
    starts = np.zeros(len(chunk), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    space = buf == 32  # comparisons, not a table lookup: several times faster in numpy
    space |= (buf - np.uint8(9)) <= 4  # \t \n \v \f \r (uint8 wraps below 9)
    space |= (buf - np.uint8(28)) <= 3  # \x1c-\x1f
    prev_space = np.empty_like(space)
    prev_space[0] = True
    prev_space[1:] = space[:-1]
    nonempty = lengths > 0
    prev_space[starts[nonempty]] = True
    word_start = ~space & prev_space
    per_text = np.zeros(len(chunk), dtype=np.float64)
    if nonempty.any():
        per_text[nonempty] = np.add.reduceat(word_start, starts[nonempty], dtype=np.int64)
    counts[ascii_idx] = per_text
    return counts


#: Lead bytes of the UTF-8 encodings of the non-ASCII characters `str.split` treats as
#: whitespace (U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000).
_UNICODE_SPACE_LEADS = (0xC2, 0xE1, 0xE2, 0xE3)


class _Scratch(threading.local):
    """Reused work buffers: fresh multi-megabyte arrays per batch cost more in page faults
    than the comparisons written into them."""

    def __init__(self) -> None:
        self.buffers: dict[str, np.ndarray] = {}

    def get(self, name: str, size: int) -> np.ndarray:
        buf = self.buffers.get(name)
        if buf is None or buf.size < size:
            buf = self.buffers[name] = np.empty(max(size, 1 << 20), dtype=bool)
        return buf[:size]


_SCRATCH = _Scratch()


def text_bytes(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(UTF-8 bytes, offsets from 0) of a string array, viewed in place, not copied."""
    n = len(texts)
    width = np.int64 if pa.types.is_large_string(texts.type) else np.int32
    _, off_buf, data_buf = texts.buffers()
    offsets = np.frombuffer(off_buf, dtype=width, count=n + 1,
                            offset=texts.offset * np.dtype(width).itemsize).astype(np.int64)
    base = int(offsets[0])
    offsets -= base
    total = int(offsets[-1])
    if total == 0 or data_buf is None:
        return np.zeros(0, dtype=np.uint8), offsets
    return np.frombuffer(data_buf, dtype=np.uint8, count=total, offset=base), offsets


def arrow_word_counts(texts: pa.Array, ascii_only: bool | None = None) -> np.ndarray:
    """`len(text.split())` for each text of a null-free Arrow string array (float64), without
    making Python strings: `word_counts` for the columnar path.

    Works on the UTF-8 bytes in place: a word starts at a non-space byte that follows a space
    byte or starts its text. Multi-byte characters are never ASCII spaces, so this is exact
    except for texts holding one of the few non-ASCII Unicode spaces; those texts (found by
    their UTF-8 lead bytes) are counted with `str.split`, the definition. `ascii_only` may say
    what the caller already knows about the bytes.
    """
    n = len(texts)
    counts = np.zeros(n, dtype=np.float64)
    if n == 0:
        return counts
    if texts.null_count:
        raise ValueError("arrow_word_counts needs a text array without nulls")
    buf, offsets = text_bytes(texts)
    total = buf.size
    if total == 0:
        return counts
    space = np.less_equal(buf, 32, out=_SCRATCH.get("space", total))
    if int(buf.min()) < 32:  # control bytes: only \t-\r and \x1c-\x1f are spaces
        at = np.flatnonzero(np.less(buf, 32, out=_SCRATCH.get("tmp", total)))
        vals = buf[at]
        space[at[(vals < 9) | ((vals > 13) & (vals < 28))]] = False
    padded = _SCRATCH.get("start", total + 16)  # zero tail: whole 8-byte words to the end
    padded[total:] = False
    word_start = padded[:total]
    word_start[0] = not space[0]
    np.greater(space[:-1], space[1:], out=word_start[1:])
    starts = offsets[:-1]
    first = starts[starts < offsets[1:]]
    word_start[first] = ~space[first]  # a text's first byte does not follow the previous text
    counts[:] = _count_between(padded, offsets)
    if ascii_only is None:
        ascii_only = int(buf.max()) < 0x80
    if not ascii_only:
        for i in _rows_with_unicode_space(buf, offsets):
            counts[i] = len(texts[int(i)].as_py().split())
    return counts


#: _PREFIX[j] keeps the first j bytes of a little-endian 64-bit word.
_PREFIX = np.array([(1 << (8 * j)) - 1 for j in range(8)], dtype=np.uint64)


def _count_between(padded: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Number of True flags of `padded` in each `[offsets[i], offsets[i+1])`, without a
    per-text loop. `padded` holds the flags and then at least 8 False bytes.

    The 0/1 flag bytes are read eight at a time as 64-bit words, whose popcount is the number
    of flags in them; a text's count is the popcounts of the words it spans, less the flags
    before its start in its first word, plus those before its end in its last word.
    """
    n_words = int(offsets[-1]) // 8 + 1
    words = padded[:8 * n_words].view(np.uint64)
    per_word = np.bitwise_count(words)
    at = (offsets >> 3).astype(np.intp)
    head = np.bitwise_count(words[at] & _PREFIX[offsets & 7]).astype(np.int64)
    spans = np.add.reduceat(per_word, at, dtype=np.int64)[:-1]
    spans[at[:-1] >= at[1:]] = 0  # reduceat gives the start word itself for empty spans
    return (spans - head[:-1] + head[1:]).astype(np.float64)


def _rows_with_unicode_space(buf: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Rows whose UTF-8 bytes hold a non-ASCII character that `str.split` splits on."""
    high = np.flatnonzero(np.greater_equal(buf, 0xC2, out=_SCRATCH.get("tmp", buf.size)))
    if not high.size:
        return high
    lead = buf[high]
    cand = high[np.isin(lead, _UNICODE_SPACE_LEADS)]
    if not cand.size:
        return cand
    padded = np.concatenate([buf[cand[0]:], np.zeros(2, np.uint8)])
    rel = cand - cand[0]
    b0, b1, b2 = padded[rel], padded[rel + 1], padded[rel + 2]
    hit = (
        ((b0 == 0xC2) & ((b1 == 0x85) | (b1 == 0xA0)))
        | ((b0 == 0xE1) & (b1 == 0x9A) & (b2 == 0x80))
        | ((b0 == 0xE2) & (b1 == 0x80) & ((b2 <= 0x8A) | (b2 == 0xA8) | (b2 == 0xA9)
                                          | (b2 == 0xAF)))
        | ((b0 == 0xE2) & (b1 == 0x81) & (b2 == 0x9F))
        | ((b0 == 0xE3) & (b1 == 0x80) & (b2 == 0x80))
    )
    return np.unique(np.searchsorted(offsets, cand[hit], side="right") - 1)


def detector_fields(name: str, gives_reasons: bool) -> list[pa.Field]:
    """The side-car columns a detector owns."""
    fields = [pa.field(score_column(name), pa.float64())]
    if gives_reasons:
        fields.append(pa.field(reason_column(name), pa.string()))
    return fields


def detector_arrays(scores: np.ndarray, reasons: Sequence[str | None] | None) -> list[pa.Array]:
    """Arrow columns for one detector's output over a batch, matching `detector_fields`."""
    # NaN (unscored, e.g. a language the detector does not declare) is stored as null
    arrays = [pa.array(np.asarray(scores, dtype=np.float64), pa.float64(), from_pandas=True)]
    if reasons is not None:
        arrays.append(pa.array(list(reasons), pa.string()))
    return arrays


@dataclass(frozen=True)
class SidecarInfo:
    """What a side-car says about itself (from its footer; the rows are not read)."""

    path: str
    unit: dict
    detectors: dict[str, str]
    n_rows: int
    columns: tuple[str, ...]


def write_sidecar(path: str, table: pa.Table, unit: Mapping, detectors: Mapping[str, str]) -> None:
    """Write `table` to `path` atomically, with the unit and detector versions in its metadata.

    The file appears under its final name only once complete and flushed, so the catalogue
    (which is written after this returns) never points at a partial file, and a crash leaves at
    most a `*.tmp` file that the next scan removes.
    """
    metadata = dict(table.schema.metadata or {})
    metadata[UNIT_KEY] = json.dumps(dict(unit), sort_keys=True).encode()
    metadata[DETECTORS_KEY] = json.dumps(dict(detectors), sort_keys=True).encode()
    table = table.replace_schema_metadata(metadata)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        pq.write_table(table, tmp, row_group_size=ROW_GROUP_ROWS, compression="zstd",
                       use_dictionary=[c for c in DICTIONARY_COLUMNS if c in table.column_names])
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_sidecar_info(path: str) -> SidecarInfo:
    """Unit description and detector versions from a side-car footer."""
    pf = pq.ParquetFile(path)
    meta = pf.schema_arrow.metadata or {}
    unit = json.loads(meta.get(UNIT_KEY, b"{}"))
    detectors = json.loads(meta.get(DETECTORS_KEY, b"{}"))
    return SidecarInfo(path=path, unit=unit, detectors=detectors, n_rows=pf.metadata.num_rows,
                       columns=tuple(pf.schema_arrow.names))


def read_sidecar(path: str, columns: Sequence[str] | None = None) -> pa.Table:
    """The rows of one side-car (all columns unless given)."""
    return pq.read_table(path, columns=list(columns) if columns is not None else None)


def replace_detector_columns(path: str, new_columns: Mapping[str, pa.Array],
                             versions: Mapping[str, str]) -> None:
    """Set the given columns of a side-car (adding or replacing), keep every other column, and
    record `versions` (merged into the detector versions) -- atomically, like `write_sidecar`.

    Used when a detector is new or upgraded: only its columns are recomputed, never the others.
    """
    table = pq.read_table(path)
    info_meta = table.schema.metadata or {}
    unit = json.loads(info_meta.get(UNIT_KEY, b"{}"))
    detectors = json.loads(info_meta.get(DETECTORS_KEY, b"{}"))
    for name, array in new_columns.items():
        if len(array) != table.num_rows:
            raise ValueError(f"side-car {path}: new column {name!r} has {len(array)} rows, "
                             f"the side-car has {table.num_rows}; rescan the unit with --force")
        idx = table.schema.get_field_index(name)
        if idx >= 0:
            table = table.set_column(idx, name, array)
        else:
            table = table.append_column(name, array)
    detectors.update(versions)
    write_sidecar(path, table, unit, detectors)
