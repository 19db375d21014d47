"""The one record type every reader produces, and the one row schema every side-car stores.

Readers map each input format (Parquet, JSONL, WARC/WET, Hugging Face datasets) onto
`Document`; anything a reader cannot turn into a `Document` becomes a `RecordIssue`, so that
every input record ends up stored, skipped with a reason, or failed with a reason.

The side-car schema (`PROVENANCE_SCHEMA` plus one `score_<detector>` column per detector) is the
contract between the scanner (which writes it), the store (which exposes it as the DuckDB view
`documents`), estimation, projection and reports (which only read it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal

import pyarrow as pa

#: ChatGPT's public release. Documents crawled before it are the default human reference.
DEFAULT_CUTOFF = dt.date(2022, 11, 30)

#: Roles a scanned document can play in estimation.
Role = Literal["corpus", "human_reference", "machine_reference"]
ROLES: tuple[str, ...] = ("corpus", "human_reference", "machine_reference")

IssueStatus = Literal["skipped", "failed", "kept"]


def content_id(text: str) -> str:
    """A stable id for documents that carry none: 16 hex digits of SHA-1 over the UTF-8 text.

    Content-derived so that a resumed or repeated scan gives the same id to the same text.
    """
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def estimate_tokens(text: str) -> int:
    """Cheap token count (whitespace words * 1.3, the usual BPE ratio for English).

    Used to weight estimates by tokens without running a tokenizer over billions of documents.
    """
    return int(round(len(text.split()) * 1.3))


@dataclass(frozen=True, slots=True)
class Document:
    """One input document with its provenance. Text is kept in memory only while scoring."""

    id: str
    text: str
    source: str
    shard: str
    offset: int  # byte offset (JSONL, WARC) or row index (Parquet, HF) within the shard
    url: str | None = None
    domain: str | None = None
    crawl_date: dt.datetime | None = None  # UTC
    license: str = "unknown"
    language: str | None = None
    role: str = "corpus"
    synthetic_by_construction: bool = False
    meta: dict[str, Any] = field(default_factory=dict)

    def pre_cutoff(self, cutoff: dt.date = DEFAULT_CUTOFF) -> bool | None:
        """True when crawled before `cutoff`, None when the date is unknown."""
        if self.crawl_date is None:
            return None
        return self.crawl_date.date() < cutoff


@dataclass(frozen=True, slots=True)
class RecordIssue:
    """An input record that was not stored (or, `kept`, stored with a repair such as invalid
    UTF-8 replaced), and why. Recorded in the store's `errors` table."""

    shard: str
    record: str  # offset, row index or WARC-Record-ID: enough for a person to find it
    #: "skipped" (by policy: empty, too long), "failed" (bad input) or "kept" (stored, repaired)
    status: IssueStatus
    reason: str
    #: records this issue stands for: records skipped by kind, not one by one (a WARC file's
    #: request and metadata records), are one issue row with their number
    count: int = 1


#: Columns every side-car row has, before the per-detector score columns.
PROVENANCE_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("shard", pa.string(), nullable=False),
        pa.field("offset", pa.int64(), nullable=False),
        pa.field("url", pa.string()),
        pa.field("domain", pa.string()),
        pa.field("crawl_date", pa.timestamp("us", tz="UTC")),
        pa.field("crawl_month", pa.string()),  # "YYYY-MM", for grouping
        pa.field("license", pa.string(), nullable=False),
        pa.field("language", pa.string()),
        pa.field("role", pa.string(), nullable=False),
        pa.field("pre_cutoff", pa.bool_()),
        pa.field("synthetic_by_construction", pa.bool_(), nullable=False),
        pa.field("n_chars", pa.int64(), nullable=False),
        pa.field("n_tokens", pa.int64(), nullable=False),
        pa.field("snippet", pa.string()),  # first 300 characters, for reports a person checks
        pa.field("meta", pa.string()),  # free metadata as JSON
    ]
)

SNIPPET_CHARS = 300


#: Detectors whose score is not about machine authorship (contamination counts benchmark items
#: found): estimation and the AI-share report leave their columns out.
NON_AUTHORSHIP_DETECTORS = ("contamination", "excess_vocab")


def score_column(detector_name: str) -> str:
    """Name of the side-car column holding a detector's score (higher = more likely machine)."""
    return f"score_{detector_name}"


def reason_column(detector_name: str) -> str:
    """Name of the side-car column holding a detector's reason string (e.g. which marker fired)."""
    return f"reason_{detector_name}"
