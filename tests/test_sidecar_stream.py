"""A side-car written while its rows are made (`streamed_sidecar`): the same rows, footer and
codec as one written whole; no file under its name until the block ends; nothing left when the
block fails; a scan's unit side-cars come out so."""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from auditor.records import PROVENANCE_SCHEMA
from auditor.store.sidecar import (
    read_sidecar,
    read_sidecar_info,
    streamed_sidecar,
    write_sidecar,
)

SCHEMA = pa.schema([("id", pa.string()), ("language", pa.string()), ("n", pa.int64())])


def batch(start: int, n: int) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict(
        {"id": [f"doc-{i}" for i in range(start, start + n)],
         "language": ["en" if i % 3 else "de" for i in range(start, start + n)],
         "n": list(range(start, start + n))}, schema=SCHEMA)


def test_streamed_side_car_holds_the_rows_and_footer_of_one_written_whole(tmp_path):
    unit = {"shard": "/data/a.parquet", "part": 0}
    streamed, whole = str(tmp_path / "s" / "u.parquet"), str(tmp_path / "w" / "u.parquet")
    parts = [batch(i * 700, 700) for i in range(6)]
    with streamed_sidecar(streamed, SCHEMA, unit, {"markers": "1"}, row_group_rows=1500) as write:
        for b in parts:
            write(b)
            assert not os.path.exists(streamed)  # only complete files carry the name
    write_sidecar(whole, pa.Table.from_batches(parts), unit, {"markers": "1"})
    assert read_sidecar(streamed).equals(read_sidecar(whole))
    info, expected = read_sidecar_info(streamed), read_sidecar_info(whole)
    assert (info.unit, info.detectors, info.n_rows) == (expected.unit, expected.detectors, 4200)
    meta = pq.ParquetFile(streamed).metadata
    # row groups of at least row_group_rows rows, the rest in the last one
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [2100, 2100]
    assert meta.row_group(0).column(0).compression == "ZSTD"
    assert os.listdir(os.path.dirname(streamed)) == ["u.parquet"]  # no temporary left


def test_streamed_side_car_without_rows_is_an_empty_side_car(tmp_path):
    path = str(tmp_path / "u.parquet")
    with streamed_sidecar(path, PROVENANCE_SCHEMA, {"part": 0}, {}):
        pass
    table = read_sidecar(path)
    assert table.num_rows == 0 and table.schema.names == PROVENANCE_SCHEMA.names


def test_failed_block_leaves_neither_the_side_car_nor_a_temporary(tmp_path):
    path = str(tmp_path / "u.parquet")
    with pytest.raises(RuntimeError, match="reader broke"):
        with streamed_sidecar(path, SCHEMA, {"part": 0}, {}, row_group_rows=100) as write:
            write(batch(0, 500))
            raise RuntimeError("reader broke")
    assert os.listdir(tmp_path) == []


def test_a_batch_the_writer_refuses_fails_the_block(tmp_path):
    path = str(tmp_path / "u.parquet")
    wrong = pa.RecordBatch.from_pydict({"id": ["a"], "other": [1]})
    with pytest.raises(Exception, match="(?i)schema"):
        with streamed_sidecar(path, SCHEMA, {"part": 0}, {}, row_group_rows=1) as write:
            write(wrong)
            for i in range(20):  # a later write (or the end of the block) raises
                write(batch(i, 1))
    assert os.listdir(tmp_path) == []
