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
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
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


#: Version of the rules that turn a record into its provenance row (the token estimate, the
#: language codes, ...). It is part of every stored unit's fingerprint (`scan.options
#: .options_digest`), so a unit stored under older rules is read again, not reused beside units
#: stored under the new ones. 2: characters of unspaced scripts in the token estimate.
PROVENANCE_RULES_VERSION = 2

#: Tokens per whitespace-separated word: the usual BPE ratio for English prose.
TOKENS_PER_WORD = 1.3
#: Tokens per character of the scripts written without spaces between words (Han, kana, Thai,
#: Lao, Khmer, Myanmar), where a whitespace "word" is a whole clause or paragraph: by words
#: alone a Chinese text got 0.6% of the tokens SmolLM2's tokenizer gives it (median over 300
#: labeled texts, reports/token_estimate.md). Tokenizers give such a character 0.7-2 tokens (an
#: English-centred one the most); one is the middle of that range.
TOKENS_PER_UNSPACED_CHAR = 1.0
#: Code point ranges (inclusive) of those scripts: the one definition, for Python strings here
#: and for UTF-8 bytes (`auditor.readers.textstats.arrow_unspaced_chars`).
UNSPACED_RANGES: tuple[tuple[int, int], ...] = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3400, 0x4DBF),  # CJK Extension A
    (0x4E00, 0x9FFF),  # CJK Unified Ideographs
    (0xF900, 0xFAFF),  # CJK Compatibility Ideographs
    (0x20000, 0x3134F),  # CJK Extensions B-G
)
_UNSPACED = re.compile("[" + "".join(f"{chr(a)}-{chr(b)}" for a, b in UNSPACED_RANGES) + "]")


def unspaced_chars(text: str) -> int:
    """Characters of `text` in `UNSPACED_RANGES`."""
    return 0 if text.isascii() else len(_UNSPACED.findall(text))


def token_estimates(word_counts, unspaced_counts) -> np.ndarray:
    """Token estimates (int64) from each text's whitespace words and unspaced-script characters:
    the one formula, for every path that stores `n_tokens`."""
    words = np.asarray(word_counts, dtype=np.float64)
    return np.round(words * TOKENS_PER_WORD + np.asarray(unspaced_counts, dtype=np.float64)
                    * TOKENS_PER_UNSPACED_CHAR).astype(np.int64)


def estimate_tokens(text: str) -> int:
    """Cheap token count of one text: whitespace words * `TOKENS_PER_WORD` plus unspaced-script
    characters * `TOKENS_PER_UNSPACED_CHAR` (`token_estimates`).

    Used to weight estimates by tokens without running a tokenizer over billions of documents.
    """
    # `token_estimates`' arithmetic on Python floats (round() also rounds half to even)
    return int(round(len(text.split()) * TOKENS_PER_WORD
                     + unspaced_chars(text) * TOKENS_PER_UNSPACED_CHAR))


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
