"""Filtered shards: the kept records of each scanned shard, written out in a format mixers read.

Parquet in -> Parquet out (every column, same schema); JSON lines in -> JSON lines out (the
original lines byte for byte, same compression); WARC/WET in -> JSON lines (gzip) out, one
dolma-style document per kept record (`id`, `text`, `source`, `created`, `metadata`), because a
filtered crawl is only useful with its extracted text.

Streaming: a shard is read batch by batch (Parquet) or line by line (JSON lines) with the kept
offsets of that shard alone in memory (8 bytes a kept record). Resumable like a scan: each
output is written to a temporary name and renamed, and a completion marker beside it
(`.NAME.done.json`, a dot-file readers skip) records the shard's fingerprint and a digest of the
kept offsets; a re-run skips shards whose marker matches, and rewrites those whose manifest or
input changed.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa

from auditor.output_files import replaced_when_done
from auditor.readers.files import decompressed, file_stem, local_path, open_binary

#: gzip level of written JSON lines: level 6 (zlib's default) costs ~3x level 1 in time for a
#: few percent in size; 3 keeps `filter --write` well above half the speed of a scan.
GZIP_LEVEL = 3
PARQUET_BATCH_ROWS = 8192
_OUT_EXT = {"parquet": ".parquet", "jsonl": ".jsonl", "warc": ".jsonl.gz", "wet": ".jsonl.gz"}


@dataclass(frozen=True)
class ShardResult:
    """What happened to one shard: written, reused (marker matched) or failed, with counts."""

    shard: str
    output: str | None
    status: str  # written | reused | failed | skipped
    n_kept: int  # kept records in the manifest
    n_written: int
    reason: str = ""


def output_name(shard: str, fmt: str, root: str | None) -> str:
    """Output path of a shard relative to the output folder: its path under `root` (the common
    folder of the inputs) with the extension of the written format; a remote shard keeps its
    file name, prefixed with a short hash so two buckets cannot collide."""
    path = local_path(shard)
    if root and "://" not in path:
        rel = os.path.relpath(path, root)
    else:
        rel = hashlib.sha1(shard.encode()).hexdigest()[:8] + "-" + os.path.basename(path)
    if fmt in ("warc", "wet"):
        return os.path.join(os.path.dirname(rel), file_stem(rel) + _OUT_EXT[fmt])
    return rel


def output_names(formats: Mapping[str, str], root: str | None) -> dict[str, str]:
    """`output_name` of every shard (uri -> format), except that shards whose outputs would
    share a name up to the extension (`x.warc.gz` and `x.warc.wet.gz` both become
    `x.jsonl.gz`; `x.parquet` and `x.jsonl` share datatrove's `x.parquet`) each get the short
    hash prefix of a remote shard: the second would silently overwrite the first."""
    names = {uri: output_name(uri, fmt, root) for uri, fmt in formats.items()}
    by_stem: dict[str, list[str]] = {}
    for uri, rel in names.items():
        by_stem.setdefault(os.path.join(os.path.dirname(rel), file_stem(rel)), []).append(uri)
    for uris in by_stem.values():
        if len(uris) > 1:
            for uri in uris:
                rel = names[uri]
                names[uri] = os.path.join(os.path.dirname(rel),
                                          hashlib.sha1(uri.encode()).hexdigest()[:8] + "-"
                                          + os.path.basename(rel))
    return names


def _marker(out: str) -> str:
    return os.path.join(os.path.dirname(out), "." + os.path.basename(out) + ".done.json")


def _digest(kept: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(kept, dtype="<i8").tobytes()).hexdigest()


def write_shard(shard: dict, kept: np.ndarray, out: str, reader_options=None) -> ShardResult:
    """Write the records of `shard` (a row of the store's `shards` table: uri, format, size,
    mtime) whose offsets are in `kept` (sorted int64) to `out`, unless a matching marker says
    it is done. The shard must be unchanged since the scan (same size and mtime)."""
    uri, fmt = shard["uri"], shard["format"]
    n_kept = int(kept.size)
    try:
        st = os.stat(local_path(uri)) if "://" not in uri else None
    except OSError as exc:
        return ShardResult(uri, None, "failed", n_kept, 0, f"cannot read {uri}: {exc}")
    if st is not None and (st.st_size != shard.get("size") or (
            shard.get("mtime") is not None and abs(st.st_mtime - shard["mtime"]) > 1e-6)):
        return ShardResult(uri, None, "failed", n_kept, 0,
                           f"{uri} changed since it was scanned (size or mtime differ); "
                           "scan it again before filtering")
    state = {"shard": uri, "size": shard.get("size"), "mtime": shard.get("mtime"),
             "kept_digest": _digest(kept), "n_kept": n_kept}
    marker = _marker(out)
    if os.path.exists(out) and os.path.exists(marker):
        try:
            with open(marker, encoding="utf-8") as fh:
                done = json.load(fh)
            if {k: done.get(k) for k in state} == state:
                return ShardResult(uri, out, "reused", n_kept, int(done.get("n_written", 0)))
        except (OSError, ValueError):
            pass  # unreadable marker: write again
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    if fmt not in ("parquet", "jsonl", "warc", "wet"):
        return ShardResult(uri, None, "skipped", n_kept, 0,
                           f"format {fmt!r} cannot be written back (Parquet, JSON lines and "
                           "WARC/WET can); use the manifest to select its records")
    try:
        with replaced_when_done(out, out + ".tmp") as tmp:
            if fmt == "parquet":
                n = _write_parquet(uri, kept, tmp)
            elif fmt == "jsonl":
                n = _write_jsonl(uri, kept, tmp)
            else:
                n = _write_warc(uri, fmt, kept, tmp, reader_options)
    except Exception as exc:  # one bad shard must not stop the others
        return ShardResult(uri, None, "failed", n_kept, 0,
                           f"writing the filtered copy of {uri} failed: {type(exc).__name__}: "
                           f"{exc}")
    with open(marker + ".tmp", "w", encoding="utf-8") as fh:
        json.dump({**state, "n_written": n, "output": out}, fh)
    os.replace(marker + ".tmp", marker)
    reason = "" if n == n_kept else (f"{n_kept - n} kept records were not found in {uri} "
                                     "(the file differs from the scanned one)")
    return ShardResult(uri, out, "written", n_kept, n, reason)


def _take(first: int, n: int, kept: np.ndarray) -> np.ndarray:
    """Positions within rows [first, first+n) that are kept."""
    lo, hi = np.searchsorted(kept, [first, first + n])
    return kept[lo:hi] - first


def _write_parquet(uri: str, kept: np.ndarray, tmp: str) -> int:
    import pyarrow.parquet as pq

    from auditor.readers.parquet import open_parquet

    pf = open_parquet(uri)
    written, row = 0, 0
    with pq.ParquetWriter(tmp, pf.schema_arrow, compression="zstd") as writer:
        for batch in pf.iter_batches(batch_size=PARQUET_BATCH_ROWS, use_threads=False):
            idx = _take(row, batch.num_rows, kept)
            row += batch.num_rows
            if idx.size:
                writer.write_batch(batch.take(pa.array(idx)))
                written += int(idx.size)
        if written == 0:
            writer.write_table(pf.schema_arrow.empty_table())
    return written


def _open_like(raw_head: str | None, tmp: str):
    """A writer with the compression of the input (gzip, zstd or none)."""
    if raw_head == "gzip":
        return gzip.open(tmp, "wb", compresslevel=GZIP_LEVEL)
    if raw_head == "zstd":
        import zstandard

        return zstandard.ZstdCompressor(level=3).stream_writer(open(tmp, "wb"))
    return open(tmp, "wb", buffering=1 << 20)


def _write_jsonl(uri: str, kept: np.ndarray, tmp: str) -> int:
    """Copy the lines starting at a kept byte offset (offsets in the uncompressed stream)."""
    written, pos, i = 0, 0, 0
    n = kept.size
    with open_binary(uri) as raw:
        stream, compression = decompressed(raw)
        with _open_like(compression, tmp) as out:
            while i < n:
                line = stream.readline()
                if not line:
                    break
                if pos == kept[i]:
                    out.write(line if line.endswith(b"\n") else line + b"\n")
                    written += 1
                    i += 1
                elif pos > kept[i]:  # an offset that is no line start: skip it
                    i += 1
                    while i < n and kept[i] < pos:
                        i += 1
                    if i < n and pos == kept[i]:
                        out.write(line if line.endswith(b"\n") else line + b"\n")
                        written += 1
                        i += 1
                pos += len(line)
    return written


def _warc_documents(uri: str, fmt: str, reader_options) -> Iterator:
    from auditor.readers import ReaderOptions, WorkUnit, read_unit

    unit = WorkUnit(shard=uri, format=fmt, part=0, n_parts=1)
    return read_unit(unit, reader_options or ReaderOptions())


def _write_warc(uri: str, fmt: str, kept: np.ndarray, tmp: str, reader_options) -> int:
    """Kept WARC records as dolma-style JSON lines (text extracted as the scan did)."""
    wanted = set(kept.tolist())
    written = 0
    with gzip.open(tmp, "wb", compresslevel=GZIP_LEVEL) as out:
        for item in _warc_documents(uri, fmt, reader_options):
            offset = getattr(item, "offset", None)
            if offset is None or offset not in wanted:
                continue
            out.write(json.dumps(document_json(item), ensure_ascii=False).encode() + b"\n")
            written += 1
            wanted.discard(offset)
            if not wanted:
                break
    return written


def document_json(doc) -> dict:
    """A `Document` as a dolma document: id, text, source, created, metadata."""
    return {
        "id": doc.id, "text": doc.text, "source": doc.source,
        "created": doc.crawl_date.isoformat() if doc.crawl_date else None,
        "metadata": {"url": doc.url, "domain": doc.domain, "license": doc.license,
                     "language": doc.language, "shard": doc.shard, "offset": doc.offset},
    }


def write_filtered(db_path: str | os.PathLike, manifest: str | os.PathLike,
                   out_dir: str | os.PathLike,
                   progress: Callable[[ShardResult], None] | None = None) -> list[ShardResult]:
    """Write the kept records of every shard in `manifest` under `out_dir`, shard by shard.

    Shards whose output is complete for the same manifest decisions are reused; a shard that
    changed since its scan, or that cannot be read, fails with a reason and the others go on.
    """
    import duckdb

    from auditor.scan.options import reader_options_from_dict
    from auditor.store import open_store

    with open_store(db_path, read_only=True) as store:
        shards = {s["uri"]: s for s in store.shards()}
        run_opts = {r["run_id"]: r["options"] for r in store.runs()}
        last_run = {u["shard"]: u["run_id"] for u in store.units()}
    con = duckdb.connect()
    results: list[ShardResult] = []
    try:
        man = os.fspath(manifest)
        listed = [r[0] for r in con.execute("SELECT DISTINCT shard FROM read_parquet(?) "
                                            "ORDER BY shard", [man]).fetchall()]
        local = [local_path(s) for s in listed if "://" not in s]
        root = os.path.commonpath([os.path.dirname(p) for p in local]) if local else None
        names = output_names({u: shards[u]["format"] for u in listed if u in shards}, root)
        for uri in listed:
            kept = con.execute("SELECT \"offset\" FROM read_parquet(?) WHERE shard = ? AND "
                               "decision = 'keep' ORDER BY \"offset\"", [man, uri]
                               ).fetchnumpy()["offset"]
            kept = np.unique(np.asarray(kept, dtype=np.int64))
            shard = shards.get(uri)
            if shard is None:
                res = ShardResult(uri, None, "failed", int(kept.size), 0,
                                  f"{uri} is in the manifest but not in the store {db_path}")
            else:
                opts = json.loads(run_opts.get(last_run.get(uri), "{}") or "{}")
                reader = reader_options_from_dict(opts.get("reader", {}))
                out = os.path.join(os.fspath(out_dir), names[uri])
                res = write_shard(shard, kept, out, reader)
            results.append(res)
            if progress is not None:
                progress(res)
    finally:
        con.close()
    return results


def results_to_dicts(results: list[ShardResult]) -> list[dict]:
    return [asdict(r) for r in results]
