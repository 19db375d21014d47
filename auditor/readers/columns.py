"""Which fields a shard has, read from its head, so a flag naming a column no shard has
(`--date-column timestamp` on a corpus whose field is `date`) is an error before the scan,
not a silent column of nulls that changes the result.

Parquet and Arrow give their schema; JSON lines the keys of the first records (nested objects
as dotted names, as `--url-column metadata.url` names them). WARC/WET have no columns and
`hf:` datasets are not opened here: for those the answer is None (unknown).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from auditor.readers.base import ReaderOptions
from auditor.readers.discover import ShardInfo
from auditor.readers.files import decompressed, open_binary

#: Records and bytes looked at in a JSON lines shard.
HEAD_RECORDS = 200
HEAD_BYTES = 4 << 20


def _dotted(record: Mapping, prefix: str = "", depth: int = 2) -> set[str]:
    names = set()
    for key, value in record.items():
        name = f"{prefix}{key}"
        names.add(name)
        if depth > 1 and isinstance(value, Mapping):
            names |= _dotted(value, f"{name}.", depth - 1)
    return names


def _schema_names(schema, prefix: str = "") -> set[str]:
    import pyarrow as pa

    names = set()
    for f in schema:
        names.add(f"{prefix}{f.name}")
        if pa.types.is_struct(f.type):
            names |= _schema_names(list(f.type), f"{prefix}{f.name}.")
    return names


def shard_fields(shard: ShardInfo) -> set[str] | None:
    """The field names of a shard (see module docstring), or None when unknown."""
    try:
        if shard.format == "parquet":
            from auditor.readers.parquet import open_parquet

            return _schema_names(open_parquet(shard.uri).schema_arrow)
        if shard.format == "arrow":
            import pyarrow as pa

            with open_binary(shard.uri) as raw:
                try:
                    return _schema_names(pa.ipc.open_stream(raw).schema)
                except pa.ArrowInvalid:
                    raw.seek(0)
                    return _schema_names(pa.ipc.open_file(raw).schema)
        if shard.format == "jsonl":
            return _jsonl_fields(shard.uri)
    except Exception:  # an unreadable shard fails in the scan itself, with its reason
        return None
    return None


def _jsonl_fields(uri: str) -> set[str] | None:
    names: set[str] = set()
    seen = 0
    with open_binary(uri) as raw:
        stream, _ = decompressed(raw)
        read = 0
        while seen < HEAD_RECORDS and read < HEAD_BYTES:
            line = stream.readline(HEAD_BYTES - read)
            if not line:
                break
            read += len(line)
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):
                continue
            if isinstance(record, dict):
                names |= _dotted(record)
                seen += 1
    return names if seen else None


#: ReaderOptions fields that name an input column, with the flag that sets each.
COLUMN_FLAGS = (("url_column", "--url-column"), ("date_column", "--date-column"),
                ("license_column", "--license-column"), ("language_column", "--language-column"),
                ("id_column", "--id-column"), ("label_column", "--label-column"))


@dataclass(frozen=True)
class MissingColumn:
    """A column a flag names that some (or all) shards whose fields are known lack."""

    flag: str
    column: str
    missing: tuple[str, ...]  # shard URIs without it
    checked: int  # shards whose fields are known

    @property
    def label(self) -> str:
        """The flag as the user wrote it: `--date-column timestamp`, `--source-by column:x`."""
        return f"{self.flag}{self.column}" if self.flag.endswith(":") else \
            f"{self.flag} {self.column}"

    @property
    def in_none(self) -> bool:
        return len(self.missing) == self.checked


def named_columns(options: ReaderOptions) -> list[tuple[str, str]]:
    """(flag, column) for every column the options name explicitly."""
    out = [(flag, getattr(options, attr)) for attr, flag in COLUMN_FLAGS
           if getattr(options, attr)]
    if options.source_by.startswith("column:"):
        out.append(("--source-by column:", options.source_by.split(":", 1)[1]))
    return out


def missing_columns(shards: list[ShardInfo], options: ReaderOptions) -> list[MissingColumn]:
    """Named columns that shards lack (WARC/WET shards take no columns and are not counted)."""
    wanted = named_columns(options)
    if not wanted:
        return []
    fields = {s.uri: shard_fields(s) for s in shards}
    known = {uri: f for uri, f in fields.items() if f is not None}
    out = []
    for flag, column in wanted:
        missing = tuple(uri for uri, f in known.items() if column not in f)
        if missing:
            out.append(MissingColumn(flag, column, missing, len(known)))
    return out


def fields_hint(shards: list[ShardInfo], limit: int = 12) -> str:
    """The fields of the first shard whose fields are known, for an error message."""
    for s in shards:
        f = shard_fields(s)
        if f:
            names = sorted(f)
            more = f", ... ({len(names)} in all)" if len(names) > limit else ""
            return f"fields in {s.uri}: {', '.join(names[:limit])}{more}"
    return ""
