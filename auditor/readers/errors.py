"""The one exception readers raise for inputs they cannot use at all (unknown format, missing
path, unreadable folder). Record-level problems are not exceptions: they are `RecordIssue`s."""

from __future__ import annotations


class ReaderError(Exception):
    """An input that cannot be read; the message names the path and says what to do."""
