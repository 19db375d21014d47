"""Scan settings, and their JSON form as stored in the `runs` catalogue table.

The reader options of a run are stored so that later steps (for example
`auditor.store.sample_texts`, which re-reads shards for real texts) read the shards exactly as
the scan did: same text column, same id column, same cutoff.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field

from auditor.readers.base import ReaderOptions

DEFAULT_BATCH_SIZE = 1024
#: Work-unit size the planner aims for: large enough that per-unit overhead (a side-car file,
#: a catalogue row, a task hand-off) is small, small enough that a big file spreads over workers.
DEFAULT_UNIT_BYTES = 128 << 20


@dataclass(frozen=True)
class ScanOptions:
    """Everything a worker needs besides the unit: how to read, and how many docs per batch."""

    reader: ReaderOptions = field(default_factory=ReaderOptions)
    batch_size: int = DEFAULT_BATCH_SIZE
    unit_bytes: int = DEFAULT_UNIT_BYTES

    def to_dict(self) -> dict:
        return {"reader": reader_options_to_dict(self.reader), "batch_size": self.batch_size,
                "unit_bytes": self.unit_bytes}


def reader_options_to_dict(options: ReaderOptions) -> dict:
    d = dataclasses.asdict(options)
    d["cutoff"] = options.cutoff.isoformat()
    d["synthetic_sources"] = list(options.synthetic_sources)
    return d


def reader_options_from_dict(d: dict) -> ReaderOptions:
    """Inverse of `reader_options_to_dict`; unknown keys (from newer versions) are ignored."""
    known = {f.name for f in dataclasses.fields(ReaderOptions)}
    kwargs = {k: v for k, v in d.items() if k in known}
    if isinstance(kwargs.get("cutoff"), str):
        kwargs["cutoff"] = dt.date.fromisoformat(kwargs["cutoff"])
    if "synthetic_sources" in kwargs:
        kwargs["synthetic_sources"] = tuple(kwargs["synthetic_sources"])
    return ReaderOptions(**kwargs)


def options_digest(options: ScanOptions) -> str:
    """Short hash of the reader options: stored rows depend on them (text column, cutoff,
    source rule...), so units stored under other options are not reused."""
    text = json.dumps(reader_options_to_dict(options.reader), sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:12]
