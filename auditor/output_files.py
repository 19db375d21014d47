"""Writing an output file (a report, a check result) safely, checking its path first; and
text from the data made safe for a terminal (`printable`) and for Markdown (`markdown_text`).

A leaf module (it imports nothing from `auditor`), so every stage that writes a file a person
named on the command line uses the same rules:

- only a regular file is replaced: a symlink, a directory, a device (`/dev/full`), a FIFO or a
  socket is refused, since "writing" there as root replaced the device node, and through a
  symlink could clobber any file the link points at;
- the text goes to a temporary file beside the target, is flushed to disk, then renamed over it,
  so a reader never sees half a report and a full disk leaves the old file intact;
- the path is checked before the work (`check_output_path`), so a typo or a read-only folder is
  reported at once, not after minutes of estimation.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: C0 and C1 control characters (ESC starts terminal escape sequences), and DEL.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: object) -> str:
    """Text for a terminal or a log line: control characters from the data (an ESC that would
    clear the screen or recolour the output, a carriage return that would overwrite a line)
    shown as `\\x1b` instead of acted on."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


#: Markdown's characters escaped in data (backslash), HTML's as entities, line breaks as spaces.
_MARKDOWN_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]|#!{}"} | {
    "<": "&lt;", ">": "&gt;", "&": "&amp;", "\n": " ", "\r": " "})


def markdown_text(value: object) -> str:
    """A value from the data as inert Markdown text, on one line: no link, image, code span,
    emphasis, HTML tag or table cell boundary can come out of a source name, URL or snippet,
    and control characters are shown (`printable`). The one escaper of every Markdown output
    (report, contamination section, trade-off table)."""
    return printable(str("" if value is None else value).translate(_MARKDOWN_SPECIAL))


class OutputPathError(ValueError):
    """An output path that cannot or must not be written; the message is one line."""


def check_output_path(path: str | os.PathLike) -> Path:
    """The path, after making sure it can be written as a regular file; `OutputPathError` else.

    Creates missing parent folders (as `-o reports/new/audit.html` expects).
    """
    p = Path(path)
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise OutputPathError(f"cannot use {p} as an output file: {e.strerror}") from None
    if st is not None:
        if stat.S_ISLNK(st.st_mode):
            raise OutputPathError(f"refusing to write {p}: it is a symbolic link (give the real "
                                  f"path, or remove the link)")
        if stat.S_ISDIR(st.st_mode):
            raise OutputPathError(f"refusing to write {p}: it is a directory (give a file name)")
        if not stat.S_ISREG(st.st_mode):
            raise OutputPathError(f"refusing to write {p}: it is not a regular file (a device, "
                                  f"pipe or socket); give a file name")
    parent = p.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputPathError(f"cannot create the folder {parent} for {p}: {e.strerror}") from None
    if not parent.is_dir():
        raise OutputPathError(f"cannot write {p}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputPathError(f"cannot write {p}: the folder {parent} is not writable")
    return p


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` through a temporary file beside it, fsync, rename over it."""
    p = check_output_path(path)
    mode = (p.stat().st_mode & 0o777) if p.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return p


@contextmanager
def replaced_when_done(path: str | os.PathLike, tmp: str | None = None) -> Iterator[str]:
    """A temporary path beside `path` to write into (default `<path>.<pid>.tmp`): when the block
    ends without error the file is flushed to disk and renamed over `path`, so no reader (nor
    the catalogue written afterwards) ever sees a partial file; on any error it is removed.
    For files the program names itself (side-cars, manifests, written shards); a path a person
    named goes through `check_output_path` / `write_bytes_atomic` first."""
    tmp = tmp or f"{os.fspath(path)}.{os.getpid()}.tmp"
    try:
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """`write_bytes_atomic` for UTF-8 text."""
    return write_bytes_atomic(path, text.encode("utf-8"))
