"""Turn the many ways corpora write a date into one UTC `datetime`.

Crawl dates decide which documents count as the pre-ChatGPT human reference, so a date read
wrongly moves documents between reference and corpus. Each form is parsed explicitly (ISO 8601,
RFC 2822, epoch seconds or milliseconds, `YYYYMMDDhhmmss` as in CDX/WARC file names, bare
dates); anything else, or a year outside `MIN_YEAR..MAX_YEAR`, is `None` rather than a guess.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from typing import Any

MIN_YEAR = 1970
MAX_YEAR = 2100

_DIGITS = re.compile(r"^\d+$")
#: Epoch numbers are read as seconds, milliseconds or microseconds by magnitude; each unit is
#: accepted from 1973-03 (10^8 s) on, so a small number (a count, an id) is not read as 1970.
_EPOCH_SECONDS = (1e8, 1e11)
_EPOCH_MILLIS = (1e11, 1e14)
_EPOCH_MICROS = (1e14, 1e17)


def _plausible(value: dt.datetime) -> dt.datetime | None:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    else:
        value = value.astimezone(dt.timezone.utc)
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        return None
    return value


def _from_epoch(number: float) -> dt.datetime | None:
    if number != number:  # NaN
        return None
    for (low, high), scale in ((_EPOCH_SECONDS, 1), (_EPOCH_MILLIS, 1000),
                               (_EPOCH_MICROS, 1_000_000)):
        if low <= number < high:
            number /= scale
            break
    else:
        return None
    try:
        return _plausible(dt.datetime.fromtimestamp(number, tz=dt.timezone.utc))
    except (OverflowError, OSError, ValueError):
        return None


def _from_digits(text: str) -> dt.datetime | None:
    formats = {14: "%Y%m%d%H%M%S", 12: "%Y%m%d%H%M", 8: "%Y%m%d"}
    fmt = formats.get(len(text))
    if fmt is not None and text[:2] in ("19", "20"):
        try:
            return _plausible(dt.datetime.strptime(text, fmt))
        except ValueError:
            pass
    return _from_epoch(float(text))


def parse_date(value: Any) -> dt.datetime | None:
    """Parse `value` as a UTC datetime; `None` when it is missing or not a recognisable date.

    Naive values are taken as UTC (crawl tools write UTC). Accepts `datetime`, `date`, numbers
    (epoch seconds, milliseconds or microseconds by magnitude) and strings in ISO 8601 (with `Z`
    or an offset, `T` or space), RFC 2822 (`Fri, 31 May 2024 01:16:46 GMT`), `YYYYMMDDhhmmss`,
    `YYYYMMDD`, `YYYY-MM-DD` and decimal epoch strings.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, dt.datetime):
        return _plausible(value)
    if isinstance(value, dt.date):
        return _plausible(dt.datetime(value.year, value.month, value.day))
    if isinstance(value, (int, float)):
        return _from_epoch(float(value))
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        return parse_date(value.item())
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return None
    if _DIGITS.match(text):
        return _from_digits(text)
    iso = text[:-1] + "+00:00" if text[-1] in "Zz" else text
    try:
        return _plausible(dt.datetime.fromisoformat(iso))
    except ValueError:
        pass
    try:
        return _plausible(email.utils.parsedate_to_datetime(text))
    except (TypeError, ValueError, IndexError):
        pass
    try:
        return _from_epoch(float(text))
    except ValueError:
        return None


def crawl_month(value: dt.datetime | None) -> str | None:
    """`YYYY-MM` of a UTC datetime, the grouping key the store keeps beside `crawl_date`."""
    return None if value is None else f"{value.year:04d}-{value.month:02d}"
