"""Readers: inputs -> shards -> work units -> `Document`s and `RecordIssue`s.

    shards = discover(["data/", "s3://bucket/crawl/*.warc.gz"])
    for unit in plan_units(shards, ReaderOptions()):
        for item in read_unit(unit, ReaderOptions()):
            ...  # Document, or RecordIssue for a record that was skipped or failed

The scanner knows nothing about formats: each format module maps its records onto `Document`
(see `auditor.readers.mapping`), and `read_unit` dispatches on `WorkUnit.format`. Format
modules are imported on first use so `import auditor.readers` stays light.
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


def read_unit(unit: WorkUnit, options: ReaderOptions) -> Iterator[ReadResult]:
    """Stream the documents (and issues) of one work unit with memory bounded by one record
    batch. Raises `ReaderError` only when the shard cannot be opened at all."""
    fmt = unit.format
    if fmt == "parquet":
        from auditor.readers.parquet import read_parquet as reader
    elif fmt == "jsonl":
        from auditor.readers.jsonl import read_jsonl as reader
    elif fmt in ("warc", "wet"):
        from auditor.readers.warc import read_warc as reader
    elif fmt in ("arrow", "hf"):
        from auditor.readers.hf import read_hf as reader
    else:
        raise ReaderError(f"{unit.shard}: unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    return reader(unit, options)


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
