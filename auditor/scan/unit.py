"""One work unit, start to end: read it, score it in batches, write its side-car.

`process_unit` is the whole job of a worker, local process or Ray task alike: it takes small
picklable arguments, touches no database, writes one side-car atomically and returns counts and
record issues for the driver to catalogue. All-or-nothing per unit: if anything raises, no
side-car is written for it, the unit comes back `failed` with the reason, and the next run
retries it; a side-car therefore always holds a complete unit.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from auditor.readers.base import WorkUnit
from auditor.records import (
    PROVENANCE_SCHEMA,
    Document,
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
    provenance_batch,
    read_sidecar,
    read_sidecar_info,
    stored_detectors,
    write_attribute,
    write_sidecar,
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
    and state of its benchmark index for a detector whose spec `reads_store`: contamination)."""
    import detectors

    per_store = paths is not None and any(s.reads_store for s in detectors.specs()
                                          if s.name == name)
    key = (name, paths.db, _mtime(os.path.join(paths.benchmark_index, "index.json"))) \
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
    status: str  # ok | partial (some records failed) | failed (unit not stored)
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
    issues: list[RecordIssue] = field(default_factory=list)
    #: detector name -> documents left unscored because their language is not the detector's
    n_out_of_language: dict[str, int] = field(default_factory=dict)

    def catalogue_row(self) -> dict:
        return {"shard": self.shard, "part": self.part, "n_parts": self.n_parts,
                "range_start": self.range_start, "range_stop": self.range_stop,
                "status": self.status, "sidecar": self.sidecar, "fingerprint": self.fingerprint,
                "detectors": self.detectors, "n_stored": self.n_stored,
                "n_skipped": self.n_skipped, "n_failed": self.n_failed, "bytes": self.bytes}


def _score(det, docs: Sequence[Document], result: UnitResult | None = None
           ) -> tuple[np.ndarray, list | None]:
    """Scores (and reasons) for a batch of documents; see `_score_texts`."""
    return _score_texts(det, [d.text for d in docs], [d.meta for d in docs],
                        [d.language for d in docs], result)


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
                 on_records=None) -> UnitResult:
    """Scan one unit into its side-car (or, with `rescore`, add missing detector columns).

    Never raises for bad input or a failing detector: the returned `UnitResult` says `failed`
    and carries the reason as a record issue naming the shard and unit. `on_records(key, n)`
    (key: (shard, part)) hears of records scored while the unit runs, for progress.
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
            _rescore(unit, options, detector_names, result, store_paths)
        else:
            _scan(unit, options, detector_names, result, store_paths, tick)
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


def _scan(unit: WorkUnit, options: ScanOptions, names: Sequence[str], result: UnitResult,
          paths: StorePaths, tick=lambda n: None) -> None:
    from auditor.readers.columnar import read_unit_columnar

    dets = [loaded_detector(n, paths) for n in names]
    result.detectors = {n: str(d.version) for n, d in zip(names, dets, strict=True)}
    schema = pa.schema(list(PROVENANCE_SCHEMA) + [
        f for n, d in zip(names, dets, strict=True) for f in detector_fields(n, d.gives_reasons)])
    chunks = read_unit_columnar(unit, options.reader)
    if chunks is None:
        batches = _scan_records(unit, options, dets, schema, result, tick)
    else:
        batches = _scan_columnar(chunks, options, dets, schema, result, tick)
    table = pa.Table.from_batches(batches, schema=schema)
    write_unit_files(paths, result.sidecar, table, unit_meta(unit, result.fingerprint),
                     result.detectors)
    if result.n_failed:
        result.status = "partial"


def write_unit_files(paths: StorePaths, sidecar: str, table: pa.Table, meta: dict,
                     versions: dict[str, str]) -> None:
    """Split a scanned unit's rows into its side-cars: one attribute side-car per detector,
    then the provenance side-car (each atomic). Attribute side-cars of this unit for detectors
    not scored now are removed: they belonged to an earlier scan of the unit."""
    for name, version in versions.items():
        columns = {c: table.column(c) for c in (score_column(name), reason_column(name))
                   if c in table.column_names}
        write_attribute(paths.attribute_path(sidecar, name), table, columns, name, version, meta)
    write_sidecar(sidecar, table.select(PROVENANCE_SCHEMA.names), meta, {})
    for name, path in paths.unit_attributes(sidecar).items():
        if name not in versions:
            os.unlink(path)


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


def _count_issue(item: RecordIssue, result: UnitResult) -> None:
    result.issues.append(item)
    if item.status == "skipped":
        result.n_skipped += 1
    else:
        result.n_failed += 1


def _scan_columnar(chunks, options: ScanOptions, dets: list, schema: pa.Schema,
                   result: UnitResult, tick) -> list[pa.RecordBatch]:
    """Parquet and Arrow units: provenance columns straight from Arrow batches
    (`auditor.readers.columnar`); Python strings are made only for detectors to score."""
    batches: list[pa.RecordBatch] = []
    step = max(options.batch_size, 1)
    now = dt.datetime.now(dt.timezone.utc)
    for item in chunks:
        if isinstance(item, RecordIssue):
            _count_issue(item, result)
            continue
        for issue in item.issues:
            _count_issue(issue, result)
        if not item.n_rows:
            continue
        result.n_stored += item.n_rows
        arrays = list(store_policy(item.provenance, now, result).columns)
        if dets:
            texts, metas = item.texts(), item.metas()
            langs = item.provenance.column("language").to_pylist()
            for det in dets:
                parts = []
                for i in range(0, len(texts), step):
                    parts.append(_score_texts(det, texts[i:i + step], metas[i:i + step],
                                              langs[i:i + step], result))
                    tick(len(parts[-1][0]) / len(dets))
                scores = np.concatenate([p[0] for p in parts])
                reasons = ([r for p in parts for r in p[1]] if parts[0][1] is not None
                           else None)
                arrays.extend(detector_arrays(scores, reasons))
        if not dets:
            tick(item.n_rows)
        batches.append(pa.RecordBatch.from_arrays(arrays, schema=schema))
    return batches


def _scan_records(unit: WorkUnit, options: ScanOptions, dets: list, schema: pa.Schema,
                  result: UnitResult, tick) -> list[pa.RecordBatch]:
    """Other formats (and every format with the columnar path off): one `Document` per record."""
    from auditor.readers import read_unit

    cutoff = options.reader.cutoff
    now = dt.datetime.now(dt.timezone.utc)
    batches: list[pa.RecordBatch] = []
    docs: list[Document] = []

    def flush() -> None:
        if not docs:
            return
        arrays = store_policy(provenance_batch(docs, cutoff), now, result).columns
        for det in dets:
            scores, reasons = _score(det, docs, result)
            arrays.extend(detector_arrays(scores, reasons))
        batches.append(pa.RecordBatch.from_arrays(arrays, schema=schema))
        tick(len(docs))
        docs.clear()

    for item in read_unit(unit, options.reader):
        if isinstance(item, RecordIssue):
            _count_issue(item, result)
            continue
        docs.append(item)
        result.n_stored += 1
        if len(docs) >= options.batch_size:
            flush()
    flush()
    return batches


def unit_meta(unit: WorkUnit, fp: str) -> dict:
    return {"shard": unit.shard, "format": unit.format, "part": unit.part,
            "n_parts": unit.n_parts, "start": unit.start, "stop": unit.stop, "fingerprint": fp}


def _rescore(unit: WorkUnit, options: ScanOptions, names: Sequence[str],
             result: UnitResult, paths: StorePaths) -> None:
    """Write the attribute side-cars of detectors the unit lacks (or has at another version).

    The unit is read again for its texts; rows are matched by (offset, id), so the new scores
    line up with the stored rows whatever order the reader yields. Neither the provenance
    side-car nor another detector's attribute side-car is touched.
    """
    from auditor.readers import read_unit

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
    row_of = {off: i for i, off in enumerate(stored.column("offset").to_pylist())}
    ids = stored.column("id").to_pylist()
    n = info.n_rows
    scores = {name: np.full(n, np.nan) for name in todo}
    reasons = {name: [None] * n for name in todo if dets[name].gives_reasons}
    seen = np.zeros(n, dtype=bool)
    docs: list[Document] = []

    def flush() -> None:
        rows = [row_of[d.offset] for d in docs]
        for name in todo:
            s, r = _score(dets[name], docs, result)
            scores[name][rows] = s
            if r is not None:
                for i, reason in zip(rows, r, strict=True):
                    reasons[name][i] = reason
        seen[rows] = True
        docs.clear()

    for item in read_unit(unit, options.reader):
        if isinstance(item, RecordIssue):
            continue
        i = row_of.get(item.offset)
        if i is None or ids[i] != item.id:
            raise ValueError(f"{unit_label(unit)}: record at offset {item.offset} is not in the "
                             "side-car; the shard changed since it was scanned")
        docs.append(item)
        if len(docs) >= options.batch_size:
            flush()
    if docs:
        flush()
    if not seen.all():
        raise ValueError(f"{unit_label(unit)}: {int((~seen).sum())} stored records were not "
                         "found when re-reading the shard; rescan it with --force")
    versions = {name: str(dets[name].version) for name in todo}
    for name in todo:
        arrays = detector_arrays(scores[name], reasons.get(name))
        columns = {score_column(name): arrays[0]}
        if name in reasons:
            columns[reason_column(name)] = arrays[1]
        write_attribute(paths.attribute_path(result.sidecar, name), stored, columns, name,
                        versions[name], info.unit)
    result.detectors.update(versions)
