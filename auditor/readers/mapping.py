"""How one shard's records are read: where each provenance field is looked for, the shard's
source and synthetic policy, and the text rules applied before any row is built.

`RecordMapper` holds a shard's settings (candidate field names, `--source-by`, synthetic
patterns); `auditor.readers.columnar` applies the provenance rules to whole batches with it,
so a JSONL line and a Parquet row with the same fields become the same row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from auditor.readers.base import ReaderOptions
from auditor.readers.errors import ReaderError
from auditor.readers.files import file_stem
from auditor.records import RecordIssue

#: Field names tried, in order, when the option naming the column is not set. Dotted names are
#: nested fields (`metadata.url` is `record["metadata"]["url"]`, or a literal `metadata.url` key).
URL_FIELDS = ("url", "URL", "uri", "link", "metadata.url", "meta.url", "WARC-Target-URI",
              "warc_target_uri", "target_uri", "source_url", "page_url")
DATE_FIELDS = ("crawl_date", "WARC-Date", "warc_date", "timestamp", "created", "created_at",
               "date", "crawled_at", "date_download", "metadata.date_download",
               "metadata.timestamp", "meta.timestamp", "metadata.created", "fetch_time",
               "published")
LANGUAGE_FIELDS = ("language", "lang", "metadata.language", "meta.language",
                   "WARC-Identified-Content-Language")
LICENSE_FIELDS = ("license", "licence", "metadata.license", "meta.license")
ID_FIELDS = ("id",)

HUMAN_LABELS = frozenset({"human", "human_written", "human-written", "real", "original"})
MACHINE_LABELS = frozenset({"ai", "machine", "generated", "machine_generated", "ai_generated",
                            "machine-generated", "ai-generated", "llm", "synthetic", "fake"})

#: Beyond this share of U+FFFD replacement characters a text is binary garbage, not a document.
GARBAGE_SHARE = 0.3
META_MAX_KEYS = 24
META_MAX_STRING = 256


#: What `get_field` gives for an absent field when asked to tell absent from null.
_ABSENT = object()


def get_field(record: Mapping[str, Any], name: str, default: Any = None) -> Any:
    """`record[name]`, or for dotted names the nested value; `default` when absent."""
    if name in record:
        return record[name]
    if "." not in name:
        return default
    value: Any = record
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return default
        value = value[part]
    return value


def holds_field(record: Mapping[str, Any], name: str) -> bool:
    """Whether `record` has field `name` at all (as `get_field` finds it), even if null: a
    null text is an empty text, not a missing field."""
    return get_field(record, name, _ABSENT) is not _ABSENT


def top_level(name: str, available: Iterable[str]) -> str | None:
    """The top-level column that holds field `name` (itself, or the part before the first dot)."""
    names = set(available)
    if name in names:
        return name
    head = name.split(".", 1)[0]
    return head if head in names else None


def decode_text(raw: bytes) -> tuple[str, bool]:
    """UTF-8 decode; on invalid bytes decode with replacement and report it (True)."""
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return raw.decode("utf-8", "replace"), True


def clean_surrogates(text: str) -> tuple[str, bool]:
    """JSON `\\ud800` escapes decode to lone surrogates that Parquet cannot store."""
    try:
        text.encode("utf-8")
        return text, False
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8"), True


def blank_reason(text: str, min_chars: int) -> str | None:
    """Why a text is skipped as blank, or None: empty after stripping whitespace, made only of
    NUL bytes (padding of a broken export) and whitespace, or shorter than `min_chars`. The one
    rule for the per-record and the columnar paths."""
    stripped = len(text.strip())
    if stripped == 0:
        return "empty text"
    if "\x00" in text and not text.replace("\x00", "").strip():
        return "text is only NUL bytes (binary padding, not a document)"
    if stripped < min_chars:
        return f"text shorter than {min_chars} characters"
    return None


def is_garbage(text: str) -> bool:
    bad = text.count("\ufffd")
    return bad > 0 and bad > GARBAGE_SHARE * len(text)


class _Fields(NamedTuple):
    id: tuple[str, ...]
    url: tuple[str, ...]
    date: tuple[str, ...]
    license: tuple[str, ...]
    language: tuple[str, ...]


class RecordMapper:
    """One shard's reading settings under `options`: the candidate field names, the source
    mode and the synthetic patterns, which `auditor.readers.columnar.BatchBuilder` applies to
    whole batches (the mapper maps no record itself any more).

    Built once per work unit: it checks `source_by` and computes the per-shard parts (source
    for `file`/`dataset:` modes, whether the shard path marks it synthetic) up front.
    """

    def __init__(self, options: ReaderOptions, shard: str, dataset: str | None = None,
                 file_source: str | None = None) -> None:
        """`dataset` names the dataset for synthetic matching; `file_source` replaces the file
        stem as the `source_by=file` name (a saved HF dataset's folder, an `hf:` name)."""
        self.options = options
        self.shard = shard
        self.dataset = dataset
        mode, _, arg = options.source_by.partition(":")
        if mode not in ("file", "domain", "column", "dataset") or (
            mode in ("column", "dataset") and not arg
        ):
            raise ReaderError(
                f"invalid --source-by {options.source_by!r}: use file, domain, column:NAME "
                "or dataset:NAME"
            )
        self.source_mode, self.source_arg = mode, arg
        self.fixed_source = {"file": file_source or file_stem(shard), "dataset": arg}.get(mode)
        patterns = tuple(p.lower() for p in options.synthetic_sources if p)
        self.synthetic_patterns = patterns
        hay = " ".join(x for x in (shard, dataset or "", arg if mode == "dataset" else "") if x)
        self.shard_synthetic = any(p in hay.lower() for p in patterns)
        self.url_fields = (options.url_column,) if options.url_column else URL_FIELDS
        self.date_fields = (options.date_column,) if options.date_column else DATE_FIELDS
        self.language_fields = (
            (options.language_column,) if options.language_column else LANGUAGE_FIELDS
        )
        self.license_fields = (
            (options.license_column,) if options.license_column else LICENSE_FIELDS
        )
        self.id_fields = (options.id_column,) if options.id_column else ID_FIELDS
        self._synthetic_cache: dict[str, bool] = {}
        self._fields_cache: dict[tuple, _Fields] = {}

    def candidates(self, record: Mapping[str, Any]) -> _Fields:
        """The candidate field names present in records with this record's keys (cached per key
        set: a shard's records nearly always share one, so the candidate lists are walked once)."""
        signature = tuple(record.keys())
        found = self._fields_cache.get(signature)
        if found is None:
            keys = set(signature)

            def present(names: tuple[str, ...]) -> tuple[str, ...]:
                return tuple(n for n in names if n in keys or n.split(".", 1)[0] in keys)

            found = _Fields(present(self.id_fields), present(self.url_fields),
                            present(self.date_fields), present(self.license_fields),
                            present(self.language_fields))
            if len(self._fields_cache) < 1024:
                self._fields_cache[signature] = found
        return found

    def candidate_names(self) -> _Fields:
        """The candidate names of each looked-up field, in preference order."""
        return _Fields(self.id_fields, self.url_fields, self.date_fields, self.license_fields,
                       self.language_fields)

    def is_synthetic(self, source: str) -> bool:
        """Whether documents from `source` are machine-generated by construction."""
        if self.shard_synthetic:
            return True
        known = self._synthetic_cache.get(source)
        if known is None:
            lowered = source.lower()
            known = any(p in lowered for p in self.synthetic_patterns)
            if len(self._synthetic_cache) < 100_000:
                self._synthetic_cache[source] = known
        return known

    def wanted_fields(self) -> list[str]:
        """Every field name the mapper may read, for column projection."""
        names = [self.options.text_column, *self.id_fields, *self.url_fields, *self.date_fields,
                 *self.language_fields, *self.license_fields]
        if self.options.label_column:
            names.append(self.options.label_column)
        if self.source_mode == "column":
            names.append(self.source_arg)
        return names

    def issue(self, record: str, status: str, reason: str) -> RecordIssue:
        return RecordIssue(shard=self.shard, record=record, status=status, reason=reason)  # type: ignore[arg-type]

    @staticmethod
    def first(record: Mapping[str, Any], names: tuple[str, ...]) -> tuple[str | None, Any]:
        """The first of `names` the record holds a value for (neither None nor ""), and it."""
        for name in names:
            value = get_field(record, name)
            if value is not None and value != "":
                return name, value
        return None, None
