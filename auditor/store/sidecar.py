"""Side-car Parquet files: one per work unit, the per-document rows of the store.

A side-car holds provenance (`PROVENANCE_SCHEMA`) and one score column per detector, never the
text beyond a snippet, so the store stays small and a new detector adds a column instead of
rewriting the corpus (dolma's "attributes" idea). Files are written under a temporary name and
renamed, so a reader or a crash never sees half a file; the unit it came from and the detector
versions travel in the Parquet key-value metadata, which lets the catalogue be checked against
the files after a crash.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from auditor.records import (
    PROVENANCE_SCHEMA,
    SNIPPET_CHARS,
    Document,
    reason_column,
    score_column,
)

UNIT_KEY = b"auditor.unit"
DETECTORS_KEY = b"auditor.detectors"
#: Rows per Parquet row group: large, so DuckDB scans side-cars with few seeks.
ROW_GROUP_ROWS = 1 << 20


def provenance_batch(docs: Sequence[Document], cutoff: dt.date) -> pa.RecordBatch:
    """Provenance columns for a batch of documents, in `PROVENANCE_SCHEMA` order.

    Built column by column (one pass per field) rather than row by row: this is the scan's hot
    path, and Arrow builds a column from a Python list much faster than from row dicts.
    """
    n = len(docs)
    texts = [d.text for d in docs]
    text_arr = pa.array(texts, pa.large_string()) if n else pa.array([], pa.large_string())
    n_chars = pc.utf8_length(text_arr).cast(pa.int64())
    # Same count as records.estimate_tokens (str.split words * 1.3, rounded half to even).
    words = np.fromiter((len(t.split()) for t in texts), dtype=np.float64, count=n)
    n_tokens = pa.array(np.round(words * 1.3).astype(np.int64))
    snippet = pc.utf8_slice_codeunits(text_arr, 0, SNIPPET_CHARS).cast(pa.string())
    dates = [d.crawl_date for d in docs]
    crawl_date = pa.array(dates, pa.timestamp("us", tz="UTC"))
    crawl_month = pa.array([x.strftime("%Y-%m") if x is not None else None for x in dates],
                           pa.string())
    cutoff_dt = dt.datetime(cutoff.year, cutoff.month, cutoff.day, tzinfo=dt.timezone.utc)
    pre_cutoff = pa.array([None if x is None else _as_utc(x) < cutoff_dt for x in dates],
                          pa.bool_())
    meta = pa.array([json.dumps(d.meta, default=str, ensure_ascii=False) if d.meta else None
                     for d in docs], pa.string())
    columns = [
        pa.array([d.id for d in docs], pa.string()),
        pa.array([d.source for d in docs], pa.string()),
        pa.array([d.shard for d in docs], pa.string()),
        pa.array([d.offset for d in docs], pa.int64()),
        pa.array([d.url for d in docs], pa.string()),
        pa.array([d.domain for d in docs], pa.string()),
        crawl_date,
        crawl_month,
        pa.array([d.license for d in docs], pa.string()),
        pa.array([d.language for d in docs], pa.string()),
        pa.array([d.role for d in docs], pa.string()),
        pre_cutoff,
        pa.array([d.synthetic_by_construction for d in docs], pa.bool_()),
        n_chars,
        n_tokens,
        snippet,
        meta,
    ]
    return pa.RecordBatch.from_arrays(columns, schema=PROVENANCE_SCHEMA)


def _as_utc(x: dt.datetime) -> dt.datetime:
    return x.replace(tzinfo=dt.timezone.utc) if x.tzinfo is None else x


def detector_fields(name: str, gives_reasons: bool) -> list[pa.Field]:
    """The side-car columns a detector owns."""
    fields = [pa.field(score_column(name), pa.float64())]
    if gives_reasons:
        fields.append(pa.field(reason_column(name), pa.string()))
    return fields


def detector_arrays(scores: np.ndarray, reasons: Sequence[str | None] | None) -> list[pa.Array]:
    """Arrow columns for one detector's output over a batch, matching `detector_fields`."""
    arrays = [pa.array(np.asarray(scores, dtype=np.float64), pa.float64())]
    if reasons is not None:
        arrays.append(pa.array(list(reasons), pa.string()))
    return arrays


@dataclass(frozen=True)
class SidecarInfo:
    """What a side-car says about itself (from its footer; the rows are not read)."""

    path: str
    unit: dict
    detectors: dict[str, str]
    n_rows: int
    columns: tuple[str, ...]


def write_sidecar(path: str, table: pa.Table, unit: Mapping, detectors: Mapping[str, str]) -> None:
    """Write `table` to `path` atomically, with the unit and detector versions in its metadata.

    The file appears under its final name only once complete and flushed, so the catalogue
    (which is written after this returns) never points at a partial file, and a crash leaves at
    most a `*.tmp` file that the next scan removes.
    """
    metadata = dict(table.schema.metadata or {})
    metadata[UNIT_KEY] = json.dumps(dict(unit), sort_keys=True).encode()
    metadata[DETECTORS_KEY] = json.dumps(dict(detectors), sort_keys=True).encode()
    table = table.replace_schema_metadata(metadata)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        pq.write_table(table, tmp, row_group_size=ROW_GROUP_ROWS, compression="zstd")
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_sidecar_info(path: str) -> SidecarInfo:
    """Unit description and detector versions from a side-car footer."""
    pf = pq.ParquetFile(path)
    meta = pf.schema_arrow.metadata or {}
    unit = json.loads(meta.get(UNIT_KEY, b"{}"))
    detectors = json.loads(meta.get(DETECTORS_KEY, b"{}"))
    return SidecarInfo(path=path, unit=unit, detectors=detectors, n_rows=pf.metadata.num_rows,
                       columns=tuple(pf.schema_arrow.names))


def read_sidecar(path: str, columns: Sequence[str] | None = None) -> pa.Table:
    """The rows of one side-car (all columns unless given)."""
    return pq.read_table(path, columns=list(columns) if columns is not None else None)


def replace_detector_columns(path: str, new_columns: Mapping[str, pa.Array],
                             versions: Mapping[str, str]) -> None:
    """Set the given columns of a side-car (adding or replacing), keep every other column, and
    record `versions` (merged into the detector versions) -- atomically, like `write_sidecar`.

    Used when a detector is new or upgraded: only its columns are recomputed, never the others.
    """
    table = pq.read_table(path)
    info_meta = table.schema.metadata or {}
    unit = json.loads(info_meta.get(UNIT_KEY, b"{}"))
    detectors = json.loads(info_meta.get(DETECTORS_KEY, b"{}"))
    for name, array in new_columns.items():
        if len(array) != table.num_rows:
            raise ValueError(f"side-car {path}: new column {name!r} has {len(array)} rows, "
                             f"the side-car has {table.num_rows}; rescan the unit with --force")
        idx = table.schema.get_field_index(name)
        if idx >= 0:
            table = table.set_column(idx, name, array)
        else:
            table = table.append_column(name, array)
    detectors.update(versions)
    write_sidecar(path, table, unit, detectors)
