"""Open local paths and fsspec/pyarrow URIs alike, and undo gzip/zstd by magic bytes.

Shards arrive as local paths, `file://` URIs or remote URIs (`s3://`, `hf://`, `memory://`).
Everything downstream reads a binary file object, so this is the one place that knows the
difference. Compression is detected from the first bytes, not the name, because corpora are
full of `.json` files that are gzip and `.gz` files that are not.
"""

from __future__ import annotations

import io
import os
from typing import BinaryIO

from auditor.readers.errors import ReaderError

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
BUFFER_BYTES = 1 << 20
#: Decompressed data is buffered in smaller pieces: what sits in the buffer when the stream
#: breaks is lost, and a truncated file should keep as much as it can.
DECODED_BUFFER_BYTES = 1 << 16


def is_remote(uri: str) -> bool:
    """True for URIs that need fsspec (anything with a scheme except `file://`)."""
    return "://" in uri and not uri.startswith("file://")


def local_path(uri: str) -> str:
    """The filesystem path of a local path or `file://` URI."""
    return uri[len("file://"):] if uri.startswith("file://") else uri


def open_binary(uri: str) -> BinaryIO:
    """Open a shard for binary reading, buffered. Raises `ReaderError` naming the shard."""
    try:
        if is_remote(uri):
            import fsspec

            return fsspec.open(uri, "rb").open()
        return open(local_path(uri), "rb", buffering=BUFFER_BYTES)
    except FileNotFoundError as exc:
        raise ReaderError(f"{uri}: file not found; check the path or URI") from exc
    except (OSError, ValueError, ImportError) as exc:
        raise ReaderError(f"{uri}: cannot open ({exc})") from exc


def compression_of(head: bytes) -> str | None:
    """`gzip`, `zstd` or None, from a file's first bytes."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return None


def peek(raw: BinaryIO, n: int = 8) -> bytes:
    """The first `n` bytes of `raw`, leaving its position at the start."""
    pos = raw.tell()
    head = raw.read(n)
    raw.seek(pos)
    return head


def decompressed(raw: BinaryIO) -> tuple[BinaryIO, str | None]:
    """Wrap `raw` (positioned at 0) in a streaming decompressor when its magic bytes say so.

    Multi-member gzip and multi-frame zstd are read through, as produced by parallel
    compressors and by Common Crawl. Returns the stream and the compression name.
    """
    kind = compression_of(peek(raw, 4))
    if kind == "gzip":
        import gzip

        # GzipFile buffers internally in small chunks, so a truncated file loses little.
        return gzip.GzipFile(fileobj=raw, mode="rb"), kind  # type: ignore[return-value]
    if kind == "zstd":
        return io.BufferedReader(_ZstdFrames(raw), DECODED_BUFFER_BYTES), kind
    return raw, None


#: Largest zstd block, decoded. A block decodes only whole (its sequences are read from its
#: end), so a file cut inside one loses that block's text: up to this much, all of a small file.
ZSTD_BLOCK_BYTES = 128 << 10


class _ZstdFrames(io.RawIOBase):
    """Zstandard frames read one after another, raising `EOFError` on a truncated last frame.

    `zstandard`'s own `stream_reader` returns a short read without error when the input ends
    inside a frame, which would make a truncated download look complete. Everything decoded
    before the cut is handed out first (as a truncated gzip keeps what precedes its cut); the
    block the file was cut in cannot be decoded at all (`ZSTD_BLOCK_BYTES`), which the error
    says, so the loss is explained rather than silent.
    """

    _CHUNK = 1 << 18

    def __init__(self, raw: BinaryIO) -> None:
        import zstandard

        self._raw = raw
        self._dctx = zstandard.ZstdDecompressor()
        self._obj = self._dctx.decompressobj()
        self._pending = memoryview(b"")
        self._in_frame = False
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        while not len(self._pending):
            if self._done:
                return 0
            chunk = self._raw.read(self._CHUNK)
            if not chunk:
                self._done = True
                if self._in_frame:
                    raise EOFError(
                        "zstd stream ended before the end of its last frame (everything "
                        "before the cut block is kept; zstd decodes whole blocks, so the "
                        f"text of the cut block, up to {ZSTD_BLOCK_BYTES >> 10} KiB, is lost)")
                return 0
            self._feed(chunk)
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def _feed(self, chunk: bytes) -> None:
        out = []
        while chunk:
            out.append(self._obj.decompress(chunk))
            self._in_frame = True
            if self._obj.eof:
                chunk = self._obj.unused_data
                self._obj = self._dctx.decompressobj()
                self._in_frame = False
            else:
                chunk = b""
        self._pending = memoryview(b"".join(out))


def file_stem(uri: str) -> str:
    """The file name without format and compression extensions: `a/c4-2019.json.gz` -> `c4-2019`."""
    name = os.path.basename(local_path(uri).rstrip("/")) or uri
    known = {".gz", ".zst", ".zstd", ".bz2", ".xz", ".parquet", ".pq", ".jsonl", ".json",
             ".ndjson", ".warc", ".wet", ".arrow", ".txt"}
    while True:
        root, ext = os.path.splitext(name)
        if root and ext.lower() in known:
            name = root
        else:
            return name
