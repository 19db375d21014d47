"""One input record (a dict from JSONL, Parquet, an HF dataset, or a WARC record's fields) ->
one `Document` or `RecordIssue`, with the provenance policy every format shares.

Keeping this in one place means a JSONL line and a Parquet row with the same fields become the
same `Document`, and the policy (empty text skipped, long text truncated, bad UTF-8 replaced
and flagged) is applied once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from auditor.provenance.dates import parse_date
from auditor.provenance.domains import registered_domain
from auditor.provenance.language import document_language
from auditor.provenance.licenses import UNKNOWN, normalize_license
from auditor.readers.base import ReaderOptions, ReadResult
from auditor.readers.errors import ReaderError
from auditor.readers.files import file_stem
from auditor.records import Document, RecordIssue, content_id

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


def get_field(record: Mapping[str, Any], name: str) -> Any:
    """`record[name]`, or for dotted names the nested value; None when absent."""
    if name in record:
        return record[name]
    if "." not in name:
        return None
    value: Any = record
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


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


def _clean_surrogates(text: str) -> tuple[str, bool]:
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


def _garbage(text: str) -> bool:
    bad = text.count("\ufffd")
    return bad > 0 and bad > GARBAGE_SHARE * len(text)


class _Fields(NamedTuple):
    id: tuple[str, ...]
    url: tuple[str, ...]
    date: tuple[str, ...]
    license: tuple[str, ...]
    language: tuple[str, ...]


class RecordMapper:
    """Maps records of one shard to `Document`s under `options`.

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

    def _fields_for(self, record: Mapping[str, Any]) -> _Fields:
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
    def _first(record: Mapping[str, Any], names: tuple[str, ...]) -> tuple[str | None, Any]:
        for name in names:
            value = get_field(record, name)
            if value is not None and value != "":
                return name, value
        return None, None

    def map(
        self,
        record: Mapping[str, Any],
        offset: int,
        where: str,
        *,
        meta: dict[str, Any] | None = None,
        defaults: Mapping[str, Any] | None = None,
    ) -> ReadResult:
        """Map one record. `where` names it in issues (`line 12`, `row 40`, a WARC-Record-ID).

        `defaults` supplies provenance a format knows outside the record (WARC headers, licence
        from raw HTML): keys `id`, `url`, `crawl_date`, `license`, `language`.
        """
        options = self.options
        meta = dict(meta or {})
        defaults = defaults or {}
        text_field = options.text_column
        text = get_field(record, text_field)
        if text is None:
            present = ", ".join(sorted(map(str, record.keys()))[:20])
            return self.issue(where, "failed", f"no {text_field!r} field in {where} of "
                              f"{self.shard} (fields present: {present}); pass --text-column")
        if isinstance(text, (bytes, bytearray)):
            text, invalid = decode_text(bytes(text))
            if invalid:
                meta["invalid_utf8"] = True
        if not isinstance(text, str):
            return self.issue(where, "failed", f"{text_field!r} in {where} of {self.shard} is "
                              f"{type(text).__name__}, not a string")
        text, replaced = _clean_surrogates(text)
        if replaced:
            meta["invalid_utf8"] = True
        if meta.get("invalid_utf8") and _garbage(text):
            return self.issue(where, "failed", f"undecodable text in {where} of {self.shard}: "
                              "mostly invalid UTF-8 (binary data?)")
        blank = blank_reason(text, options.min_chars)
        if blank is not None:
            return self.issue(where, "skipped", blank)
        if len(text) > options.max_chars:
            meta["truncated"] = True
            meta["original_chars"] = len(text)
            text = text[: options.max_chars]

        used: set[str] = {text_field}
        fields = self._fields_for(record)
        id_name, doc_id = self._first(record, fields.id)
        if doc_id is None:
            doc_id = defaults.get("id") or content_id(text)
        used.add(id_name or "")
        url_name, url = self._first(record, fields.url)
        url = str(url) if url is not None else defaults.get("url")
        used.add(url_name or "")
        domain = registered_domain(url) if url else None
        date_name, raw_date = self._first(record, fields.date)
        used.add(date_name or "")
        crawl_date = parse_date(raw_date) if raw_date is not None else None
        if raw_date is not None and crawl_date is None:
            meta["unparsed_date"] = str(raw_date)[:64]
        if crawl_date is None:
            crawl_date = defaults.get("crawl_date")
        lic_name, raw_license = self._first(record, fields.license)
        used.add(lic_name or "")
        if raw_license is not None:
            license = normalize_license(raw_license)
            if license == UNKNOWN:
                meta["license_raw"] = str(raw_license)[:META_MAX_STRING]
        else:
            license = defaults.get("license") or UNKNOWN
        lang_name, language = self._first(record, fields.language)
        used.add(lang_name or "")
        language = document_language(
            language if language is not None else defaults.get("language"), text)

        role = options.role
        if options.label_column:
            label = get_field(record, options.label_column)
            used.add(options.label_column)
            if label is not None:
                key = str(label).strip().lower()
                if key in HUMAN_LABELS:
                    role = "human_reference"
                elif key in MACHINE_LABELS:
                    role = "machine_reference"
                meta["label"] = str(label)[:64]

        if self.fixed_source is not None:
            source = self.fixed_source
        elif self.source_mode == "domain":
            source = domain or "unknown"
        else:
            value = get_field(record, self.source_arg)
            used.add(self.source_arg)
            source = str(value) if value not in (None, "") else "unknown"
        synthetic = self.is_synthetic(source)

        for key, value in record.items():
            if len(meta) >= META_MAX_KEYS:
                break
            if key in used or key in meta:
                continue
            if isinstance(value, str):
                if len(value) <= META_MAX_STRING:
                    meta[key] = value
            elif isinstance(value, (bool, int)) or (
                    isinstance(value, float) and math.isfinite(value)):  # meta is stored as JSON
                meta[key] = value

        return Document(
            id=str(doc_id),
            text=text,
            source=source,
            shard=self.shard,
            offset=offset,
            url=url,
            domain=domain,
            crawl_date=crawl_date,
            license=license,
            language=language,
            role=role,
            synthetic_by_construction=synthetic,
            meta=meta,
        )


def map_batches(batches: Iterable[Any], mapper: RecordMapper) -> Iterable[ReadResult]:
    """`Document`s from `(record batch, first row index)` pairs, as the Parquet and Arrow readers
    yield them; a `RecordIssue` in the stream is passed on and ends it (the unit broke there)."""
    for item in batches:
        if isinstance(item, RecordIssue):
            yield item
            return
        batch, row = item
        for record in batch.to_pylist():
            yield mapper.map(record, row, f"row {row}")
            row += 1
