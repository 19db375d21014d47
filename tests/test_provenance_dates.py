"""Date parsing: every form corpora use, as a table, and round trips as properties."""

from __future__ import annotations

import datetime as dt
import email.utils

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.provenance.dates import crawl_month, parse_date

UTC = dt.timezone.utc


@pytest.mark.parametrize("value,expected", [
    ("2024-05-18T01:58:10Z", dt.datetime(2024, 5, 18, 1, 58, 10, tzinfo=UTC)),
    ("2024-05-18T01:58:10.123456+00:00", dt.datetime(2024, 5, 18, 1, 58, 10, 123456, tzinfo=UTC)),
    ("2019-04-25 12:00:00+02:00", dt.datetime(2019, 4, 25, 10, tzinfo=UTC)),
    ("2020-03-29T09:04:10", dt.datetime(2020, 3, 29, 9, 4, 10, tzinfo=UTC)),  # naive: UTC
    ("2019-04-25", dt.datetime(2019, 4, 25, tzinfo=UTC)),
    ("Fri, 31 May 2024 01:16:46 GMT", dt.datetime(2024, 5, 31, 1, 16, 46, tzinfo=UTC)),
    ("Wed, 30 Apr 2008 13:48:25 -0700", dt.datetime(2008, 4, 30, 20, 48, 25, tzinfo=UTC)),
    ("20080430204825", dt.datetime(2008, 4, 30, 20, 48, 25, tzinfo=UTC)),
    ("20190425", dt.datetime(2019, 4, 25, tzinfo=UTC)),
    ("1556000000", dt.datetime(2019, 4, 23, 6, 13, 20, tzinfo=UTC)),
    (1556000000, dt.datetime(2019, 4, 23, 6, 13, 20, tzinfo=UTC)),
    (1556000000123, dt.datetime(2019, 4, 23, 6, 13, 20, 123000, tzinfo=UTC)),
    (1556000000.5, dt.datetime(2019, 4, 23, 6, 13, 20, 500000, tzinfo=UTC)),
    (dt.date(2021, 1, 2), dt.datetime(2021, 1, 2, tzinfo=UTC)),
    (dt.datetime(2021, 1, 2, 3, 4), dt.datetime(2021, 1, 2, 3, 4, tzinfo=UTC)),
    (b"2022-11-29T23:59:59Z", dt.datetime(2022, 11, 29, 23, 59, 59, tzinfo=UTC)),
])
def test_known_forms(value, expected):
    assert parse_date(value) == expected


@pytest.mark.parametrize("value", [None, "", "  ", "yesterday", "2019-13-45", "2019", True,
                                   "9999-01-01", -5, 12, 99_999_999, float("nan"), "12", [2020], "0x1234"])
def test_not_dates_are_none(value):
    assert parse_date(value) is None


moments = st.datetimes(min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(2099, 12, 31),
                       timezones=st.just(UTC))


@settings(derandomize=True)
@given(moments)
def test_iso_round_trip(moment):
    assert parse_date(moment.isoformat()) == moment
    assert parse_date(moment.isoformat().replace("+00:00", "Z")) == moment


@settings(derandomize=True)
@given(st.datetimes(min_value=dt.datetime(1974, 1, 1), max_value=dt.datetime(2099, 12, 31),
                    timezones=st.just(UTC)))
def test_rfc2822_and_compact_and_epoch_round_trip(moment):
    whole = moment.replace(microsecond=0)
    assert parse_date(email.utils.format_datetime(whole)) == whole
    assert parse_date(whole.strftime("%Y%m%d%H%M%S")) == whole
    assert parse_date(int(whole.timestamp())) == whole
    assert parse_date(int(whole.timestamp()) * 1000) == whole


@settings(derandomize=True)
@given(moments, st.integers(min_value=-12 * 60, max_value=14 * 60))
def test_offsets_convert_to_utc(moment, minutes):
    local = moment.astimezone(dt.timezone(dt.timedelta(minutes=minutes)))
    parsed = parse_date(local.isoformat())
    assert parsed == moment and parsed.utcoffset() == dt.timedelta(0)


def test_crawl_month():
    assert crawl_month(dt.datetime(2024, 5, 18, tzinfo=UTC)) == "2024-05"
    assert crawl_month(None) is None
