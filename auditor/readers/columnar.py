"""Records to provenance rows: the one path, on batches.

Every format ends here. Parquet and Arrow shards hand over their record batches as they are;
JSON lines, WARC/WET and `hf:` datasets hand over records (dicts, with what the format knows
outside the record: WARC headers as defaults, `invalid_utf8` as metadata) gathered into
batches (`auditor.readers.stream`). Either way a batch first becomes a `RawBatch` (the
text, the candidate provenance fields and the metadata candidates, as columns, nothing decided
yet), and `BatchBuilder.rows` applies every rule once, column by column: blank and short texts
skipped, long ones truncated, ids (content hashes where absent), hosts by a regex kernel,
lengths, snippets and token estimates from the UTF-8 buffers, language, and the Python-only
policies (registered domain, dates, licences, labels, sources) once per DISTINCT value of a
batch instead of once per record. A provenance-only scan of a Parquet shard never makes a
Python string per document.

Only how fields are FOUND differs: a Parquet/Arrow batch whose schema names each field once
(`_plan`) is taken column by column; records, and batches the plan cannot take (nested or
dotted fields, several candidate columns for one field, invalid UTF-8, unusual types), have
their fields looked up per record (`_records_raw`, the record-by-record lookup of
`RecordMapper`: first present candidate, dotted names into nested values, undecodable
text). `read_unit` (one `Document` per record) is these rows, turned back into documents.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from auditor.provenance.dates import parse_date
from auditor.provenance.domains import registered_domain
from auditor.provenance.language import SAMPLE_CHARS as LANGUAGE_SAMPLE_CHARS
from auditor.provenance.language import clearly_english, fill_language_array
from auditor.provenance.language_codes import parse_tag
from auditor.provenance.licenses import UNKNOWN, normalize_license
from auditor.readers.mapping import (
    HUMAN_LABELS,
    MACHINE_LABELS,
    META_MAX_KEYS,
    META_MAX_STRING,
    RecordMapper,
    blank_reason,
    clean_surrogates,
    decode_text,
    get_field,
    holds_field,
    is_garbage,
)
from auditor.readers.provenance_rows import assemble_provenance, utc_micros
from auditor.readers.textstats import arrow_token_counts, byte_bounds, text_bytes
from auditor.records import SNIPPET_CHARS, Document, RecordIssue

#: Distinct hosts remembered per process (host -> registered domain) before the memo is reset
#: (each batch looks its hosts up in the memo with one Arrow hash join, so it stays moderate).
DOMAIN_MEMO = 1 << 16

#: URLs of this plain shape (scheme, host of letters/digits/dots/dashes, optional port, then a
#: path, query, fragment or the end) have the host `auditor.provenance.domains.host_of` finds;
#: any other URL (user info, spaces, IPv6, no scheme) is taken per row by `registered_domain`.
PLAIN_URL = r"^[a-zA-Z][a-zA-Z0-9+.\-]{0,8}://(?P<host>[A-Za-z0-9._\-]*)(?::[0-9]*)?(?:[/?#]|$)"

#: `json.dumps(text, ensure_ascii=False)` for a string, the encoder's own function.
_json_string = json.encoder.encode_basestring
#: A JSON string needs escaping (with ensure_ascii=False) only for these characters.
_JSON_ESCAPE = r'[\x00-\x1f"\\]'
#: The provenance fields looked up by candidate names, in `RecordMapper.candidates` order.
_LOOKED_UP = ("id", "url", "date", "license", "language")
#: Provenance columns that are `Document` fields of the same name.
_DOCUMENT_FIELDS = ("id", "source", "shard", "offset", "url", "domain", "crawl_date", "license",
                    "language", "role", "synthetic_by_construction")
#: What a format knows outside a record, used where the record lacks the field.
DEFAULT_KEYS = ("id", "url", "crawl_date", "license", "language")


#: Keys a reader puts in a record's `meta` when it repaired something: bytes that are not
#: UTF-8 replaced by U+FFFD (the record is kept), a date value it could not read (kept as
#: written; the row's date is empty). Chunks also carry them as counts (`ColumnarChunk`), so
#: the scan's accounting never searches the JSON.
INVALID_UTF8_KEY = "invalid_utf8"
UNPARSED_DATE_KEY = "unparsed_date"


class Record(NamedTuple):
    """One record of a format read record by record, before any provenance rule.

    `meta` is what the format adds to the document's metadata ahead of the record's own
    fields; `defaults` supplies provenance the format knows outside the record (`DEFAULT_KEYS`).
    """

    fields: Mapping[str, Any]
    offset: int
    where: str
    meta: dict[str, Any] | None = None
    defaults: Mapping[str, Any] | None = None


@dataclass
class ColumnarChunk:
    """One batch, read: its stored rows as provenance columns, and its issues.

    `texts()` and `metas()` are what detectors take; they are built only when asked, so a
    provenance-only scan never makes a Python string per document. `issue_rows[i]` is how many
    stored rows of the chunk come before `issues[i]` (for `documents`, in reader order).
    """

    provenance: pa.RecordBatch
    issues: list[RecordIssue]
    text_array: pa.Array | None = None
    issue_rows: list[int] = field(default_factory=list)
    text_list: list[str] | None = None
    meta_list: list[dict] | None = field(default=None, repr=False)
    #: stored rows (positions in `provenance`) whose text had bytes that are not UTF-8 replaced
    invalid_utf8_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    #: stored rows with a date value that could not be read (stored without a date)
    n_unparsed_dates: int = 0

    @property
    def n_rows(self) -> int:
        return self.provenance.num_rows

    def texts(self) -> list[str]:
        if self.text_list is None:
            self.text_list = [] if self.text_array is None else self.text_array.to_pylist()
        return self.text_list

    def metas(self) -> list[dict]:
        if self.meta_list is None:
            self.meta_list = [json.loads(m) if m else {}
                              for m in self.provenance.column("meta").to_pylist()]
        return self.meta_list

    def documents(self) -> Iterator[Document | RecordIssue]:
        """The chunk as `Document`s and issues, in reader order (the per-record API)."""
        columns = self.provenance.select(list(_DOCUMENT_FIELDS)).to_pydict()
        rows = zip(columns["id"], self.texts(), columns["source"], columns["shard"],
                   columns["offset"], columns["url"], columns["domain"], columns["crawl_date"],
                   columns["license"], columns["language"], columns["role"],
                   columns["synthetic_by_construction"], self.metas(), strict=True)
        k = 0
        for i, (id_, text, source, shard, offset, url, domain, crawl_date, license_, language,
                role, synthetic, meta) in enumerate(rows):
            while k < len(self.issues) and self.issue_rows[k] <= i:
                yield self.issues[k]
                k += 1
            yield Document(id=id_, text=text, source=source, shard=shard, offset=offset,
                           url=url, domain=domain, crawl_date=crawl_date, license=license_,
                           language=language, role=role, synthetic_by_construction=synthetic,
                           meta=meta)
        yield from self.issues[k:]


_HELPERS: list[ThreadPoolExecutor] = []


def _helper() -> ThreadPoolExecutor:
    """One thread per process that builds part of each batch beside the calling thread."""
    if not _HELPERS:
        with _HELPER_LOCK:
            if not _HELPERS:
                _HELPERS.append(ThreadPoolExecutor(1, thread_name_prefix="auditor-rows"))
    return _HELPERS[0]


_HELPER_LOCK = threading.Lock()


class _HostMemo:
    """host -> registered domain, as two aligned Arrow arrays, shared by the units a process
    scans (hosts recur across batches and units): a batch's hosts are looked up with one
    `index_in`, and only hosts never seen go through Python (`registered_domain`)."""

    def __init__(self) -> None:
        self.hosts = pa.array([], pa.string())
        self.domains = pa.array([], pa.string())
        self.lock = threading.Lock()

    def domains_of(self, hosts: pa.Array) -> pa.Array:
        """The registered domain of each host (null for a null host)."""
        with self.lock:
            where = pc.index_in(hosts, value_set=self.hosts)
            new = hosts.filter(pc.and_(pc.is_valid(hosts), pc.is_null(where)))
            if len(new):
                new = pc.unique(new)
                if len(self.hosts) + len(new) > DOMAIN_MEMO:  # start again from this batch
                    self.hosts = self.domains = pa.array([], pa.string())
                    new = pc.unique(hosts.filter(pc.is_valid(hosts)))
                found = pa.array([registered_domain(h) for h in new.to_pylist()], pa.string())
                self.hosts = pa.concat_arrays([self.hosts, new])
                self.domains = pa.concat_arrays([self.domains, found])
                where = pc.index_in(hosts, value_set=self.hosts)
            return self.domains.take(where)


_HOSTS = _HostMemo()


def _after_fork_in_child() -> None:
    """A forked child has none of the parent's threads: a helper executor whose thread is gone
    would never run a job, and a lock held by a parent thread would never be released."""
    global _HOSTS, _HELPER_LOCK
    _HELPERS.clear()
    _HELPER_LOCK = threading.Lock()
    _HOSTS = _HostMemo()


os.register_at_fork(after_in_child=_after_fork_in_child)


@dataclass(frozen=True)
class _Plan:
    """How one batch schema maps to provenance: which column feeds which field."""

    text: str
    fields: dict[str, str]  # provenance field -> the one column holding it
    meta: tuple[tuple[str, str], ...]  # (column, kind) in record order
    fields_present: str  # for the "no text field" issue, as the record lookup words it


class Prepared(NamedTuple):
    """A record batch with what `BatchBuilder.prepare` found: `raw` (None: the batch goes
    through the record-by-record lookup)."""

    batch: pa.RecordBatch
    first_row: int
    raw: RawBatch | None


class _Fallback(Exception):
    """This batch needs the record-by-record field lookup."""


@dataclass
class RawBatch:
    """Consecutive records of one shard as columns, before any provenance rule.

    A column is an Arrow array or a list of Python values (None: absent). `text` is a string
    array, null where a record has no text field. `fields` holds the provenance fields found
    (`id`, `url`, `date`, `license`, `language`, `label`, `source`); `extras` the metadata
    candidates as (key, column, kind) in record order (kind: how `_meta_fragment` renders it);
    `pre_meta` the metadata a format adds ahead of them; `defaults` (`DEFAULT_KEYS`) what a
    format knows where the record is silent. `issues` are (position, issue) for records that
    are not in the batch (position: how many of its records come before).
    """

    text: pa.Array
    offsets: np.ndarray
    fields: dict[str, Any]
    extras: list[tuple[str, Any, str]]
    fields_present: str | list[str]
    wheres: list[str] | None = None  # None: "row {offset}"
    pre_meta: list[dict | None] | None = None
    #: per record, its own metadata fields (key, value) in its order where that order differs
    #: from the batch's columns (`extras`, which then hold nothing for it), else None: records
    #: listing their fields in varying orders share one batch and each keeps its own order in
    #: `meta` (a batch per change of order read such a JSONL file at 539 docs/s against 21,780
    #: now: scripts/bench_readers.py, reports/readers.md)
    own_order: list[list[tuple[str, Any]] | None] | None = None
    defaults: dict[str, list] | None = None
    issues: list[tuple[int, RecordIssue]] = field(default_factory=list)
    ascii_only: bool | None = None  # every text byte is ASCII (None: not looked at yet)
    controls: bool | None = None  # some text byte is below 0x20 (None: not looked at yet)
    english: pa.Array | None = None  # the English fast path per text (None: not computed)
    snippets: pa.Array | None = None  # each text's first SNIPPET_CHARS characters


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _present(value: Any) -> bool:
    """`RecordMapper.first`'s test: a field counts when it is neither None nor ""."""
    return value is not None and value != ""


class _Uniques:
    """The distinct values of a column, to run Python policy once per value, not per row."""

    def __init__(self, values: pa.Array | list) -> None:
        if isinstance(values, list):
            seen: dict = {}
            index = np.empty(len(values), dtype=np.int32)
            self.py = []
            for i, v in enumerate(values):
                try:
                    key = (type(v), v)
                    j = seen.get(key)
                except TypeError:  # unhashable (a list, a dict): by its text
                    key = (type(v), repr(v))
                    j = seen.get(key)
                if j is None:
                    j = seen[key] = len(self.py)
                    self.py.append(v)
                index[i] = j
            self.index = pa.array(index)
            return
        try:  # one hashing pass; the same values and order as unique + index_in
            encoded = values.dictionary_encode(null_encoding="encode")
            self.values, self.index = encoded.dictionary, encoded.indices
        except (pa.ArrowNotImplementedError, pa.ArrowTypeError):
            self.values = pc.unique(values)
            self.index = pc.index_in(values, value_set=self.values)
        self.py = self.values.to_pylist()

    def map(self, fn: Callable[[Any], Any], type_: pa.DataType) -> pa.Array:
        return pa.array([fn(v) for v in self.py], type_).take(self.index)


def _flags(values: pa.Array) -> np.ndarray:
    """A null-free boolean Arrow array as numpy booleans. (`np.asarray(a, dtype=bool)` took
    ~2 ms per 10,000 rows where this takes ~10 us.)"""
    return values.to_numpy(zero_copy_only=False)


def _repairs(pre: list[dict | None] | None, unparsed_dates: pa.Array | None,
             m: int) -> tuple[np.ndarray, int]:
    """(stored rows whose text had invalid UTF-8 replaced, how many stored rows hold a date
    that could not be read), from the format's metadata (`pre`, one dict or None a row) and the
    date rule's (`unparsed_dates`, non-null where a date field could not be read)."""
    repaired = np.zeros(m, dtype=bool)
    unparsed = np.zeros(m, dtype=bool)
    if pre is not None:
        repaired = np.fromiter((bool(d and d.get(INVALID_UTF8_KEY)) for d in pre),
                               dtype=bool, count=m)
        unparsed = np.fromiter((bool(d) and d.get(UNPARSED_DATE_KEY) is not None for d in pre),
                               dtype=bool, count=m)
    if unparsed_dates is not None:
        unparsed |= _flags(unparsed_dates.is_valid())
    return np.flatnonzero(repaired), int(unparsed.sum())


def _take(values: pa.Array | list, rows: np.ndarray) -> pa.Array | list:
    if isinstance(values, list):
        return [values[i] for i in rows]
    return values.take(pa.array(rows))


def _snippets(text: pa.Array, ascii_only: bool | None) -> pa.Array:
    """The first `SNIPPET_CHARS` characters of each text (bytes, when all are ASCII)."""
    if ascii_only:
        return pc.binary_slice(text.view(pa.binary()), 0, SNIPPET_CHARS).view(pa.string())
    return pc.utf8_slice_codeunits(text, 0, SNIPPET_CHARS)


def _nonempty_strings(values: pa.Array) -> pa.Array:
    """String column with "" as null (absent), as plain `string`."""
    values = values.cast(pa.string())
    empty = pc.equal(values, "")
    if not pc.any(empty).as_py():  # the usual case: no copy of the column
        return values
    return pc.if_else(empty, pa.scalar(None, pa.string()), values)


def _as_string(values: pa.Array | list) -> pa.Array:
    """`str(value)` for present values, null for absent ones."""
    if isinstance(values, list):
        return pa.array([str(v) if _present(v) else None for v in values], pa.string())
    if _is_text(values.type):
        return _nonempty_strings(values)
    if pa.types.is_integer(values.type):
        return values.cast(pa.string())
    return _Uniques(values).map(lambda v: str(v) if _present(v) else None, pa.string())


def _json_key(name: str) -> str:
    return json.dumps(name, ensure_ascii=False) + ": "


def _prefixed(prefix: str, values: pa.Array, suffix: str = "") -> pa.Array:
    return pc.binary_join_element_wise(pa.scalar(prefix), values, pa.scalar(suffix), "")


def _join_fragments(fragments: list[pa.Array], n: int) -> pa.Array:
    """`{frag, frag, ...}` per row from nullable `"key": value` fragments; null when none."""
    acc: pa.Array | None = None
    for frag in fragments:
        acc = frag if acc is None else pc.coalesce(
            pc.binary_join_element_wise(acc, frag, ", "), acc, frag)
    if acc is None:
        return pa.nulls(n, pa.string())
    return _prefixed("{", acc, "}")


def meta_json(value: Any) -> str | None:
    """A record field's value as it is kept in `meta` (JSON), or None when it is not kept:
    strings up to `META_MAX_STRING` characters, booleans, integers, finite floats."""
    if isinstance(value, str):  # json.dumps(value, ensure_ascii=False), without its set-up
        return _json_string(value) if len(value) <= META_MAX_STRING else None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float) and math.isfinite(value):
        return float.__repr__(value)
    return None


def _meta_fragment(name: str, kind: str, values: pa.Array | list) -> pa.Array | None:
    """`"name": value` per row where the field is kept in `meta` (`meta_json`); the kinds of
    typed Arrow columns are the same rule with Arrow kernels."""
    key = _json_key(name)
    null = pa.scalar(None, pa.string())
    if kind == "py":
        return pa.array([None if (j := meta_json(v)) is None else key + j for v in values],
                        pa.string())
    if kind == "empty":  # a provenance candidate column reaches meta only as ""
        if not pc.any(pc.equal(values, "")).as_py():
            return None
        return pc.if_else(pc.equal(values, ""), pa.scalar(key + '""'), null)
    if kind == "string":
        values = values.cast(pa.string())
        short = pc.less_equal(pc.utf8_length(values), META_MAX_STRING)
        if pc.any(pc.match_substring_regex(values, _JSON_ESCAPE)).as_py():
            return _meta_fragment(name, "py", values.to_pylist())
        return pc.if_else(short, _prefixed(key + '"', values, '"'), null)
    if kind == "bool":
        return _prefixed(key, pc.if_else(values, pa.scalar("true"), pa.scalar("false")))
    if kind == "int":
        return _prefixed(key, values.cast(pa.string()))
    # float: Python's repr, as json.dumps writes it; NaN and infinities are left out
    return _meta_fragment(name, "py", values.to_pylist())


class BatchBuilder:
    """Turns batches of one shard's records into `ColumnarChunk`s under the mapper's policy."""

    def __init__(self, mapper: RecordMapper) -> None:
        self.mapper = mapper
        self.options = mapper.options
        self.shard = mapper.shard
        self._plans: dict[pa.Schema, _Plan | None] = {}

    # -- finding the fields ---------------------------------------------------------------------

    def build(self, batch: pa.RecordBatch, first_row: int) -> Iterator[ColumnarChunk]:
        """The chunk(s) of a record batch whose first row is row `first_row` of the shard."""
        yield from self.build_prepared(self.prepare(batch, first_row))

    def prepare(self, batch: pa.RecordBatch, first_row: int) -> Prepared:
        """The part of `build` that needs only the batch: finding the fields and the text
        kernels that do not depend on the rules (the English fast path of language
        identification). The reader runs it in its read-ahead thread, beside `build_prepared`
        of the batch before on the calling thread."""
        if any(pa.types.is_dictionary(f.type) for f in batch.schema):
            batch = pa.RecordBatch.from_arrays(
                [c.dictionary_decode() if pa.types.is_dictionary(c.type) else c
                 for c in batch.columns], names=batch.schema.names)
        plan = self._plans.get(batch.schema, False)
        if plan is False:
            try:
                plan = self._plan(batch.schema)
            except _Fallback:
                plan = None
            self._plans[batch.schema] = plan
        raw = None
        if plan is not None:
            try:
                raw = self._arrow_raw(batch, first_row, plan)
            except _Fallback:
                pass
        if raw is not None:
            raw.snippets = _snippets(raw.text, raw.ascii_only)
            language = raw.fields.get("language")
            if (self.options.max_chars >= LANGUAGE_SAMPLE_CHARS
                    and (language is None or language.null_count)):  # rows to identify
                raw.english = clearly_english(
                    raw.text, raw.ascii_only,
                    raw.snippets if SNIPPET_CHARS == LANGUAGE_SAMPLE_CHARS else None)
        return Prepared(batch, first_row, raw)

    def build_prepared(self, prepared: Prepared) -> Iterator[ColumnarChunk]:
        """The chunk(s) of a prepared batch (`prepare`)."""
        if prepared.raw is not None:
            yield self.rows(prepared.raw)
            return
        first_row = prepared.first_row
        yield from self.build_records(
            [Record(r, first_row + i, f"row {first_row + i}")
             for i, r in enumerate(prepared.batch.to_pylist())])

    def build_records(self, records: list[Record],
                      issues: Iterable[tuple[int, RecordIssue]] = ()) -> Iterator[ColumnarChunk]:
        """The chunk(s) of records looked up one by one; `issues` are (position, issue) of
        issues a format reported between them. Each document's `meta` keeps its record's order,
        also for records whose fields come in another order than the batch's columns
        (`RawBatch.own_order`)."""
        pending = sorted(issues, key=lambda x: x[0])
        start = 0
        while True:
            raw, start = self._records_raw(records, start, pending)
            yield self.rows(raw)
            if start >= len(records):
                return

    def _records_raw(self, records: list[Record], start: int,
                     pending: list[tuple[int, RecordIssue]]) -> tuple[RawBatch, int]:
        """Records from `start` as a `RawBatch` (all of them: the position after the last is
        returned with it); pops the issues it places from `pending`."""
        m, opts = self.mapper, self.options
        tf = opts.text_column
        label_col = opts.label_column
        source_col = m.source_arg if m.source_mode == "column" else None
        texts: list[str | None] = []
        offsets: list[int] = []
        wheres: list[str] = []
        present: list[str] = []
        pre: list[dict | None] = []
        defaults: list[Mapping[str, Any] | None] = []
        found: dict[str, list] = {k: [] for k in _LOOKED_UP}
        labels: list = []
        sources: list = []
        extras: dict[str, tuple[list[int], list]] = {}  # key -> (rows holding it, values)
        order: dict[str, int] = {}
        issues: list[tuple[int, RecordIssue]] = []
        key_lists: dict[tuple, list[str]] = {}
        last_keys: list[str] | None = None
        own_order: list[list[tuple[str, Any]] | None] = []  # see `RawBatch.own_order`
        first = m.first
        j = start
        while j < len(records):
            while pending and pending[0][0] <= j:
                issues.append((len(texts), pending.pop(0)[1]))
            record, offset, where, format_meta, record_defaults = records[j]
            meta = dict(format_meta or {})
            text = get_field(record, tf)
            if text is None and holds_field(record, tf):
                text = ""  # a null text is an empty one: skipped "empty text", not "no field"
            if text is not None:
                if isinstance(text, (bytes, bytearray)):
                    text, invalid = decode_text(bytes(text))
                    if invalid:
                        meta[INVALID_UTF8_KEY] = True
                if not isinstance(text, str):
                    issues.append((len(texts), m.issue(
                        where, "failed", f"{tf!r} in {where} of {self.shard} is "
                        f"{type(text).__name__}, not a string")))
                    j += 1
                    continue
                text, replaced = clean_surrogates(text)
                if replaced:
                    meta[INVALID_UTF8_KEY] = True
                if meta.get(INVALID_UTF8_KEY) and is_garbage(text):
                    issues.append((len(texts), m.issue(
                        where, "failed", f"undecodable text in {where} of {self.shard}: "
                        "mostly invalid UTF-8 (binary data?)")))
                    j += 1
                    continue
            values, chosen, nested = [], [], False
            for names in m.candidates(record):
                name, value = first(record, names)
                values.append(value)
                chosen.append(name)
                nested = nested or isinstance(value, (list, dict))
            if nested and _too_deep(values):
                issues.append((len(texts), m.issue(
                    where, "failed", f"{where} of {self.shard} nests its fields too deeply "
                    "to store; skipped")))
                j += 1
                continue
            # the record's own fields left for `meta`: the same for records of one shape
            shape = (tuple(record), tuple(chosen))
            keys = key_lists.get(shape)
            if keys is None:
                used = {tf, label_col, source_col, *chosen}
                keys = key_lists[shape] = [k for k in record if k not in used]
            row = len(texts)
            if keys is last_keys or _same_order(keys, order):
                last_keys = keys
                for k in keys:
                    column = extras.get(k)
                    if column is None:
                        order[k] = len(order)
                        column = extras[k] = ([], [])
                    column[0].append(row)
                    column[1].append(record[k])
                own_order.append(None)
            else:  # its fields in another order than the columns': kept in its own order
                own_order.append([(k, record[k]) for k in keys])
            for kind, value in zip(_LOOKED_UP, values, strict=True):
                found[kind].append(value)
            if label_col:
                labels.append(get_field(record, label_col))
            if source_col:
                sources.append(get_field(record, source_col))
            texts.append(text)
            offsets.append(offset)
            wheres.append(where)
            present.append("" if text is not None else
                           ", ".join(sorted(map(str, record.keys()))[:20]))
            pre.append(meta or None)
            defaults.append(record_defaults)
            j += 1
        if j >= len(records):
            issues += [(len(texts), issue) for _, issue in pending]
            pending.clear()
        fields: dict[str, Any] = dict(found)
        if label_col:
            fields["label"] = labels
        if source_col:
            fields["source"] = sources
        has_defaults = any(d for d in defaults)
        raw = RawBatch(
            text=pa.array(texts, pa.string()), offsets=np.asarray(offsets, dtype=np.int64),
            fields=fields, extras=[(k, _spread(rows, values, len(texts)), "py")
                                   for k, (rows, values) in extras.items()],
            fields_present=present, wheres=wheres,
            pre_meta=pre if any(pre) else None,
            own_order=own_order if any(o is not None for o in own_order) else None,
            defaults={k: [(d or {}).get(k) for d in defaults] for k in DEFAULT_KEYS}
            if has_defaults else None,
            issues=issues)
        return raw, j

    def _plan(self, schema: pa.Schema) -> _Plan:
        """Which column holds each field, when every field is one top-level column."""
        names = schema.names
        keys = set(names)
        m, opts = self.mapper, self.options
        text = opts.text_column
        if text not in keys:
            raise _Fallback
        ttype = schema.field(text).type
        if not (_is_text(ttype) or pa.types.is_binary(ttype) or pa.types.is_large_binary(ttype)):
            raise _Fallback

        def single(candidates: tuple[str, ...]) -> str | None:
            found = [n for n in candidates if n in keys or n.split(".", 1)[0] in keys]
            if len(found) > 1 or (found and (found[0] not in keys or found[0] == text)):
                raise _Fallback  # several candidates (per-row choice) or a nested field
            return found[0] if found else None

        def exact(name: str | None) -> str | None:
            if not name:
                return None
            if name in keys:
                return name
            if name.split(".", 1)[0] in keys:
                raise _Fallback
            return None

        fields = {kind: single(candidates)
                  for kind, candidates in zip(_LOOKED_UP, m.candidate_names(), strict=True)}
        fields["label"] = exact(opts.label_column)
        fields["source"] = exact(m.source_arg) if m.source_mode == "column" else None
        always_used = {text, opts.label_column or "",
                       m.source_arg if m.source_mode == "column" else ""}
        candidates = {fields[k] for k in _LOOKED_UP} - {None}
        meta: list[tuple[str, str]] = []
        for f in schema:
            if f.name in always_used:
                continue
            t = f.type
            if f.name in candidates:
                if _is_text(t):
                    meta.append((f.name, "empty"))  # only "" reaches meta (unused candidate)
            elif _is_text(t):
                meta.append((f.name, "string"))
            elif pa.types.is_boolean(t):
                meta.append((f.name, "bool"))
            elif pa.types.is_integer(t):
                meta.append((f.name, "int"))
            elif pa.types.is_float32(t) or pa.types.is_float64(t):
                meta.append((f.name, "float"))
            elif (pa.types.is_temporal(t) or pa.types.is_decimal(t) or pa.types.is_null(t)
                  or pa.types.is_binary(t) or pa.types.is_large_binary(t)
                  or pa.types.is_fixed_size_binary(t) or pa.types.is_nested(t)):
                continue  # Python values that are not JSON scalars: never in meta
            else:
                raise _Fallback
        fields_present = ", ".join(sorted(map(str, names))[:20])
        return _Plan(text, {k: v for k, v in fields.items() if v is not None}, tuple(meta),
                     fields_present)

    def _arrow_raw(self, batch: pa.RecordBatch, first_row: int, plan: _Plan) -> RawBatch:
        text = batch.column(plan.text)
        if not _is_text(text.type):
            try:
                text = text.cast(pa.string())  # binary: valid UTF-8 or looked up per record
            except pa.ArrowInvalid:
                raise _Fallback from None
        low, high = byte_bounds(text_bytes(text)[0])
        ascii_only = high < 0x80
        try:  # invalid UTF-8 in a string column: per record (ASCII bytes are valid UTF-8)
            text.validate(full=not ascii_only)
        except pa.ArrowInvalid:
            raise _Fallback from None
        if pa.types.is_large_string(text.type):
            text = text.cast(pa.string())
        if text.null_count:  # the column is there: a null text is empty, not a missing field
            text = pc.fill_null(text, "")
        col = batch.column
        return RawBatch(text=text,
                        offsets=np.arange(first_row, first_row + batch.num_rows, dtype=np.int64),
                        fields={k: col(c) for k, c in plan.fields.items()},
                        extras=[(name, col(name), kind) for name, kind in plan.meta],
                        fields_present=plan.fields_present, ascii_only=ascii_only,
                        controls=low < 0x20)

    # -- the rules, once per batch ----------------------------------------------------------------

    def rows(self, raw: RawBatch) -> ColumnarChunk:
        """Provenance rows of a raw batch, and the issues of the records it does not store."""
        opts, mapper = self.options, self.mapper
        text = raw.text
        n = len(text)
        issues: list[tuple[int, int, RecordIssue]] = [(p, 0, i) for p, i in raw.issues]

        def where(i: int) -> str:
            return raw.wheres[i] if raw.wheres is not None else f"row {int(raw.offsets[i])}"

        keep = np.ones(n, dtype=bool)
        nulls = _flags(text.is_null())
        for i in np.flatnonzero(nulls):
            w = where(i)
            fields_present = (raw.fields_present if isinstance(raw.fields_present, str)
                              else raw.fields_present[i])
            issues.append((int(i), 1, mapper.issue(
                w, "failed", f"no {opts.text_column!r} field in {w} of {self.shard} (fields "
                f"present: {fields_present}); pass --text-column")))
        keep &= ~nulls
        buf, offs = text_bytes(text)
        ascii_only, controls = raw.ascii_only, raw.controls
        if ascii_only is None or controls is None:
            low, high = byte_bounds(buf)
            ascii_only, controls = high < 0x80, low < 0x20
        lengths = np.diff(offs)
        n_chars_np = (lengths if ascii_only else
                      np.asarray(pc.fill_null(pc.utf8_length(text), 0), dtype=np.int64))
        # Only texts that may strip to fewer than min_chars need Python's str.strip: short
        # ones, and those whose first or last byte is not printable ASCII.
        nonempty = lengths > 0
        edge = np.zeros((2, n), dtype=np.uint8)
        edge[0, nonempty] = buf[offs[:-1][nonempty]]
        edge[1, nonempty] = buf[offs[1:][nonempty] - 1]
        edge_ok = ((edge >= 0x21) & (edge <= 0x7E)).all(axis=0)
        suspect = (~edge_ok | (n_chars_np < opts.min_chars)) & keep
        for i in np.flatnonzero(suspect):
            reason = blank_reason(text[int(i)].as_py(), opts.min_chars)
            if reason is not None:
                issues.append((int(i), 1, mapper.issue(where(i), "skipped", reason)))
                keep[i] = False

        kept = np.flatnonzero(keep)
        issues.sort(key=lambda x: (x[0], x[1]))
        chunk_issues = [i for _, _, i in issues]
        issue_rows = np.searchsorted(kept, [p for p, _, _ in issues]).tolist()
        f, extras, pre, defaults = raw.fields, raw.extras, raw.pre_meta, raw.defaults
        own_order = raw.own_order
        english = raw.english
        if kept.size < n:
            text = text.take(pa.array(kept))
            english = None if english is None else english.take(pa.array(kept))
            n_chars_np = n_chars_np[kept]
            f = {k: _take(v, kept) for k, v in f.items()}
            extras = [(k, _take(v, kept), kind) for k, v, kind in extras]
            pre = None if pre is None else _take(pre, kept)
            own_order = None if own_order is None else _take(own_order, kept)
            defaults = None if defaults is None else {k: _take(v, kept)
                                                      for k, v in defaults.items()}
        m = len(kept)
        offsets = pa.array(raw.offsets[kept], pa.int64())
        policy: dict[str, pa.Array] = {}  # meta keys the policy sets, in this order
        null_str = pa.scalar(None, pa.string())

        long = n_chars_np > opts.max_chars
        if long.any():
            mask = pa.array(long)
            text = pc.if_else(mask, pc.utf8_slice_codeunits(text, 0, opts.max_chars), text)
            policy["truncated"] = pc.if_else(mask, pa.scalar('"truncated": true'), null_str)
            policy["original_chars"] = pc.if_else(mask, _prefixed(
                '"original_chars": ', pa.array(n_chars_np).cast(pa.string())), null_str)
            n_chars_np = np.minimum(n_chars_np, opts.max_chars)
        text = text.cast(pa.string())
        # the largest kernel, in a helper thread while the rules below run (numpy releases the
        # GIL): a batch's wall time is then about the larger of the two, when a core is free
        n_tokens = _helper().submit(arrow_token_counts, text, ascii_only, controls)
        snippets = raw.snippets
        if snippets is not None and opts.max_chars >= SNIPPET_CHARS:  # cut when prepared
            if kept.size < n:
                snippets = snippets.take(pa.array(kept))
        else:
            snippets = _snippets(text, ascii_only)

        def given(kind: str, default_key: str | None = None) -> pa.Array:
            """A string field where the record has it, else the format's default."""
            values = _as_string(f[kind]) if kind in f else pa.nulls(m, pa.string())
            if defaults is not None and default_key and values.null_count:
                values = pc.coalesce(values, _as_string(defaults[default_key]))
            return values

        # ids: the record's, else the format's, else a content hash of the (truncated) text
        # language (py3langid, in Python, for the texts the fast path leaves) in the helper too,
        # after the token estimates, while this thread applies the rules below
        languages = _helper().submit(
            fill_language_array, self._languages(given("language", "language"), policy), text,
            ascii_only=ascii_only,
            samples=snippets if SNIPPET_CHARS == LANGUAGE_SAMPLE_CHARS else None,
            english=english)
        ids = given("id", "id")
        if ids.null_count:
            ids = self._fill_content_ids(ids, text)
        # url -> host (regex kernel) -> registered domain (once per distinct host)
        urls = given("url", "url")
        domains = self._domains(urls)

        if "date" in f:
            u = _Uniques(f["date"])
            parsed = [parse_date(v) if _present(v) else None for v in u.py]
            dates = pa.array([utc_micros(d) for d in parsed], pa.int64()).take(u.index)
            policy[UNPARSED_DATE_KEY] = (pa.array(
                [_json_key(UNPARSED_DATE_KEY) + json.dumps(str(v)[:64], ensure_ascii=False)
                 if _present(v) and d is None else None
                 for v, d in zip(u.py, parsed, strict=True)], pa.string()).take(u.index))
        else:
            dates = pa.nulls(m, pa.int64())
        if defaults is not None and dates.null_count:
            dates = pc.coalesce(dates, pa.array([utc_micros(d) for d in defaults["crawl_date"]],
                                                pa.int64()))
        dates = dates.cast(pa.timestamp("us", tz="UTC"))

        if "license" in f:
            u = _Uniques(f["license"])
            normal = [normalize_license(v) if _present(v) else None for v in u.py]
            licenses = pa.array(normal, pa.string()).take(u.index)
            policy["license_raw"] = (pa.array(
                [_json_key("license_raw") + json.dumps(str(v)[:META_MAX_STRING],
                                                       ensure_ascii=False)
                 if _present(v) and lic == UNKNOWN else None
                 for v, lic in zip(u.py, normal, strict=True)], pa.string()).take(u.index))
        else:
            licenses = pa.nulls(m, pa.string())
        if defaults is not None and licenses.null_count:
            licenses = pc.coalesce(licenses, _as_string(defaults["license"]))
        licenses = pc.fill_null(licenses, UNKNOWN)

        languages = languages.result()

        if "label" in f:
            u = _Uniques(f["label"])
            roles = u.map(lambda v: opts.role if v is None else _role(v, opts.role), pa.string())
            policy["label"] = (u.map(
                lambda v: None if v is None else
                _json_key("label") + json.dumps(str(v)[:64], ensure_ascii=False), pa.string()))
        else:
            roles = pa.repeat(pa.scalar(opts.role, pa.string()), m)

        if mapper.fixed_source is not None:
            sources = pa.repeat(pa.scalar(mapper.fixed_source, pa.string()), m)
        elif mapper.source_mode == "domain":
            sources = pc.fill_null(domains, "unknown")
        elif "source" in f:
            sources = _Uniques(f["source"]).map(
                lambda v: str(v) if v not in (None, "") else "unknown", pa.string())
        else:
            sources = pa.repeat(pa.scalar("unknown", pa.string()), m)
        if mapper.shard_synthetic:
            synthetic = pa.repeat(pa.scalar(True), m)
        else:
            synthetic = _Uniques(sources).map(mapper.is_synthetic, pa.bool_())

        repaired, unparsed = _repairs(pre, policy.get(UNPARSED_DATE_KEY), m)
        metas = _join_fragments(self._meta_fragments(pre, policy, extras, m, own_order), m)
        provenance = assemble_provenance(
            ids=ids, sources=sources,
            shards=pa.repeat(pa.scalar(self.shard, pa.string()), m), offsets=offsets,
            urls=urls, domains=domains, dates=dates, licenses=licenses, languages=languages,
            roles=roles, synthetic=synthetic, n_chars=pa.array(n_chars_np, pa.int64()),
            n_tokens=n_tokens.result(),
            snippets=snippets, metas=metas, cutoff=opts.cutoff)
        return ColumnarChunk(provenance=provenance, issues=chunk_issues, text_array=text,
                             issue_rows=issue_rows, invalid_utf8_rows=repaired,
                             n_unparsed_dates=unparsed)

    @staticmethod
    def _languages(given: pa.Array, policy: dict[str, pa.Array]) -> pa.Array:
        """Given language values (metadata, a format's default) as the store keeps them: one
        ISO 639-1 code per language (`EN`, `eng`, `en-US` -> `en`), by `primary_language` once
        per distinct value; a tag that loses a region or further languages is kept as written in
        `meta.language_raw`. Empty values become null, to be identified from the text."""
        if given.null_count == len(given):
            return given
        u = _Uniques(given)
        parsed = [parse_tag(v) for v in u.py]
        if any(loses for _, loses in parsed):
            policy["language_raw"] = pa.array(
                [_json_key("language_raw") + json.dumps(v[:64], ensure_ascii=False)
                 if loses else None for v, (_, loses) in zip(u.py, parsed, strict=True)],
                pa.string()).take(u.index)
        codes = [code for code, _ in parsed]
        if codes == u.py:  # already stored codes (the usual `en`): no second pass over the rows
            return given
        return pa.array(codes, pa.string()).take(u.index)

    @staticmethod
    def _meta_fragments(pre: list[dict | None] | None, policy: dict[str, pa.Array],
                        extras: list[tuple[str, Any, str]], m: int,
                        own_order: list[list[tuple[str, Any]] | None] | None = None,
                        ) -> list[pa.Array]:
        """`meta`'s fragments in order: the format's keys, the policy's, then the record's own
        fields, each left out where a key before it has its name, and up to `META_MAX_KEYS`
        keys in all."""
        null = pa.scalar(None, pa.string())
        fragments: list[pa.Array] = []
        count = np.zeros(m, dtype=np.int64)
        pre_keys: set[str] = set()
        if pre is not None:
            fragments.append(pa.array(
                [json.dumps(d, default=str, ensure_ascii=False)[1:-1] if d else None
                 for d in pre], pa.string()))
            count += np.fromiter((len(d) if d else 0 for d in pre), dtype=np.int64, count=m)
            pre_keys = {k for d in pre if d for k in d}
        for frag in policy.values():
            fragments.append(frag)
            count += _flags(frag.is_valid())
        for name, values, kind in extras:
            frag = _meta_fragment(name, kind, values)
            if frag is None:
                continue
            if name in policy:  # the policy's key wins where it is set
                frag = pc.if_else(pc.is_valid(policy[name]), null, frag)
            if name in pre_keys:
                frag = pc.if_else(pa.array([bool(d) and name in d for d in pre]), null, frag)
            valid = _flags(frag.is_valid())
            room = count < META_MAX_KEYS
            if (valid & ~room).any():
                frag = pc.if_else(pa.array(room), frag, null)
                valid &= room
            count += valid
            fragments.append(frag)
        if own_order is not None:  # records whose fields came in another order, by the same rules
            own: list[str | None] = [None] * m
            for r, fields in enumerate(own_order):
                if not fields:
                    continue
                parts = []
                for name, value in fields:
                    if (name in policy and policy[name][r].is_valid) or (
                            pre is not None and pre[r] and name in pre[r]):
                        continue
                    rendered = meta_json(value)
                    if rendered is None:
                        continue
                    if count[r] >= META_MAX_KEYS:
                        break
                    parts.append(_json_key(name) + rendered)
                    count[r] += 1
                own[r] = ", ".join(parts) or None
            fragments.append(pa.array(own, pa.string()))
        return fragments

    @staticmethod
    def _fill_content_ids(ids: pa.Array, text: pa.Array) -> pa.Array:
        """`content_id` of the text where the id is absent, hashing the UTF-8 bytes in place."""
        missing = np.flatnonzero(_flags(ids.is_null()))
        _, off_buf, data_buf = text.buffers()
        offsets = np.frombuffer(off_buf, dtype=np.int32, count=len(text) + 1,
                                offset=text.offset * 4).tolist()
        data = memoryview(data_buf) if data_buf is not None else memoryview(b"")
        sha1 = hashlib.sha1
        hashed = [sha1(data[offsets[i]:offsets[i + 1]]).hexdigest()[:16] for i in missing]
        if len(missing) == len(ids):
            return pa.array(hashed, pa.string())
        values = ids.to_pylist()
        for i, h in zip(missing, hashed, strict=True):
            values[i] = h
        return pa.array(values, pa.string())

    def _domains(self, urls: pa.Array) -> pa.Array:
        """Registered domains: plain URLs through the host regex kernel and one lookup per
        distinct host, the others per row through `registered_domain`."""
        if urls.null_count == len(urls):
            return pa.nulls(len(urls), pa.string())
        match = pc.extract_regex(urls, PLAIN_URL)
        plain = pc.is_valid(match)
        hosts = pc.if_else(plain, pc.struct_field(match, "host"), pa.scalar(None, pa.string()))
        hosts = pc.utf8_rtrim(pc.ascii_lower(hosts), characters=".")
        hosts = pc.if_else(pc.equal(hosts, ""), pa.scalar(None, pa.string()), hosts)
        domains = _HOSTS.domains_of(hosts)
        odd = np.flatnonzero(_flags(pc.and_(pc.is_valid(urls), pc.invert(plain))))
        if not odd.size:
            return domains
        values = domains.to_pylist()
        for i in odd:
            values[i] = registered_domain(urls[int(i)].as_py())
        return pa.array(values, pa.string())


def _spread(rows: list[int], values: list, n: int) -> list:
    """A column of `n` rows from the values at `rows` (None elsewhere)."""
    if len(rows) == n:
        return values
    column: list = [None] * n
    for i, v in zip(rows, values, strict=True):
        column[i] = v
    return column


def _too_deep(values: list) -> bool:
    """Whether a looked-up value nests too deeply for Python to turn into text."""
    try:
        for v in values:
            repr(v)
    except RecursionError:
        return True
    return False


def _same_order(keys: list[str], order: dict[str, int]) -> bool:
    """Whether `keys` (a record's metadata candidates, in record order) keep their order as
    columns of the batch so far, where keys not seen yet come last."""
    last, new = -1, len(order)
    for k in keys:
        at = order.get(k)
        if at is None:
            at, new = new, new + 1
        if at < last:
            return False
        last = at
    return True


def _role(label: Any, default: str) -> str:
    key = str(label).strip().lower()
    if key in HUMAN_LABELS:
        return "human_reference"
    if key in MACHINE_LABELS:
        return "machine_reference"
    return default


__all__ = ["BatchBuilder", "ColumnarChunk", "Prepared", "RawBatch", "Record", "meta_json"]
