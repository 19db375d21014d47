"""Inputs (files, folders, globs, URIs, `hf:` names) -> the list of shards to scan.

Format comes from the extension, else from the first bytes, so a folder of mixed and
oddly-named files still scans; `fmt` overrides both. Each shard carries size, mtime and etag so
the catalogue can tell a changed shard from one already scanned.
"""

from __future__ import annotations

import fnmatch
import glob as globlib
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from auditor.readers.errors import ReaderError
from auditor.readers.files import compression_of, decompressed, is_remote, local_path, open_binary

FORMATS = ("parquet", "jsonl", "warc", "wet", "arrow", "hf")
_SUFFIXES = (
    (".warc.wet.gz", "wet"), (".warc.wet", "wet"), (".wet.gz", "wet"), (".wet", "wet"),
    (".warc.gz", "warc"), (".warc", "warc"),
    (".parquet", "parquet"), (".pq", "parquet"),
    (".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "jsonl"),
    (".arrow", "arrow"),
)
_COMPRESSION = (".gz", ".zst", ".zstd")
#: Files inside a corpus folder that are bookkeeping or documentation, not data.
_IGNORED = {"_SUCCESS", "dataset_info.json", "state.json", "dataset_dict.json", ".gitattributes"}
_IGNORED_PREFIXES = ("readme", "license", "licence", "notice", "copying")
_IGNORED_SUFFIXES = (".md", ".crc", ".sha256", ".sha1", ".md5", ".yaml", ".yml", ".lock")


def _is_bookkeeping(name: str) -> bool:
    lowered = name.lower()
    return (name in _IGNORED or name.startswith(".") or lowered.startswith(_IGNORED_PREFIXES)
            or lowered.endswith(_IGNORED_SUFFIXES))
_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class ShardInfo:
    """One input file (or `hf:` dataset) and what the catalogue needs to notice it changed."""

    uri: str
    format: str
    size: int = 0
    mtime: float | None = None
    etag: str | None = None
    digest: str | None = None  # local files: `content_digest`


#: Bytes read from each end of a local file for its content digest.
DIGEST_BYTES = 1 << 14


def content_digest(path: str, size: int) -> str:
    """A cheap fingerprint of a local file's content: SHA-1 of its size and its first and last
    16 KiB. Together with the resolved path it identifies a shard, so a file replaced by
    another of the same size and mtime (`cp -p`, `rsync -t`) is still seen to change. It is a
    read per file per scan, hence small: 100,000 shards read 3 GB, not the 13 GB of 64 KiB."""
    h = hashlib.sha1(str(size).encode())
    with open(path, "rb") as fh:
        h.update(fh.read(DIGEST_BYTES))
        if size > DIGEST_BYTES:
            fh.seek(max(size - DIGEST_BYTES, DIGEST_BYTES))
            h.update(fh.read(DIGEST_BYTES))
    return h.hexdigest()[:16]


def resolved(uri: str) -> str:
    """The one spelling of a local shard: absolute, symlinks resolved, so `c8/x`, `./c8/x`,
    `/abs/c8/x` and a link to it are one shard in the catalogue. Remote URIs are unchanged."""
    if is_remote(uri):
        return uri
    return os.path.realpath(local_path(uri))


def format_from_name(name: str) -> str | None:
    """Format implied by a file name's extensions, or None."""
    lowered = name.lower()
    for ext in _COMPRESSION:
        if lowered.endswith(ext) and not lowered.endswith((".warc.gz", ".wet.gz")):
            lowered = lowered[: -len(ext)]
            break
    for suffix, fmt in _SUFFIXES:
        if lowered.endswith(suffix):
            return fmt
    return None


def _name_without_compression(uri: str) -> str:
    lowered = uri.lower()
    for ext in _COMPRESSION:
        if lowered.endswith(ext):
            return lowered[: -len(ext)]
    return lowered


def sniff_format(uri: str) -> str | None:
    """Format from content: `PAR1`, Arrow IPC, `WARC/1.` (WET when it holds conversion
    records), a JSON object; looking through gzip/zstd. None when unrecognised."""
    with open_binary(uri) as raw:
        head = raw.read(8)
        raw.seek(0)
        if head.startswith(b"PAR1"):
            return "parquet"
        if head.startswith(b"ARROW1") or head.startswith(b"\xff\xff\xff\xff"):
            return "arrow"
        stream = raw
        if compression_of(head):
            stream, _ = decompressed(raw)
        try:
            sample = stream.read(8192)
        except (EOFError, OSError):
            return None
    text = sample.lstrip()
    if text.startswith(b"WARC/"):
        return "wet" if b"WARC-Type: conversion" in sample else "warc"
    if text.startswith(b"{"):
        return "jsonl"
    return None


#: Bytes of a `.json` file read to tell JSON lines from one JSON document.
JSON_HEAD_BYTES = 1 << 16


def _json_document_kind(uri: str) -> str | None:
    """"array" or "object" when a `.json` file holds one JSON document rather than JSON lines
    (a list, or one object pretty-printed over many lines, such as a benchmark's truth file);
    None for JSON lines. An object spans lines when its first line stops in the middle of it:
    the parse error falls at the line's end. A first line that is complete, longer than
    `JSON_HEAD_BYTES`, or broken in its middle is left to the JSONL reader (a real JSONL file,
    whose bad lines are reported one by one)."""
    with open_binary(uri) as raw:
        head = raw.read(JSON_HEAD_BYTES)
        if compression_of(head[:8]):
            raw.seek(0)
            try:
                head = decompressed(raw)[0].read(JSON_HEAD_BYTES)
            except Exception:  # a broken stream is the JSONL reader's to report, per file
                return None
    head = head.lstrip()
    if head.startswith(b"["):
        return "array"
    if not head.startswith(b"{"):
        return None
    end = head.find(b"\n")
    if end < 0:
        return None
    line = head[:end].decode("utf-8", "replace").rstrip()
    try:
        json.loads(line)
    except json.JSONDecodeError as exc:
        return "object" if exc.pos >= len(line) else None
    return None


def _stat(uri: str) -> tuple[int, float | None, str | None]:
    if is_remote(uri):
        import fsspec

        fs, path = fsspec.core.url_to_fs(uri)
        info = fs.info(path)
        mtime = info.get("mtime") or info.get("LastModified") or info.get("last_modified")
        if hasattr(mtime, "timestamp"):
            mtime = mtime.timestamp()
        etag = info.get("ETag") or info.get("etag") or info.get("sha256") or info.get("blob_id")
        try:
            mtime = float(mtime) if mtime is not None else None
        except (TypeError, ValueError):
            mtime = None
        return int(info.get("size") or 0), mtime, str(etag).strip('"') if etag else None
    st = os.stat(local_path(uri))
    return st.st_size, st.st_mtime, None


def _expand(item: str) -> list[str]:
    """Files named by one input: itself, a folder's files (recursive), or a glob's matches."""
    if is_remote(item):
        import fsspec

        fs, path = fsspec.core.url_to_fs(item)
        protocol = item.split("://", 1)[0]
        if _GLOB_CHARS & set(path):
            found = sorted(fs.glob(path))
        elif fs.isdir(path):
            found = sorted(fs.find(path))
        elif fs.exists(path):
            found = [path]
        else:
            raise ReaderError(f"{item}: not found; check the URI and your credentials")
        return [p if "://" in p else f"{protocol}://{p.lstrip('/') if protocol != 'file' else p}"
                for p in found if not fs.isdir(p)]
    path = local_path(item)
    if _GLOB_CHARS & set(path) and not os.path.exists(path):
        found = sorted(p for p in globlib.glob(path, recursive=True) if os.path.isfile(p))
        if not found:
            raise ReaderError(f"{item}: the pattern matches no files")
        return found
    if os.path.isdir(path):
        dataset_files = _hf_saved_files(path)
        if dataset_files is not None:
            return dataset_files
        found = []
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if not _is_bookkeeping(name):
                    found.append(os.path.join(root, name))
        if not found:
            raise ReaderError(f"{item}: the folder holds no files")
        return found
    if os.path.isfile(path):
        return [item]
    raise ReaderError(f"{item}: no such file or folder")


def _hf_saved_files(folder: str) -> list[str] | None:
    """Arrow files of a `Dataset.save_to_disk` folder (or of each split of a DatasetDict).

    None when `folder` is not one. Reads only the JSON bookkeeping, not `datasets`.
    """
    state = os.path.join(folder, "state.json")
    if os.path.isfile(state):
        try:
            with open(state, encoding="utf-8") as f:
                files = [d["filename"] for d in json.load(f).get("_data_files", [])]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ReaderError(f"{state}: not a readable datasets state file ({exc})") from exc
        return [os.path.join(folder, name) for name in files]
    splits_file = os.path.join(folder, "dataset_dict.json")
    if os.path.isfile(splits_file):
        try:
            with open(splits_file, encoding="utf-8") as f:
                splits = json.load(f)["splits"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ReaderError(f"{splits_file}: not a readable DatasetDict file ({exc})") from exc
        found: list[str] = []
        for split in splits:
            found += _hf_saved_files(os.path.join(folder, split)) or []
        return found
    return None


@dataclass(frozen=True)
class SkippedFile:
    """A file found in a folder or glob that is not a corpus shard, and why."""

    uri: str
    reason: str


@dataclass(frozen=True)
class Discovery:
    """What `find_shards` found: the shards, and the files it left out with the reason."""

    shards: list[ShardInfo]
    skipped: list[SkippedFile]


def discover(inputs: list[str], fmt: str | None = None) -> list[ShardInfo]:
    """Expand `inputs` into shards with their format, size, mtime and etag (see `find_shards`,
    whose skipped files this drops)."""
    return find_shards(inputs, fmt).shards


def _matches(uri: str, patterns: Sequence[str]) -> bool:
    """A glob matches a file by its name or by its whole path (`*.txt`, `*/raw/*`)."""
    name = uri.rstrip("/").rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(uri, p) for p in patterns)


def find_shards(inputs: list[str], fmt: str | None = None, *, include: Sequence[str] = (),
                exclude: Sequence[str] = (),
                ignore: Callable[[str], bool] | None = None) -> Discovery:
    """Expand `inputs` into shards with their format, size, mtime and etag.

    `hf:NAME[:CONFIG][@SPLIT]` inputs become one `hf` shard each (read through `datasets`).
    Local paths are resolved (`resolved`), so every spelling of a file is one shard. Files
    found in a folder or by a glob that are not corpus shards (notes, images, archives, a JSON
    array or one pretty-printed JSON object) are skipped with the reason, not fatal; `include`
    keeps only files matching one of its globs and `exclude` drops matching files; `ignore`
    drops files silently (the store's own). Raises `ReaderError` naming the input for missing paths, empty folders, and a file
    named explicitly whose format is neither in its name nor in its content (pass `--format`).
    """
    if fmt is not None and fmt not in FORMATS:
        raise ReaderError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if not inputs:
        raise ReaderError("no inputs given: name files, folders, globs or hf:DATASET")
    shards: list[ShardInfo] = []
    skipped: list[SkippedFile] = []
    seen: set[str] = set()
    for item in inputs:
        if item.startswith("hf:"):
            if item not in seen:
                seen.add(item)
                shards.append(ShardInfo(uri=item, format="hf"))
            continue
        found = _expand(item)
        named = len(found) == 1 and found[0] == item  # the input is this one file
        for uri in map(resolved, found):
            if uri in seen or (ignore is not None and ignore(uri)):
                continue
            seen.add(uri)
            if include and not _matches(uri, include):
                skipped.append(SkippedFile(uri, "not matched by --include"))
                continue
            if exclude and _matches(uri, exclude):
                skipped.append(SkippedFile(uri, "matched by --exclude"))
                continue
            shard_fmt = fmt if fmt and fmt != "hf" else format_from_name(uri)
            try:
                if shard_fmt is None:
                    shard_fmt = sniff_format(uri)
                size, mtime, etag = _stat(uri)
                digest = None if is_remote(uri) else content_digest(uri, size)
            except OSError as exc:
                raise ReaderError(f"{uri}: cannot read ({exc})") from exc
            problem = None
            kind = (_json_document_kind(uri) if shard_fmt == "jsonl"
                    and _name_without_compression(uri).endswith(".json") else None)
            if kind == "array":
                problem = ("a JSON array, not JSON lines (one object per line); convert it, "
                           "e.g. jq -c '.[]' file.json > file.jsonl")
            elif kind == "object":
                problem = ("one JSON object spread over many lines (a pretty-printed document "
                           "such as metadata or a truth file), not JSON lines (one object per "
                           "line); if its records are a list inside it, extract them, e.g. "
                           "jq -c '.KEY[]' file.json > file.jsonl")
            elif shard_fmt is None:
                problem = ("unknown format (not Parquet, JSON lines, WARC/WET or Arrow by "
                           "name or content)")
            if problem is not None:
                if named:
                    raise ReaderError(f"{uri}: {problem}; pass --format or remove it from the "
                                      "inputs")
                skipped.append(SkippedFile(uri, problem))
                continue
            shards.append(ShardInfo(uri=uri, format=shard_fmt, size=size, mtime=mtime, etag=etag,
                                    digest=digest))
    return Discovery(shards=shards, skipped=skipped)
