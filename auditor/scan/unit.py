"""One work unit, start to end: read it, score it in batches, write its side-car.

`process_unit` is the whole job of a worker, local process or Ray task alike: it takes small
picklable arguments, touches no database, writes one side-car atomically and returns counts and
record issues for the driver to catalogue. All-or-nothing per unit: if anything raises (or none
of its records can be read), no side-car is written for it, the unit comes back `failed` with the reason, and the next run
retries it; a side-car therefore always holds a complete unit.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from auditor.readers.base import WorkUnit
from auditor.records import (
    PROVENANCE_SCHEMA,
    RecordIssue,
    reason_column,
    score_column,
)
from auditor.scan.options import ScanOptions, options_digest
from auditor.store.paths import StorePaths
from auditor.store.sidecar import (
    ATTRIBUTE_KEY,
    detector_arrays,
    detector_fields,
    read_sidecar,
    read_sidecar_info,
    stored_detectors,
    streamed_sidecar,
    write_attribute,
)

#: Longest URL stored; longer ones are cut (a URL is provenance, not content, and a hostile
#: file can put megabytes in it).
MAX_URL_CHARS = 2048
#: Crawl dates later than the scan's clock by more than this are impossible (a typo, a wrong
#: field, a unit mix-up) and are stored empty, counted in the run.
FUTURE_DATE_SLACK = dt.timedelta(days=1)

#: Detectors built in this process, by name: loaded once per worker, not once per unit.
_LOADED: dict = {}


def loaded_detector(name: str, paths: StorePaths | None = None):
    """The detector `name`, built once per process through `detectors.load` (once per store
    and state of what it reads there, for a detector whose spec `reads_store`: contamination's
    benchmark index, a store-fitted version such as `adapted`), so re-adding benchmarks or
    re-running `adapt` is seen by the next scan in the same process."""
    import detectors
    from detectors.adapted import store_model_dir

    per_store = paths is not None and any(s.reads_store for s in detectors.specs()
                                          if s.name == name)
    key = (name, paths.db, _mtime(os.path.join(paths.benchmark_index, "index.json")),
           _mtime(os.path.join(store_model_dir(paths.db, name), "model.json"))) \
        if per_store else name
    det = _LOADED.get(key)
    if det is None:
        det = _LOADED[key] = detectors.load(name, **({"store": paths} if per_store else {}))
    return det


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def fingerprint(unit: WorkUnit, options: ScanOptions) -> str:
    """What must stay equal for a stored unit to be reused: the shard's etag (else size, mtime
    and the content digest of a local file) and the reader options it was read with."""
    file_fp = f"etag:{unit.etag}" if unit.etag else f"size:{unit.size}:mtime:{unit.mtime!r}"
    if unit.digest and not unit.etag:
        file_fp += f":content:{unit.digest}"
    return f"{file_fp}|opts:{options_digest(options)}"


def same_file_other_options(stored: str | None, current: str) -> bool:
    """Whether a stored unit's `fingerprint` names the same file as `current` (etag, or size,
    mtime and content digest) read under other reader options: beside `fingerprint`, so the
    format has one home."""
    if not stored or "|opts:" not in stored:
        return False
    old_file, old_opts = stored.rsplit("|opts:", 1)
    new_file, new_opts = current.rsplit("|opts:", 1)
    return old_file == new_file and old_opts != new_opts


#: Size and content digest in a fingerprint written by `fingerprint` (local files only).
_FINGERPRINT_CONTENT = re.compile(r"^size:(\d+):.*:content:([0-9a-f]+)\|")


def fingerprint_content(fp: str | None) -> tuple[int, str] | None:
    """(size, content digest) of a stored unit's `fingerprint`, or None when it has none (a
    remote shard's etag): beside `fingerprint`, so the format has one home."""
    m = _FINGERPRINT_CONTENT.match(fp or "")
    return (int(m.group(1)), m.group(2)) if m else None


def unit_bytes(unit: WorkUnit) -> int:
    """Bytes of input this unit stands for (the shard split evenly), for MB/s and ETA."""
    return unit.size // max(unit.n_parts, 1)


def unit_label(unit: WorkUnit) -> str:
    return f"{unit.shard} (unit {unit.part + 1}/{unit.n_parts}, range {unit.start}:{unit.stop})"


@dataclass
class UnitResult:
    """What a worker hands back: enough for the driver to write the catalogue rows."""

    shard: str
    part: int
    n_parts: int
    range_start: int
    range_stop: int
    format: str
    fingerprint: str
    mode: str  # "scan" (read and stored) or "rescore" (only detector columns added)
    #: ok | partial (some records failed) | failed (unit not stored: it raised, or none of its
    #: records could be read)
    status: str
    sidecar: str | None
    detectors: dict[str, str]
    n_stored: int = 0
    n_skipped: int = 0
    n_failed: int = 0
    bytes: int = 0
    seconds: float = 0.0
    #: crawl dates after the scan's clock, stored empty (see `store_policy`)
    n_future_dates: int = 0
    #: URLs longer than MAX_URL_CHARS, stored cut
    n_long_urls: int = 0
    #: records stored with invalid UTF-8 replaced by U+FFFD (each also a `kept` issue)
    n_invalid_utf8: int = 0
    #: records whose date field could not be read: stored without a date (`meta` keeps it)
    n_unreadable_dates: int = 0
    issues: list[RecordIssue] = field(default_factory=list)
    #: detector name -> documents left unscored because their language is not the detector's
    n_out_of_language: dict[str, int] = field(default_factory=dict)

    def catalogue_row(self) -> dict:
        return {"shard": self.shard, "part": self.part, "n_parts": self.n_parts,
                "range_start": self.range_start, "range_stop": self.range_stop,
                "status": self.status, "sidecar": self.sidecar, "fingerprint": self.fingerprint,
                "detectors": self.detectors, "n_stored": self.n_stored,
                "n_skipped": self.n_skipped, "n_failed": self.n_failed, "bytes": self.bytes}


def _score_texts(det, texts: list[str], metas: list[dict], languages: list[str | None],
                 result: UnitResult | None = None) -> tuple[np.ndarray, list | None]:
    """Scores (and reasons, if the detector gives them) for a batch (`Detector.score_documents`):
    documents in a language the detector does not declare stay unscored (null) and are counted
    in `result.n_out_of_language`."""
    out = det.score_documents(texts, metas, languages)
    if result is not None and out.n_out_of_language:
        counts = result.n_out_of_language
        counts[det.name] = counts.get(det.name, 0) + out.n_out_of_language
    return out.scores, out.reasons


#: A worker reports records done at most this often (seconds), so progress moves within a
#: long unit (an LM scoring a 128 MB unit) without a message per record.
PROGRESS_EVERY_S = 0.5


class RecordTicker:
    """Counts records done in a unit and hands them to `report(unit_key, n)` at most every
    `PROGRESS_EVERY_S`; `report` may be a callback or a queue's `put` in another process."""

    def __init__(self, unit: WorkUnit, report) -> None:
        self.key = (unit.shard, unit.part)
        self.report = report
        self.pending = 0
        self.last = time.monotonic()

    def __call__(self, n: int) -> None:
        if self.report is None:
            return
        self.pending += n
        now = time.monotonic()
        if now - self.last >= PROGRESS_EVERY_S:
            self.report(self.key, self.pending)
            self.pending, self.last = 0, now


def process_unit(unit: WorkUnit, options: ScanOptions, detector_names: Sequence[str],
                 store_paths: StorePaths, rescore: bool = False,
                 on_records=None, reading: Reading | None = None) -> UnitResult:
    """Scan one unit into its side-car (or, with `rescore`, add missing detector columns).

    Never raises for bad input or a failing detector: the returned `UnitResult` says `failed`
    and carries the reason as a record issue naming the shard and unit. `on_records(key, n)`
    (key: (shard, part)) hears of records scored while the unit runs, for progress.
    `reading` may hand over the unit's reader already started and say whom to tell once its
    records are all read (see `Reading`).
    """
    tick = RecordTicker(unit, on_records)
    t0 = time.perf_counter()
    result = UnitResult(
        shard=unit.shard, part=unit.part, n_parts=unit.n_parts, range_start=unit.start,
        range_stop=unit.stop, format=unit.format, fingerprint=fingerprint(unit, options),
        mode="rescore" if rescore else "scan", status="ok",
        sidecar=store_paths.sidecar_path(unit.shard, unit.part, unit.n_parts), detectors={},
        bytes=unit_bytes(unit))
    try:
        if rescore:
            _rescore(unit, options, detector_names, result, store_paths, reading)
        else:
            _scan(unit, options, detector_names, result, store_paths, tick, reading)
    except Exception as exc:  # one bad unit must not stop the scan; the reason is recorded
        result.status = "failed"
        result.issues.append(RecordIssue(
            shard=unit.shard, record=f"unit {unit.part + 1}/{unit.n_parts} "
                                     f"(range {unit.start}:{unit.stop})",
            status="failed",
            reason=f"{'rescoring' if rescore else 'scanning'} the unit failed: "
                   f"{type(exc).__name__}: {exc}; fix the input or detector: the unit is "
                   "retried when its file changes or with `auditor scan --retry-failed`"))
        if not rescore:
            result.n_failed += result.n_stored  # read but not stored: the unit is all-or-nothing
            result.n_stored = 0
            result.sidecar = None
    result.seconds = time.perf_counter() - t0
    return result


def crashed_result(unit: WorkUnit, options: ScanOptions, store_paths: StorePaths,
                   rescore: bool, cause: str) -> UnitResult:
    """The result of a unit whose worker process died on it (a signal, out of memory, a crash
    in native code): failed with the cause, so the scan goes on and later runs hold it back."""
    return UnitResult(
        shard=unit.shard, part=unit.part, n_parts=unit.n_parts, range_start=unit.start,
        range_stop=unit.stop, format=unit.format, fingerprint=fingerprint(unit, options),
        mode="rescore" if rescore else "scan", status="failed", sidecar=None, detectors={},
        bytes=unit_bytes(unit),
        issues=[RecordIssue(
            shard=unit.shard, record=f"unit {unit.part + 1}/{unit.n_parts} "
                                     f"(range {unit.start}:{unit.stop})",
            status="failed",
            reason=f"the worker process died while {'rescoring' if rescore else 'scanning'} "
                   f"this unit ({cause}); the rest of the scan went on. The unit is held back "
                   "until its file changes or `auditor scan --retry-failed`")])


class _UnitUnreadable(Exception):
    """Raised inside the side-car block when no record of the unit could be read."""


def _scan(unit: WorkUnit, options: ScanOptions, names: Sequence[str], result: UnitResult,
          paths: StorePaths, tick=lambda n: None, reading: Reading | None = None) -> None:
    """Read and score the unit, writing its provenance side-car while it is read (a thread
    encodes each part as the next is read: `streamed_sidecar`); then the detectors' attribute
    side-cars, then the provenance side-car goes into place, so a catalogued unit's files are
    all there; attribute side-cars of detectors not scored now (an earlier scan's) go."""
    dets = [loaded_detector(n, paths) for n in names]
    result.detectors = {n: str(d.version) for n, d in zip(names, dets, strict=True)}
    now = dt.datetime.now(dt.timezone.utc)
    meta = unit_meta(unit, result.fingerprint)
    keys: list[pa.RecordBatch] = []  # the attribute side-cars' join key, chunk by chunk
    scores: list[list[pa.Array]] = []
    try:
        with streamed_sidecar(result.sidecar, PROVENANCE_SCHEMA, meta, {}) as write:
            for chunk in unit_chunks(unit, options, lambda issue: _count_issue(issue, result),
                                     reading):
                result.n_stored += chunk.provenance.num_rows
                note_repairs(unit, chunk, result)
                provenance = store_policy(chunk.provenance, now, result)
                write(provenance)
                arrays = _score_chunk(dets, chunk, options, result, tick)
                if dets:
                    keys.append(provenance.select(list(ATTRIBUTE_KEY)))
                    scores.append(arrays)
            if result.n_failed and not result.n_stored and not result.n_skipped:
                raise _UnitUnreadable  # drops the half-written side-car
            if dets:
                fields = [f for n, d in zip(names, dets, strict=True)
                          for f in detector_fields(n, d.gives_reasons)]
                key = pa.Table.from_batches(keys, schema=pa.schema(
                    [PROVENANCE_SCHEMA.field(k) for k in ATTRIBUTE_KEY]))
                columns = {f.name: pa.chunked_array([s[i] for s in scores], f.type)
                           for i, f in enumerate(fields)}
                write_attributes(paths, result.sidecar, key, columns, meta, result.detectors)
    except _UnitUnreadable:
        # Nothing of the unit could be read (a Parquet file without the text column, a broken
        # footer, every line bad): the unit failed as a whole, so it stores no side-car and
        # `--retry-failed` reads it again; `partial` would keep it as if it were done.
        result.status = "failed"
        result.sidecar = None
        return
    for name, path in paths.unit_attributes(result.sidecar).items():
        if name not in result.detectors:
            os.unlink(path)  # an earlier scan's detector, not scored now
    if result.n_failed:
        result.status = "partial"


@dataclass(frozen=True)
class UnitChunk:
    """Rows of a unit as read: provenance columns, and the texts and metadata detectors score
    (made only when asked: a provenance-only scan of a columnar unit makes no Python string)."""

    provenance: pa.RecordBatch
    texts: Callable[[], list[str]]
    metas: Callable[[], list[dict]]
    #: rows the reader repaired (`ColumnarChunk`): invalid UTF-8 replaced, dates not read
    invalid_utf8_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    n_unparsed_dates: int = 0


@dataclass
class Reading:
    """How a unit's records reach `process_unit` when a driver reads units back to back:
    `chunks`, the unit's `read_unit_chunks` already started (its read-ahead thread decoding
    while the unit before was finished), or None to start it here; `then`, called once the
    unit's records are all read, while its side-car is still being finished: the driver
    starts the next unit's reading there (an exception from it is ignored: the next unit then
    reads on its own and meets the same error in its own result)."""

    chunks: Iterator | None = None
    then: Callable[[], None] | None = None


def unit_chunks(unit: WorkUnit, options: ScanOptions, on_issue,
                reading: Reading | None = None) -> Iterator[UnitChunk]:
    """A unit's stored rows in reader order, batch by batch; record issues go to `on_issue`.

    The one reading loop of scanning and rescoring: every format through
    `auditor.readers.columnar` (record batches to provenance rows). Rescoring reads the same
    rows in the same order, so new scores line up with the stored rows by position (checked
    against offsets and ids).
    """
    from auditor.readers.stream import read_unit_chunks

    if reading is not None and reading.chunks is not None:
        items = reading.chunks
    else:
        items = read_unit_chunks(unit, options.reader)
    for item in items:
        if isinstance(item, RecordIssue):
            on_issue(item)
            continue
        for issue in item.issues:
            on_issue(issue)
        if item.n_rows:
            yield UnitChunk(item.provenance, item.texts, item.metas, item.invalid_utf8_rows,
                            item.n_unparsed_dates)
    if reading is not None and reading.then is not None:
        try:
            reading.then()
        except Exception:  # noqa: BLE001 - see `Reading`: the next unit reports its own error
            pass


def _score_chunk(dets: list, chunk: UnitChunk, options: ScanOptions, result: UnitResult,
                 tick) -> list[pa.Array]:
    """Each detector's columns (`detector_fields`) over one chunk, scored `batch_size` rows at
    a time."""
    n = chunk.provenance.num_rows
    if not dets:
        tick(n)
        return []
    step = max(options.batch_size, 1)
    texts, metas = chunk.texts(), chunk.metas()
    langs = chunk.provenance.column("language").to_pylist()
    arrays: list[pa.Array] = []
    for det in dets:
        parts = []
        for i in range(0, n, step):
            parts.append(_score_texts(det, texts[i:i + step], metas[i:i + step],
                                      langs[i:i + step], result))
            tick(len(parts[-1][0]) / len(dets))
        scores = np.concatenate([p[0] for p in parts])
        reasons = [r for p in parts for r in p[1]] if parts[0][1] is not None else None
        arrays.extend(detector_arrays(scores, reasons))
    return arrays


def write_attributes(paths: StorePaths, sidecar: str, key: pa.Table,
                     columns: Mapping[str, pa.ChunkedArray], meta: dict,
                     versions: dict[str, str]) -> None:
    """One attribute side-car per detector of a scanned unit (`key`: the unit's
    `ATTRIBUTE_KEY` columns; `columns`: every detector's `detector_fields`)."""
    for name, version in versions.items():
        own = {c: columns[c] for c in (score_column(name), reason_column(name)) if c in columns}
        write_attribute(paths.attribute_path(sidecar, name), key, own, name, version, meta)


def store_policy(batch: pa.RecordBatch, now: dt.datetime,
                 result: UnitResult) -> pa.RecordBatch:
    """What the store keeps of a provenance batch, the same for every reader: a crawl date
    after the scan's clock (beyond `FUTURE_DATE_SLACK`) is left empty, with its month and
    pre-cutoff flag, and counted; a URL is cut to `MAX_URL_CHARS`."""
    dates = batch.column("crawl_date")
    limit = pa.scalar(now + FUTURE_DATE_SLACK, pa.timestamp("us", tz="UTC"))
    future = pc.fill_null(pc.greater(dates, limit), False)
    n_future = pc.sum(future).as_py() or 0
    urls = batch.column("url")
    long = pc.fill_null(pc.greater(pc.utf8_length(urls), MAX_URL_CHARS), False)
    n_long = pc.sum(long).as_py() or 0
    if not n_future and not n_long:
        return batch
    columns = dict(zip(batch.schema.names, batch.columns, strict=True))
    if n_future:
        for name in ("crawl_date", "crawl_month", "pre_cutoff"):
            col = columns[name]
            columns[name] = pc.if_else(future, pa.nulls(len(col), col.type), col)
        result.n_future_dates += n_future
    if n_long:
        columns["url"] = pc.if_else(long, pc.utf8_slice_codeunits(urls, 0, MAX_URL_CHARS), urls)
        result.n_long_urls += n_long
    return pa.RecordBatch.from_arrays([columns[n] for n in batch.schema.names],
                                      schema=batch.schema)


INVALID_UTF8_REASON = ("invalid UTF-8 replaced: bytes that are not UTF-8 were stored as U+FFFD; "
                       "the record is kept (re-encode the file as UTF-8 to keep its text whole)")


def note_repairs(unit: WorkUnit, chunk: UnitChunk, result: UnitResult) -> None:
    """Records stored with a repair the reader reported (`ColumnarChunk`): invalid UTF-8
    replaced is a `kept` issue per record (in the errors table, so it is seen and counted); a
    date that could not be read (stored empty, the value kept in `meta`) is counted for the
    run's summary."""
    result.n_unreadable_dates += chunk.n_unparsed_dates
    if not len(chunk.invalid_utf8_rows):
        return
    result.n_invalid_utf8 += len(chunk.invalid_utf8_rows)
    unit_of = "row" if unit.format in ("parquet", "arrow", "hf") else "offset"
    offsets = chunk.provenance.column("offset").take(pa.array(chunk.invalid_utf8_rows))
    for offset in offsets.to_pylist():
        result.issues.append(RecordIssue(unit.shard, f"{unit_of} {offset}", "kept",
                                         INVALID_UTF8_REASON))


def _count_issue(item: RecordIssue, result: UnitResult) -> None:
    result.issues.append(item)
    if item.status == "kept":
        return  # stored too: counted with the stored records
    if item.status == "skipped":
        result.n_skipped += item.count
    else:
        result.n_failed += item.count


def unit_meta(unit: WorkUnit, fp: str) -> dict:
    return {"shard": unit.shard, "format": unit.format, "part": unit.part,
            "n_parts": unit.n_parts, "start": unit.start, "stop": unit.stop, "fingerprint": fp}


def _rescore(unit: WorkUnit, options: ScanOptions, names: Sequence[str],
             result: UnitResult, paths: StorePaths, reading: Reading | None = None) -> None:
    """Write the attribute side-cars of detectors the unit lacks (or has at another version).

    The unit is read again for its texts through `unit_chunks`, the scan's own reading loop, so
    rows come in the stored order (checked against offsets and ids). Neither the provenance
    side-car nor another detector's attribute side-car is touched.
    """
    info = read_sidecar_info(result.sidecar)
    if info.unit.get("fingerprint") != result.fingerprint:
        raise ValueError(f"side-car {result.sidecar} was made from another version of the shard;"
                         " it will be rescanned")
    dets = {n: loaded_detector(n, paths) for n in names}
    result.detectors = stored_detectors(paths, result.sidecar)
    todo = [n for n in names if result.detectors.get(n) != str(dets[n].version)]
    result.n_stored = info.n_rows
    if not todo:
        return
    stored = read_sidecar(result.sidecar, list(dict.fromkeys([*ATTRIBUTE_KEY, "offset", "id"])))
    offsets, ids = stored.column("offset"), stored.column("id")
    columns: dict[str, list[pa.Array]] = {name: [] for name in todo}
    at = 0
    for chunk in unit_chunks(unit, options, lambda issue: None, reading):
        n = chunk.provenance.num_rows
        if not (chunk.provenance.column("offset").equals(offsets.slice(at, n).combine_chunks())
                and chunk.provenance.column("id").equals(ids.slice(at, n).combine_chunks())):
            raise ValueError(f"{unit_label(unit)}: the records read again from row {at} are not "
                             "the stored ones; the shard changed since it was scanned")
        arrays = iter(_score_chunk([dets[name] for name in todo], chunk, options, result,
                                   lambda k: None))
        for name in todo:
            columns[name].append(next(arrays))
            if dets[name].gives_reasons:
                columns[name].append(next(arrays))
        at += n
    if at != info.n_rows:
        raise ValueError(f"{unit_label(unit)}: {info.n_rows - at} stored records were not "
                         "found when re-reading the shard; rescan it with --force")
    versions = {name: str(dets[name].version) for name in todo}
    for name in todo:
        fields = detector_fields(name, dets[name].gives_reasons)
        parts = columns[name]
        cols = {f.name: pa.chunked_array(parts[k::len(fields)], f.type)
                for k, f in enumerate(fields)}
        write_attribute(paths.attribute_path(result.sidecar, name), stored, cols, name,
                        versions[name], info.unit)
    result.detectors.update(versions)
