"""The columnar fast path: Arrow record batches straight to side-car provenance columns.

The per-record path (`read_unit` -> one `Document` per record -> `provenance_batch`) spends most
of a provenance-only scan in Python, once per record. Parquet and Arrow shards already arrive
as columns, so here each record batch becomes the side-car's provenance columns with
`pyarrow.compute`: lengths, snippets and word counts from the UTF-8 buffers, hosts by a regex
kernel, and the Python-only policies (registered domains, dates, licences, labels, sources) run
once per DISTINCT value of a batch instead of once per record.

The contract is that both paths store the same rows and the same `RecordIssue`s. Whatever the
columnar code cannot reproduce exactly (nested or dotted provenance fields, several candidate
columns for one field, invalid UTF-8, unusual column types, more metadata columns than `meta`
keeps) sends that batch through `RecordMapper.map`, the definition, and rows that need Python
semantics (`str.strip` on texts starting or ending in whitespace, unusual URLs, Unicode spaces in
word counts) are done per row in Python. Set `AUDITOR_SCAN_COLUMNAR=0` to switch the fast path
off and scan every record through the per-record path.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from auditor.provenance.dates import parse_date
from auditor.provenance.domains import registered_domain
from auditor.provenance.language import fill_language_array
from auditor.provenance.licenses import UNKNOWN, normalize_license
from auditor.readers.base import ReaderOptions, WorkUnit
from auditor.readers.mapping import (
    HUMAN_LABELS,
    MACHINE_LABELS,
    META_MAX_KEYS,
    META_MAX_STRING,
    RecordMapper,
    blank_reason,
)
from auditor.records import SNIPPET_CHARS, RecordIssue

#: Environment switch: "0", "false", "no" or "off" turns the columnar path off.
COLUMNAR_ENV = "AUDITOR_SCAN_COLUMNAR"
#: Reader batches are built together up to this many rows or bytes.
CHUNK_ROWS = 16384
CHUNK_BYTES = 32 << 20
#: Reader batches decoded ahead, in a background thread, while the current one is built.
READ_AHEAD = 2
#: Distinct hosts remembered per process (host -> registered domain) before the memo is reset.
DOMAIN_MEMO = 1 << 18

#: URLs of this plain shape (scheme, host of letters/digits/dots/dashes, optional port, then a
#: path, query, fragment or the end) have the host `auditor.provenance.domains.host_of` finds;
#: any other URL (user info, spaces, IPv6, no scheme) is taken per row by `registered_domain`.
PLAIN_URL = r"^[a-zA-Z][a-zA-Z0-9+.\-]{0,8}://(?P<host>[A-Za-z0-9._\-]*)(?::[0-9]*)?(?:[/?#]|$)"

_MAX_POLICY_KEYS = 5  # truncated, original_chars, unparsed_date, license_raw, label
#: A JSON string needs escaping (with ensure_ascii=False) only for these characters.
_JSON_ESCAPE = r'[\x00-\x1f"\\]'


def columnar_enabled() -> bool:
    """True unless `AUDITOR_SCAN_COLUMNAR` switches the fast path off."""
    return os.environ.get(COLUMNAR_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


@dataclass
class ColumnarChunk:
    """One record batch, read: its stored rows as provenance columns, and its issues.

    `texts()` and `metas()` are what detectors take; they are built only when asked, so a
    provenance-only scan never makes a Python string per document.
    """

    provenance: pa.RecordBatch
    issues: list[RecordIssue]
    text_array: pa.Array | None = None
    text_list: list[str] | None = None
    meta_list: list[dict] | None = field(default=None, repr=False)
    columnar: bool = True  # False: this batch went through the per-record path

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


def read_unit_columnar(unit: WorkUnit,
                       options: ReaderOptions) -> Iterator[ColumnarChunk | RecordIssue] | None:
    """Chunks (and unit-ending issues) of a Parquet or Arrow unit; None for formats without a
    columnar path (JSONL, WARC/WET, `hf:` datasets) or when the fast path is switched off, in
    which case the caller uses `auditor.readers.read_unit`."""
    if not columnar_enabled():
        return None
    if unit.format == "parquet":
        from auditor.readers.parquet import parquet_batches

        mapper = RecordMapper(options, unit.shard)
        source = parquet_batches(unit, options, mapper, batch_bytes=CHUNK_BYTES)
    elif unit.format in ("arrow", "hf") and not unit.shard.startswith("hf:"):
        from auditor.readers.hf import arrow_batches, arrow_mapper

        mapper = arrow_mapper(unit, options)
        source = arrow_batches(unit, options)
    else:
        return None
    # Parquet batches come sized by `batch_bytes`; Arrow files' batches are whatever the
    # writer chose (a saved dataset's are ~1000 rows), so those are gathered first.
    return _chunks(read_ahead(source), BatchBuilder(mapper), gather=unit.format != "parquet")


_DONE = object()
#: host -> registered domain, shared by the units a worker process scans (hosts recur).
_DOMAINS_OF: dict[str | None, str | None] = {}


def read_ahead(source: Iterator, depth: int = READ_AHEAD) -> Iterator:
    """`source`'s items, produced by a background thread up to `depth` items ahead.

    Decompressing and decoding the next batch (pyarrow, which releases the GIL) then overlaps
    building the current one (pyarrow compute and numpy, which release it too), so a scan
    needs about the time of the slower of the two instead of their sum. Memory grows by at most
    `depth` batches. An exception in the source is raised here, in the consumer; a consumer
    that stops early stops the thread at its next item.
    """
    if depth <= 0:
        yield from source
        return
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(entry: tuple) -> bool:
        while not stop.is_set():
            try:
                items.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in source:
                if not offer((item, None)):
                    return
            offer((_DONE, None))
        except BaseException as exc:  # handed to the consumer, which raises it
            offer((_DONE, exc))

    thread = threading.Thread(target=produce, name="auditor-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item, error = items.get()
            if item is _DONE:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        thread.join()
        close = getattr(source, "close", None)
        if close is not None:
            close()


def _chunks(source: Iterator, builder: BatchBuilder,
            gather: bool = True) -> Iterator[ColumnarChunk | RecordIssue]:
    """Build consecutive reader batches together, up to `CHUNK_ROWS` rows or `CHUNK_BYTES`:
    per-call overhead then stays small beside the work, and the rows stored are the same as
    batch by batch (a unit-ending issue first flushes what was read before it)."""
    pending: list[pa.RecordBatch] = []
    first = rows = size = 0

    def flush() -> ColumnarChunk:
        batch = pending[0] if len(pending) == 1 else pa.concat_batches(pending)
        pending.clear()
        return builder.build(batch, first)

    for item in source:
        if isinstance(item, RecordIssue):
            if pending:
                yield flush()
            yield item
            return
        batch, row = item
        if pending and batch.schema != pending[0].schema:
            yield flush()
        if not pending:
            first, rows, size = row, 0, 0
        pending.append(batch)
        rows += batch.num_rows
        size += batch.nbytes
        if not gather or rows >= CHUNK_ROWS or size >= CHUNK_BYTES:
            yield flush()
    if pending:
        yield flush()


@dataclass(frozen=True)
class _Plan:
    """How one batch schema maps to provenance: which column feeds which field."""

    text: str
    id: str | None
    url: str | None
    date: str | None
    license: str | None
    language: str | None
    label: str | None
    source: str | None
    meta: tuple[tuple[str, str], ...]  # (column, kind) in record order
    fields_present: str  # for the "no text field" issue, as RecordMapper words it


class _Fallback(Exception):
    """This batch needs the per-record path to be stored exactly as it defines."""


class _Uniques:
    """The distinct values of a column, to run Python policy once per value, not per row."""

    def __init__(self, values: pa.Array) -> None:
        self.values = pc.unique(values)
        self.index = pc.index_in(values, value_set=self.values)
        self.py = self.values.to_pylist()

    def map(self, fn: Callable[[Any], Any], type_: pa.DataType) -> pa.Array:
        return pa.array([fn(v) for v in self.py], type_).take(self.index)


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _present(value: Any) -> bool:
    """`RecordMapper._first`'s test: a field counts when it is neither None nor ""."""
    return value is not None and value != ""


def _nonempty_strings(values: pa.Array) -> pa.Array:
    """String column with "" as null (absent), as plain `string`."""
    values = values.cast(pa.string())
    return pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)


def _as_string(values: pa.Array) -> pa.Array:
    """`str(value)` for present values, null for absent ones, exactly as the mapper writes it."""
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


class BatchBuilder:
    """Turns record batches of one shard into `ColumnarChunk`s under the mapper's policy."""

    def __init__(self, mapper: RecordMapper) -> None:
        self.mapper = mapper
        self.options = mapper.options
        self.shard = mapper.shard
        self._plans: dict[pa.Schema, _Plan | None] = {}

    def build(self, batch: pa.RecordBatch, first_row: int) -> ColumnarChunk:
        """The chunk for `batch`, whose first row is row `first_row` of the shard."""
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
        if plan is not None:
            try:
                return self._columnar(batch, first_row, plan)
            except _Fallback:
                pass
        return self.per_record(batch, first_row)

    # -- the definition, for batches the columnar code does not take --------------------------

    def per_record(self, batch: pa.RecordBatch, first_row: int) -> ColumnarChunk:
        """The batch through `RecordMapper.map`, record by record."""
        from auditor.readers.provenance_rows import provenance_batch

        docs, issues = [], []
        row = first_row
        for record in batch.to_pylist():
            item = self.mapper.map(record, row, f"row {row}")
            (issues if isinstance(item, RecordIssue) else docs).append(item)
            row += 1
        return ColumnarChunk(provenance=provenance_batch(docs, self.options.cutoff),
                             issues=issues, text_list=[d.text for d in docs],
                             meta_list=[d.meta for d in docs], columnar=False)

    # -- planning: which columns feed which field, decided once per schema -------------------

    def _plan(self, schema: pa.Schema) -> _Plan | None:
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

        id_col, url_col = single(m.id_fields), single(m.url_fields)
        date_col, lic_col = single(m.date_fields), single(m.license_fields)
        lang_col = single(m.language_fields)
        label_col = exact(opts.label_column)
        source_col = exact(m.source_arg) if m.source_mode == "column" else None
        always_used = {text, opts.label_column or "", m.source_arg if m.source_mode == "column"
                       else ""}
        candidates = {id_col, url_col, date_col, lic_col, lang_col} - {None}
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
        if len(meta) + _MAX_POLICY_KEYS > META_MAX_KEYS:
            raise _Fallback  # the key cap could cut meta per row
        fields_present = ", ".join(sorted(map(str, names))[:20])
        return _Plan(text, id_col, url_col, date_col, lic_col, lang_col, label_col, source_col,
                     tuple(meta), fields_present)

    # -- the columnar build --------------------------------------------------------------------

    def _columnar(self, batch: pa.RecordBatch, first_row: int, plan: _Plan) -> ColumnarChunk:
        from auditor.readers.provenance_rows import assemble_provenance, utc_micros
        from auditor.readers.textstats import arrow_word_counts, text_bytes

        opts = self.options
        n = batch.num_rows
        text = batch.column(plan.text)
        if not _is_text(text.type):
            try:
                text = text.cast(pa.string())  # binary: valid UTF-8 or the per-record path
            except pa.ArrowInvalid:
                raise _Fallback from None
        try:
            text.validate(full=True)  # invalid UTF-8 in a string column: the mapper decides
        except pa.ArrowInvalid:
            raise _Fallback from None

        if pa.types.is_large_string(text.type):
            text = text.cast(pa.string())
        keep = np.ones(n, dtype=bool)
        issues: dict[int, RecordIssue] = {}
        nulls = np.asarray(text.is_null())
        for i in np.flatnonzero(nulls):
            where = f"row {first_row + i}"
            issues[i] = self.mapper.issue(
                where, "failed", f"no {plan.text!r} field in {where} of {self.shard} (fields "
                f"present: {plan.fields_present}); pass --text-column")
        keep &= ~nulls
        buf, offs = text_bytes(text)
        ascii_only = buf.size == 0 or int(buf.max()) < 0x80
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
                issues[i] = self.mapper.issue(f"row {first_row + i}", "skipped", reason)
                keep[i] = False

        kept = np.flatnonzero(keep)
        if kept.size < n:
            idx = pa.array(kept)
            batch, text = batch.take(idx), text.take(idx)
            n_chars_np = n_chars_np[kept]
        m = batch.num_rows
        offsets = pa.array(first_row + kept, pa.int64())
        policy: dict[str, pa.Array] = {}  # meta keys the policy sets, in the mapper's order

        long = n_chars_np > opts.max_chars
        if long.any():
            mask = pa.array(long)
            text = pc.if_else(mask, pc.utf8_slice_codeunits(text, 0, opts.max_chars), text)
            policy["truncated"] = pc.if_else(mask, pa.scalar('"truncated": true'),
                                             pa.scalar(None, pa.string()))
            policy["original_chars"] = pc.if_else(mask, _prefixed(
                '"original_chars": ', pa.array(n_chars_np).cast(pa.string())),
                pa.scalar(None, pa.string()))
            n_chars_np = np.minimum(n_chars_np, opts.max_chars)
        text = text.cast(pa.string())
        if ascii_only:  # bytes are characters
            snippets = pc.binary_slice(text.view(pa.binary()), 0, SNIPPET_CHARS).view(pa.string())
        else:
            snippets = pc.utf8_slice_codeunits(text, 0, SNIPPET_CHARS)

        col = batch.column
        # ids: the id column where present, else a content hash of the (truncated) text
        ids = _as_string(col(plan.id)) if plan.id else pa.nulls(m, pa.string())
        if ids.null_count:
            ids = self._fill_content_ids(ids, text)

        # url -> host (regex kernel) -> registered domain (once per distinct host)
        urls = _as_string(col(plan.url)) if plan.url else pa.nulls(m, pa.string())
        domains = self._domains(urls)

        if plan.date:
            u = _Uniques(col(plan.date))
            parsed = [parse_date(v) if _present(v) else None for v in u.py]
            dates = pa.array([utc_micros(d) for d in parsed], pa.int64()).take(u.index)
            policy["unparsed_date"] = (pa.array(
                [_json_key("unparsed_date") + json.dumps(str(v)[:64], ensure_ascii=False)
                 if _present(v) and d is None else None for v, d in zip(u.py, parsed,
                                                                         strict=True)],
                pa.string()).take(u.index))
        else:
            dates = pa.nulls(m, pa.int64())
        dates = dates.cast(pa.timestamp("us", tz="UTC"))

        if plan.license:
            u = _Uniques(col(plan.license))
            normal = [normalize_license(v) if _present(v) else UNKNOWN for v in u.py]
            licenses = pa.array(normal, pa.string()).take(u.index)
            policy["license_raw"] = (pa.array(
                [_json_key("license_raw") + json.dumps(str(v)[:META_MAX_STRING],
                                                       ensure_ascii=False)
                 if _present(v) and lic == UNKNOWN else None
                 for v, lic in zip(u.py, normal, strict=True)], pa.string()).take(u.index))
        else:
            licenses = pa.repeat(pa.scalar(UNKNOWN, pa.string()), m)

        languages = fill_language_array(_as_string(col(plan.language)) if plan.language
                                        else None, text, ascii_only=ascii_only)

        if plan.label:
            u = _Uniques(col(plan.label))
            roles = u.map(lambda v: opts.role if v is None else _role(v, opts.role), pa.string())
            policy["label"] = (u.map(
                lambda v: None if v is None else
                _json_key("label") + json.dumps(str(v)[:64], ensure_ascii=False), pa.string()))
        else:
            roles = pa.repeat(pa.scalar(opts.role, pa.string()), m)

        mapper = self.mapper
        if mapper.fixed_source is not None:
            sources = pa.repeat(pa.scalar(mapper.fixed_source, pa.string()), m)
        elif mapper.source_mode == "domain":
            sources = pc.fill_null(domains, "unknown")
        elif plan.source:
            sources = _Uniques(col(plan.source)).map(
                lambda v: str(v) if v not in (None, "") else "unknown", pa.string())
        else:
            sources = pa.repeat(pa.scalar("unknown", pa.string()), m)
        if mapper.shard_synthetic:
            synthetic = pa.repeat(pa.scalar(True), m)
        else:
            synthetic = _Uniques(sources).map(mapper.is_synthetic, pa.bool_())

        fragments = list(policy.values())
        for name, kind in plan.meta:
            frag = _meta_fragment(name, kind, col(name))
            if frag is not None and name in policy:  # the policy's key wins where it is set
                frag = pc.if_else(pc.is_valid(policy[name]), pa.scalar(None, pa.string()), frag)
            if frag is not None:
                fragments.append(frag)

        provenance = assemble_provenance(
            ids=ids, sources=sources,
            shards=pa.repeat(pa.scalar(self.shard, pa.string()), m), offsets=offsets,
            urls=urls, domains=domains, dates=dates, licenses=licenses, languages=languages,
            roles=roles, synthetic=synthetic, n_chars=pa.array(n_chars_np, pa.int64()),
            word_counts=arrow_word_counts(text, ascii_only=ascii_only),
            snippets=snippets,
            metas=_join_fragments(fragments, m), cutoff=opts.cutoff)
        return ColumnarChunk(provenance=provenance,
                             issues=[issues[i] for i in sorted(issues)], text_array=text)

    @staticmethod
    def _fill_content_ids(ids: pa.Array, text: pa.Array) -> pa.Array:
        """`content_id` of the text where the id is absent, hashing the UTF-8 bytes in place."""
        missing = np.flatnonzero(np.asarray(ids.is_null()))
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

    @staticmethod
    def _domain_of_hosts(hosts: list[str | None]) -> list[str | None]:
        memo = _DOMAINS_OF
        if len(memo) > DOMAIN_MEMO:
            memo.clear()
        out = []
        for h in hosts:
            d = memo.get(h, memo)
            if d is memo:
                d = memo[h] = registered_domain(h) if h else None
            out.append(d)
        return out

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
        u = _Uniques(hosts)
        domains = pa.array(self._domain_of_hosts(u.py), pa.string()).take(u.index)
        odd = np.flatnonzero(np.asarray(pc.and_(pc.is_valid(urls), pc.invert(plain))))
        if not odd.size:
            return domains
        values = domains.to_pylist()
        for i in odd:
            values[i] = registered_domain(urls[int(i)].as_py())
        return pa.array(values, pa.string())


def _role(label: Any, default: str) -> str:
    key = str(label).strip().lower()
    if key in HUMAN_LABELS:
        return "human_reference"
    if key in MACHINE_LABELS:
        return "machine_reference"
    return default


def _meta_fragment(name: str, kind: str, values: pa.Array) -> pa.Array | None:
    """`"name": value` per row where `RecordMapper.map` would put the column in `meta`."""
    key = _json_key(name)
    null = pa.scalar(None, pa.string())
    if kind == "empty":  # a provenance candidate column reaches meta only as ""
        if not pc.any(pc.equal(values, "")).as_py():
            return None
        return pc.if_else(pc.equal(values, ""), pa.scalar(key + '""'), null)
    if kind == "string":
        values = values.cast(pa.string())
        short = pc.less_equal(pc.utf8_length(values), META_MAX_STRING)
        if pc.any(pc.match_substring_regex(values, _JSON_ESCAPE)).as_py():
            return pa.array([key + json.dumps(v, ensure_ascii=False)
                             if v is not None and len(v) <= META_MAX_STRING else None
                             for v in values.to_pylist()], pa.string())
        return pc.if_else(short, _prefixed(key + '"', values, '"'), null)
    if kind == "bool":
        return _prefixed(key, pc.if_else(values, pa.scalar("true"), pa.scalar("false")))
    if kind == "int":
        return _prefixed(key, values.cast(pa.string()))
    # float: Python's repr, as json.dumps writes it; NaN and infinities are left out
    return pa.array([key + json.dumps(v) if v is not None and math.isfinite(v) else None
                     for v in values.to_pylist()], pa.string())


__all__ = ["COLUMNAR_ENV", "BatchBuilder", "ColumnarChunk", "columnar_enabled",
           "read_unit_columnar"]
