"""Cut shards into work units of about `target_bytes`, so big files spread over workers.

Parquet splits at row-group boundaries; uncompressed JSON lines at byte offsets (the reader
aligns each range to line starts); compressed files, WARC/WET, Arrow and `hf:` datasets are
one unit each because they cannot be entered in the middle.
"""

from __future__ import annotations

from auditor.readers.base import ReaderOptions, WorkUnit
from auditor.readers.discover import ShardInfo
from auditor.readers.errors import ReaderError
from auditor.readers.files import compression_of, open_binary


def _whole(shard: ShardInfo) -> list[WorkUnit]:
    return [WorkUnit(shard=shard.uri, format=shard.format, part=0, n_parts=1, start=0, stop=-1,
                     size=shard.size, mtime=shard.mtime, etag=shard.etag,
                     digest=shard.digest)]


def _units(shard: ShardInfo, ranges: list[tuple[int, int]]) -> list[WorkUnit]:
    return [WorkUnit(shard=shard.uri, format=shard.format, part=i, n_parts=len(ranges),
                     start=a, stop=b, size=shard.size, mtime=shard.mtime, etag=shard.etag,
                     digest=shard.digest)
            for i, (a, b) in enumerate(ranges)]


def _parquet_ranges(shard: ShardInfo, target_bytes: int) -> list[tuple[int, int]] | None:
    from auditor.readers.parquet import open_parquet

    try:
        meta = open_parquet(shard.uri).metadata
    except Exception:  # a bad footer is reported by read_unit as a failed record
        return None
    ranges: list[tuple[int, int]] = []
    start, acc = 0, 0
    for i in range(meta.num_row_groups):
        acc += meta.row_group(i).total_byte_size
        if acc >= target_bytes:
            ranges.append((start, i + 1))
            start, acc = i + 1, 0
    if start < meta.num_row_groups or not ranges:
        ranges.append((start, meta.num_row_groups))
    return ranges


def _jsonl_ranges(shard: ShardInfo, target_bytes: int) -> list[tuple[int, int]] | None:
    if shard.size <= target_bytes:
        return None
    with open_binary(shard.uri) as raw:
        if compression_of(raw.read(4)):
            return None
    n = -(-shard.size // target_bytes)
    step = -(-shard.size // n)
    bounds = [min(i * step, shard.size) for i in range(n)] + [shard.size]
    return [(bounds[i], bounds[i + 1]) for i in range(n) if bounds[i] < bounds[i + 1]]


def plan_units(
    shards: list[ShardInfo], options: ReaderOptions, target_bytes: int = 64 << 20
) -> list[WorkUnit]:
    """Work units covering every shard exactly once, in shard order.

    A Parquet unit is a row-group range `[start, stop)`; a JSONL unit a byte range
    `[start, stop)` owning the lines that start in it; others are whole (`0, -1`).
    """
    if target_bytes <= 0:
        raise ReaderError(f"target_bytes must be positive, got {target_bytes}")
    units: list[WorkUnit] = []
    for shard in shards:
        fmt = options.format or shard.format
        if fmt != shard.format:
            shard = ShardInfo(shard.uri, fmt, shard.size, shard.mtime, shard.etag, shard.digest)
        ranges = None
        if fmt == "parquet":
            ranges = _parquet_ranges(shard, target_bytes)
        elif fmt == "jsonl":
            ranges = _jsonl_ranges(shard, target_bytes)
        units += _units(shard, ranges) if ranges else _whole(shard)
    return units
