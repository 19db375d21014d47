"""A work unit read as chunks of provenance rows: the one reading loop of scanning, rescoring
and `read_unit`, for every format.

It only moves batches: Parquet record batches (about `CHUNK_BYTES` each, decoded and prepared
one ahead in a background thread), Arrow record batches (decoded ahead, gathered to
`CHUNK_ROWS` rows or `CHUNK_BYTES`), and records of the formats read record by record
(gathered `RECORD_BATCH` at a time), to `auditor.readers.columnar.BatchBuilder`, which holds
every rule. Format modules are imported on first use.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator

import pyarrow as pa

from auditor.readers.base import ReaderOptions, WorkUnit
from auditor.readers.columnar import BatchBuilder, ColumnarChunk, Prepared, Record
from auditor.readers.mapping import RecordMapper, get_field
from auditor.records import RecordIssue

#: Reader batches are built together up to this many rows or bytes.
CHUNK_ROWS = 16384
CHUNK_BYTES = 32 << 20
#: Records (JSON lines, WARC records, `hf:` rows) gathered into one batch.
RECORD_BATCH = 2048
#: Reader batches decoded ahead, in a background thread, while the current one is built.
READ_AHEAD = 2


def read_unit_chunks(unit: WorkUnit,
                     options: ReaderOptions) -> Iterator[ColumnarChunk | RecordIssue]:
    """Chunks (and unit-ending issues) of any unit, in reader order: the one reading path of
    scanning, rescoring and `read_unit`. Raises `ReaderError` only when the shard cannot be
    opened at all (an unknown format, `hf:` without `datasets`)."""
    fmt = unit.format
    if fmt == "parquet":
        from auditor.readers.parquet import parquet_batches

        builder = BatchBuilder(RecordMapper(options, unit.shard))
        source = parquet_batches(unit, options, builder.mapper, batch_bytes=CHUNK_BYTES)
        # Parquet batches are large enough to build one by one; the read-ahead thread also
        # prepares each (`BatchBuilder.prepare`) while this one builds the batch before
        return _prepared_chunks(read_ahead(_prepared(source, builder)), builder)
    if fmt in ("arrow", "hf") and not unit.shard.startswith("hf:"):
        from auditor.readers.hf import arrow_batches, arrow_mapper

        # Arrow files' batches are whatever the writer chose (a saved dataset's are ~1000
        # rows), so those are gathered first.
        return _chunks(read_ahead(arrow_batches(unit, options)),
                       BatchBuilder(arrow_mapper(unit, options)))
    if fmt == "hf":
        from auditor.readers.hf import load_dataset_records

        mapper, records = load_dataset_records(unit, options)
    elif fmt == "jsonl":
        from auditor.readers.jsonl import jsonl_records

        mapper, records = RecordMapper(options, unit.shard), jsonl_records(unit, options)
    elif fmt in ("warc", "wet"):
        from auditor.readers.warc import warc_mapper, warc_records

        mapper, records = warc_mapper(unit, options), warc_records(unit, options)
    else:
        from auditor.readers.discover import FORMATS
        from auditor.readers.errors import ReaderError

        raise ReaderError(f"{unit.shard}: unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    return record_chunks(records, BatchBuilder(mapper))


def record_chunks(records: Iterable[Record | RecordIssue], builder: BatchBuilder,
                  size: int = RECORD_BATCH) -> Iterator[ColumnarChunk]:
    """Chunks of up to `size` records (or `CHUNK_BYTES` of text); the issues a format reports
    between records travel in the chunk at their place."""
    pending: list[Record] = []
    issues: list[tuple[int, RecordIssue]] = []
    text_field = builder.options.text_column
    held = 0
    for item in records:
        if isinstance(item, RecordIssue):
            issues.append((len(pending), item))
            continue
        pending.append(item)
        text = get_field(item.fields, text_field)
        held += len(text) if isinstance(text, (str, bytes, bytearray)) else 0
        if len(pending) >= size or held >= CHUNK_BYTES:
            yield from builder.build_records(pending, issues)
            pending, issues, held = [], [], 0
    if pending or issues:
        yield from builder.build_records(pending, issues)


_DONE = object()


class ReadAhead:
    """`source`'s items, produced by a background thread up to `depth` items ahead; the
    thread starts when this is made, not when it is first iterated, so a unit's reading can
    begin before its turn (`auditor.scan.local_executor` starts the next unit's while the
    current one's side-car is finished and catalogued).

    Decompressing and decoding the next batch (pyarrow, which releases the GIL) then overlaps
    building the current one (pyarrow compute and numpy, which release it too), so a scan
    needs about the time of the slower of the two instead of their sum. Memory grows by at most
    `depth` batches. An exception in the source is raised here, in the consumer. `close()`
    (also on exhaustion, and when the last reference goes: a reader made ahead and never
    used) stops the thread at its next item and closes the source.
    """

    def __init__(self, source: Iterator, depth: int = READ_AHEAD) -> None:
        self._items: queue.Queue = queue.Queue(maxsize=max(depth, 1))
        self._stop = threading.Event()
        self._source = source
        # the thread holds the queue, the event and the source, never `self`, so dropping the
        # last reference to an unused reader closes it (`__del__`)
        self._thread = threading.Thread(target=_produce, args=(source, self._items, self._stop),
                                        name="auditor-read-ahead", daemon=True)
        self._thread.start()
        self._done = False

    def __iter__(self) -> ReadAhead:
        return self

    def __next__(self):
        if self._done:
            raise StopIteration
        item, error = self._items.get()
        if item is _DONE:
            self.close()
            if error is not None:
                raise error
            raise StopIteration
        return item

    def close(self) -> None:
        if self._done:
            return
        self._done = True
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
        close = getattr(self._source, "close", None)
        if close is not None:
            close()

    def __del__(self) -> None:
        if getattr(self, "_thread", None) is not None:  # not when __init__ failed
            self.close()


def _produce(source: Iterator, items: queue.Queue, stop: threading.Event) -> None:
    """The read-ahead thread: `source`'s items into `items` until done or told to stop."""

    def offer(entry: tuple) -> bool:
        while not stop.is_set():
            try:
                items.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    try:
        for item in source:
            if not offer((item, None)):
                return
        offer((_DONE, None))
    except BaseException as exc:  # handed to the consumer, which raises it
        offer((_DONE, exc))


def read_ahead(source: Iterator, depth: int = READ_AHEAD) -> Iterator:
    """`source` read `depth` items ahead by a background thread (`ReadAhead`), or as it is
    when `depth` <= 0."""
    return ReadAhead(source, depth) if depth > 0 else iter(source)


def _prepared(source: Iterator, builder: BatchBuilder) -> Iterator[Prepared | RecordIssue]:
    """`(batch, first row)` items prepared for building, issues as they are."""
    for item in source:
        yield item if isinstance(item, RecordIssue) else builder.prepare(*item)


def _prepared_chunks(source: Iterator, builder: BatchBuilder,
                     ) -> Iterator[ColumnarChunk | RecordIssue]:
    """Each prepared batch built; a unit-ending issue ends the unit."""
    for item in source:
        if isinstance(item, RecordIssue):
            yield item
            return
        yield from builder.build_prepared(item)


def _chunks(source: Iterator, builder: BatchBuilder) -> Iterator[ColumnarChunk | RecordIssue]:
    """Build consecutive reader batches together, up to `CHUNK_ROWS` rows or `CHUNK_BYTES`:
    per-call overhead then stays small beside the work, and the rows stored are the same as
    batch by batch (a unit-ending issue first flushes what was read before it)."""
    pending: list[pa.RecordBatch] = []
    first = rows = size = 0

    def flush() -> Iterator[ColumnarChunk]:
        batch = pending[0] if len(pending) == 1 else pa.concat_batches(pending)
        pending.clear()
        return builder.build(batch, first)

    for item in source:
        if isinstance(item, RecordIssue):
            if pending:
                yield from flush()
            yield item
            return
        batch, row = item
        if pending and batch.schema != pending[0].schema:
            yield from flush()
        if not pending:
            first, rows, size = row, 0, 0
        pending.append(batch)
        rows += batch.num_rows
        size += batch.nbytes
        if rows >= CHUNK_ROWS or size >= CHUNK_BYTES:
            yield from flush()
    if pending:
        yield from flush()


__all__ = ["CHUNK_BYTES", "CHUNK_ROWS", "READ_AHEAD", "RECORD_BATCH", "ReadAhead", "read_ahead",
           "read_unit_chunks", "record_chunks"]
