"""Side-car Parquet files, the per-document rows of the store.

Each work unit has one provenance side-car (`PROVENANCE_SCHEMA`, never the text beyond a
snippet) and, per detector, one attribute side-car (dolma's "attributes" design): the unit's
join key (`ATTRIBUTE_KEY`) and that detector's score (and reason) columns at one version. So
adding or rescoring a detector writes its own small files and never rewrites provenance or
other detectors' scores; the `documents` view joins them (`auditor.store.catalogue`). Stores
written before this hold score columns inside provenance side-cars; the view still reads them.

Files are written under a temporary name and renamed, so a reader or a crash never sees half a
file; the unit it came from and the detector versions travel in the Parquet key-value
metadata, which lets the catalogue be checked against the files after a crash.
"""

from __future__ import annotations

import json
import os
import queue
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from auditor.output_files import replaced_when_done
from auditor.records import reason_column, score_column
from auditor.store.paths import StorePaths

UNIT_KEY = b"auditor.unit"
#: Columns an attribute side-car shares with its unit's provenance rows: what joins them.
#: A record's offset is unique within its shard (byte offset or row number).
ATTRIBUTE_KEY = ("shard", "offset")
DETECTORS_KEY = b"auditor.detectors"
#: Rows per Parquet row group: large, so DuckDB scans side-cars with few seeks.
ROW_GROUP_ROWS = 1 << 20
#: Fewest rows per row group of a side-car written while its rows are made
#: (`streamed_sidecar`): each batch of the reader (10k-16k rows from Parquet) is a row group,
#: written while the next is built, so a unit's end waits only for its last batch (with row
#: groups of 64k rows the scan waited ~75 ms per unit for the writer); small record batches
#: (2,048 JSON lines) are gathered first.
STREAMED_ROW_GROUP_ROWS = 1 << 13
#: Batches waiting for the side-car writer thread before `write` blocks.
STREAM_QUEUE = 4
#: Columns with few distinct values, dictionary-encoded. The others (ids, URLs, snippets,
#: metadata, scores) are nearly unique per row, where building a dictionary only to give it
#: up costs a large share of the write.
DICTIONARY_COLUMNS = ("source", "shard", "domain", "crawl_month", "license", "language", "role")
#: Columns written without min/max statistics: nearly unique, unsorted strings, where a row
#: group's min and max prune nothing and only cost the writer time.
UNSORTED_TEXT_COLUMNS = ("id", "url", "snippet", "meta")


def detector_fields(name: str, gives_reasons: bool) -> list[pa.Field]:
    """The side-car columns a detector owns."""
    fields = [pa.field(score_column(name), pa.float64())]
    if gives_reasons:
        fields.append(pa.field(reason_column(name), pa.string()))
    return fields


def detector_arrays(scores: np.ndarray, reasons: Sequence[str | None] | None) -> list[pa.Array]:
    """Arrow columns for one detector's output over a batch, matching `detector_fields`."""
    # NaN (unscored, e.g. a language the detector does not declare) is stored as null
    arrays = [pa.array(np.asarray(scores, dtype=np.float64), pa.float64(), from_pandas=True)]
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
    table = table.replace_schema_metadata(_sidecar_metadata(table.schema, unit, detectors))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with replaced_when_done(path) as tmp:  # `<side-car>.<pid>.tmp`: what reconcile removes
        pq.write_table(table, tmp, row_group_size=ROW_GROUP_ROWS, **_encoding(table.schema))


def _sidecar_metadata(schema: pa.Schema, unit: Mapping,
                      detectors: Mapping[str, str]) -> dict:
    """`schema`'s metadata plus the unit and detector versions every side-car carries."""
    metadata = dict(schema.metadata or {})
    metadata[UNIT_KEY] = json.dumps(dict(unit), sort_keys=True).encode()
    metadata[DETECTORS_KEY] = json.dumps(dict(detectors), sort_keys=True).encode()
    return metadata


def _encoding(schema: pa.Schema) -> dict:
    """The Parquet writer's options for a side-car of `schema` (one for both writers)."""
    return {"compression": "zstd",
            "use_dictionary": [c for c in DICTIONARY_COLUMNS if c in schema.names],
            "write_statistics": [c for c in schema.names if c not in UNSORTED_TEXT_COLUMNS]}


@contextmanager
def streamed_sidecar(path: str, schema: pa.Schema, unit: Mapping,
                     detectors: Mapping[str, str],
                     row_group_rows: int = STREAMED_ROW_GROUP_ROWS,
                     ) -> Iterator[Callable[[pa.RecordBatch], None]]:
    """`write_sidecar` for rows that arrive batch by batch: the block gets a `write(batch)`
    function, and a background thread encodes and compresses row groups of about
    `row_group_rows` rows while the block makes the next batches (a provenance-only scan
    otherwise spends a large share of its time writing after reading). The file is renamed
    into place (flushed) when the block ends without error; on an error nothing is left.
    Memory: at most `row_group_rows` rows plus `STREAM_QUEUE` batches waiting."""
    schema = schema.with_metadata(_sidecar_metadata(schema, unit, detectors))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with replaced_when_done(path) as tmp:
        writer = pq.ParquetWriter(tmp, schema, **_encoding(schema))
        batches: queue.Queue = queue.Queue(maxsize=STREAM_QUEUE)
        failed: list[BaseException] = []
        abandoned = threading.Event()  # the block raised: the file is dropped, stop encoding

        def encode() -> None:
            pending: list[pa.RecordBatch] = []
            rows = 0
            while True:
                batch = batches.get()
                if failed or abandoned.is_set():
                    if batch is None:
                        return
                    continue  # drain, so `write` never blocks on a writer that stopped
                try:
                    if batch is not None:
                        pending.append(batch)
                        rows += batch.num_rows
                    if pending and (batch is None or rows >= row_group_rows):
                        writer.write_table(pa.Table.from_batches(pending, schema=schema),
                                           row_group_size=max(rows, 1))
                        pending, rows = [], 0
                except BaseException as exc:
                    failed.append(exc)
                if batch is None:
                    return

        thread = threading.Thread(target=encode, name="auditor-sidecar", daemon=True)
        thread.start()

        def write(batch: pa.RecordBatch) -> None:
            if failed:
                raise failed[0]
            batches.put(batch)

        try:
            yield write
        except BaseException:
            abandoned.set()
            raise
        finally:
            batches.put(None)
            thread.join()
            writer.close()
        if failed:
            raise failed[0]


def read_sidecar_info(path: str) -> SidecarInfo:
    """Unit description and detector versions from a side-car footer."""
    pf = pq.ParquetFile(path)
    meta = pf.schema_arrow.metadata or {}
    unit = json.loads(meta.get(UNIT_KEY, b"{}"))
    detectors = json.loads(meta.get(DETECTORS_KEY, b"{}"))
    return SidecarInfo(path=path, unit=unit, detectors=detectors, n_rows=pf.metadata.num_rows,
                       columns=tuple(pf.schema_arrow.names))


def stored_detectors(paths: StorePaths, sidecar: str) -> dict[str, str]:
    """Detector -> version a unit holds now, from its side-car footers: its attribute
    side-cars, over the score columns an older store kept in the provenance side-car."""
    versions = dict(read_sidecar_info(sidecar).detectors)
    for path in paths.unit_attributes(sidecar).values():
        versions.update(read_sidecar_info(path).detectors)
    return versions


def read_sidecar(path: str, columns: Sequence[str] | None = None) -> pa.Table:
    """The rows of one side-car (all columns unless given)."""
    return pq.read_table(path, columns=list(columns) if columns is not None else None)


def read_unit_table(paths: StorePaths, sidecar: str) -> pa.Table:
    """One unit's rows as the `documents` view shows them: its provenance side-car with each
    attribute side-car's detector columns (written in the provenance rows' order; checked)."""
    table = read_sidecar(sidecar)
    for path in paths.unit_attributes(sidecar).values():
        attr = read_sidecar(path)
        if not attr.select(list(ATTRIBUTE_KEY)).equals(table.select(list(ATTRIBUTE_KEY))):
            raise ValueError(f"attribute side-car {path} does not match the rows of {sidecar}")
        for name in attr.column_names[len(ATTRIBUTE_KEY):]:
            idx = table.schema.get_field_index(name)
            table = (table.set_column(idx, name, attr.column(name)) if idx >= 0
                     else table.append_column(name, attr.column(name)))
    return table


def write_attribute(path: str, key: pa.Table, columns: Mapping[str, pa.Array], detector: str,
                    version: str, unit: Mapping) -> None:
    """Write one detector's output for one unit as an attribute side-car, atomically.

    `key` holds the unit's `ATTRIBUTE_KEY` columns in the order of `columns`; the `documents`
    view joins the file to the unit's provenance rows on them. The detector and its version
    travel in the footer, like a provenance side-car's unit description.
    """
    for name, array in columns.items():
        if len(array) != key.num_rows:
            raise ValueError(f"attribute side-car {path}: column {name!r} has {len(array)} rows, "
                             f"the unit has {key.num_rows}; rescan the unit with --force")
    table = key.select(list(ATTRIBUTE_KEY))
    for name, array in columns.items():
        table = table.append_column(name, array)
    write_sidecar(path, table.replace_schema_metadata(None), unit, {detector: version})
