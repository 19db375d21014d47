"""Hugging Face datasets: `save_to_disk` folders (Arrow files) and `hf:` load_dataset names.

A saved dataset is a folder of Arrow IPC stream files plus JSON bookkeeping; `discover` lists
the Arrow files and each is read here with pyarrow's stream reader, batch by batch, without
importing `datasets` at all. Only `hf:NAME[:CONFIG][@SPLIT]` inputs need `datasets` (imported
lazily, streaming, never running remote code). For the packaged builders (`parquet`, `json`,
`csv`, `text`, `arrow`) CONFIG is the data files path or glob:
`hf:json:/data/*.jsonl.gz@train` is `load_dataset("json", data_files=..., split="train")`.
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa

from auditor.readers.base import ReaderOptions, WorkUnit
from auditor.readers.columnar import Record
from auditor.readers.errors import ReaderError
from auditor.readers.files import file_stem, local_path, open_binary, peek
from auditor.readers.mapping import RecordMapper
from auditor.records import RecordIssue

PACKAGED_BUILDERS = ("parquet", "json", "csv", "text", "arrow")


@dataclass(frozen=True)
class HfSpec:
    """A parsed `hf:NAME[:CONFIG][@SPLIT]` input."""

    name: str
    config: str | None = None
    split: str | None = None

    @property
    def data_files(self) -> str | None:
        return self.config if self.name in PACKAGED_BUILDERS else None


def parse_hf_uri(uri: str) -> HfSpec:
    """`hf:allenai/c4:en@validation` -> HfSpec("allenai/c4", "en", "validation")."""
    if not uri.startswith("hf:") or len(uri) <= 3:
        raise ReaderError(f"{uri!r} is not an hf:NAME[:CONFIG][@SPLIT] dataset reference")
    body = uri[3:]
    split = None
    if "@" in body:
        body, split = body.rsplit("@", 1)
        split = split or None
    name, _, config = body.partition(":")
    if not name:
        raise ReaderError(f"{uri!r}: missing dataset name; write hf:NAME[:CONFIG][@SPLIT]")
    return HfSpec(name=name, config=config or None, split=split)


_SAVED_SHARD = re.compile(r"^data-\d+-of-\d+\.arrow$")


def saved_dataset_name(path: str) -> str | None:
    """The dataset's folder name for an Arrow file written by `save_to_disk`
    (`corpus/train/data-00000-of-00002.arrow` -> `corpus` when `corpus` is a DatasetDict,
    else the file's folder), None for other Arrow files."""
    path = local_path(path)
    if not _SAVED_SHARD.match(os.path.basename(path)):
        return None
    folder = os.path.dirname(os.path.abspath(path))
    parent = os.path.dirname(folder)
    if os.path.isfile(os.path.join(parent, "dataset_dict.json")):
        return os.path.basename(parent)
    return os.path.basename(folder) or None


def arrow_mapper(unit: WorkUnit, options: ReaderOptions) -> RecordMapper:
    """The mapper for an Arrow file: a saved dataset's name is its source and synthetic hint."""
    dataset = saved_dataset_name(unit.shard)
    return RecordMapper(options, unit.shard, dataset=dataset, file_source=dataset)


def arrow_batches(unit: WorkUnit,
                  options: ReaderOptions) -> Iterator[tuple[pa.RecordBatch, int] | RecordIssue]:
    """Record batches of an Arrow file (IPC file or stream) with the row index of their first
    row, or the `RecordIssue` that ended it. Shared by the per-record and columnar readers."""
    row = 0
    with open_binary(unit.shard) as raw:
        try:
            if peek(raw, 6) == b"ARROW1":
                reader = pa.ipc.open_file(raw)
                batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
                schema = reader.schema
            else:
                stream = pa.ipc.open_stream(raw)
                batches, schema = stream, stream.schema
        except (OSError, pa.ArrowException) as exc:
            yield RecordIssue(unit.shard, "file", "failed",
                              f"{unit.shard} is not a readable Arrow file: {exc}")
            return
        if options.text_column.split(".", 1)[0] not in schema.names:
            yield RecordIssue(unit.shard, "file", "failed",
                              f"text column {options.text_column!r} not in {unit.shard} "
                              f"(columns: {', '.join(schema.names)}); pass --text-column")
            return
        try:
            for batch in batches:
                yield batch, row
                row += batch.num_rows
        except (OSError, pa.ArrowException) as exc:
            yield RecordIssue(unit.shard, f"row {row}", "failed",
                              f"corrupt Arrow data in {unit.shard} at row {row}: {exc}; the rows "
                              "before it were read, re-save the dataset")


def load_dataset_records(unit: WorkUnit, options: ReaderOptions,
                         ) -> tuple[RecordMapper, Iterator[Record]]:
    """The mapper and the records of an `hf:` dataset, streamed by `datasets.load_dataset`."""
    spec = parse_hf_uri(unit.shard)
    try:
        import datasets
    except ImportError as exc:
        raise ReaderError(f"{unit.shard}: reading hf: datasets needs the `datasets` package; "
                          "pip install 'provenance-auditor[hf]'") from exc
    kwargs: dict = {"split": spec.split or options.hf_split or "train", "streaming": True}
    if spec.data_files is not None:
        kwargs["data_files"] = spec.data_files
    elif spec.config is not None:
        kwargs["name"] = spec.config
    if "trust_remote_code" in inspect.signature(datasets.load_dataset).parameters:
        kwargs["trust_remote_code"] = False
    try:
        rows = datasets.load_dataset(spec.name, **kwargs)
    except Exception as exc:  # datasets raises many types: missing files, network, bad config
        raise ReaderError(f"{unit.shard}: load_dataset({spec.name!r}, {kwargs}) failed: {exc}") \
            from exc
    source = file_stem(spec.data_files) if spec.data_files else spec.name
    mapper = RecordMapper(options, unit.shard, dataset=spec.name, file_source=source)
    return mapper, (Record(record, row, f"row {row}") for row, record in enumerate(rows))
