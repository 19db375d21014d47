"""Scan settings, and their JSON form as stored in the `runs` catalogue table.

The reader options of a run are stored so that later steps (for example
`auditor.store.sample_texts`, which re-reads shards for real texts) read the shards exactly as
the scan did: same text column, same id column, same cutoff.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from auditor.readers.base import (  # noqa: F401  (re-exported: the JSON form of a run's options)
    ReaderOptions,
    reader_options_from_dict,
    reader_options_to_dict,
)
from auditor.records import PROVENANCE_RULES_VERSION

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


def options_digest(options: ScanOptions) -> str:
    """Short hash of the reader options and the version of the row rules: stored rows depend
    on both (text column, cutoff, source rule...; `PROVENANCE_RULES_VERSION`), so units stored
    under other options or older rules are not reused."""
    settings = {**reader_options_to_dict(options.reader), "rules": PROVENANCE_RULES_VERSION}
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:12]
