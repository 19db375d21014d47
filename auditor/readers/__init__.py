"""Readers: inputs -> shards -> work units -> `Document`s and `RecordIssue`s.

    shards = discover(["data/", "s3://bucket/crawl/*.warc.gz"])
    for unit in plan_units(shards, ReaderOptions()):
        for item in read_unit(unit, ReaderOptions()):
            ...  # Document, or RecordIssue for a record that was skipped or failed

The scanner knows nothing about formats: each format module yields record batches (Parquet,
Arrow) or records (JSONL, WARC/WET, `hf:`), `auditor.readers.stream.read_unit_chunks` gathers
them and `auditor.readers.columnar` turns every batch into provenance rows with one set of
rules; `read_unit` gives those rows as `Document`s. Format modules are imported on first use so
`import auditor.readers` stays light.
"""

from __future__ import annotations

from collections.abc import Iterator

from auditor.readers.base import (
    DEFAULT_SYNTHETIC_SOURCES,
    ReaderOptions,
    ReadResult,
    WorkUnit,
)
from auditor.readers.discover import FORMATS, ShardInfo, discover
from auditor.readers.errors import ReaderError
from auditor.readers.plan import plan_units
from auditor.records import RecordIssue


def read_unit(unit: WorkUnit, options: ReaderOptions) -> Iterator[ReadResult]:
    """Stream the documents (and issues) of one work unit, in reader order, with memory bounded
    by one batch: the rows `auditor.readers.columnar` builds, as `Document`s. Raises
    `ReaderError` only when the shard cannot be opened at all."""
    from auditor.readers.stream import read_unit_chunks

    for item in read_unit_chunks(unit, options):
        if isinstance(item, RecordIssue):
            yield item
        else:
            yield from item.documents()


__all__ = [
    "DEFAULT_SYNTHETIC_SOURCES",
    "FORMATS",
    "ReadResult",
    "ReaderError",
    "ReaderOptions",
    "ShardInfo",
    "WorkUnit",
    "discover",
    "plan_units",
    "read_unit",
]
