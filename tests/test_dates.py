"""Date arithmetic across month ends, leap days and weekends."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from svcplan.dates import (
    DayCounting,
    Offset,
    add_business_days,
    add_months,
    end_of_span,
    from_epoch_day,
    is_business_day,
    parse_date,
    shift,
    to_epoch_day,
)

days = st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31))


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2027, 1, 31), 1, date(2027, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2028, 2, 29), 12, date(2029, 2, 28)),
        (date(2027, 3, 31), -1, date(2027, 2, 28)),
        (date(2027, 12, 15), 1, date(2028, 1, 15)),
        (date(2027, 1, 8), 6, date(2027, 7, 8)),
    ],
)
def test_add_months_clamps_to_month_end(start, months, expected):
    assert add_months(start, months) == expected


@given(days, st.integers(-2400, 2400))
def test_add_months_lands_in_target_month(day, months):
    result = add_months(day, months)
    assert (result.year * 12 + result.month) - (day.year * 12 + day.month) == months
    assert result.day == min(day.day, calendar.monthrange(result.year, result.month)[1])


@given(days, st.integers(-500, 500))
def test_business_days_never_land_on_weekend(day, count):
    assert is_business_day(add_business_days(day, count))


@given(days, st.integers(1, 500))
def test_business_days_count_exactly(day, count):
    start = add_business_days(day, 0)
    result = add_business_days(start, count)
    counted = sum(1 for n in range(1, (result - start).days + 1) if is_business_day(start + timedelta(days=n)))
    assert counted == count


def test_business_day_offset_skips_weekend():
    friday = date(2027, 1, 8)
    assert shift(friday, Offset(days=1), DayCounting.BUSINESS) == date(2027, 1, 11)
    assert shift(friday, Offset(days=5), DayCounting.BUSINESS) == date(2027, 1, 15)


@given(days, st.integers(1, 4000))
def test_span_of_days_ends_length_minus_one_later(day, length):
    assert end_of_span(day, Offset(days=length)) == day + timedelta(days=length - 1)


def test_span_of_twelve_months_ends_before_anniversary():
    assert end_of_span(date(2027, 3, 1), Offset(months=12)) == date(2028, 2, 29)
    assert end_of_span(date(2027, 1, 11), Offset(months=12)) == date(2028, 1, 10)


def test_business_span_counts_start_as_first_day():
    monday = date(2027, 1, 11)
    assert end_of_span(monday, Offset(days=5), DayCounting.BUSINESS) == date(2027, 1, 15)
    saturday = date(2027, 1, 9)
    assert end_of_span(saturday, Offset(days=1), DayCounting.BUSINESS) == monday


@given(days)
def test_epoch_day_round_trip(day):
    assert from_epoch_day(to_epoch_day(day)) == day


@pytest.mark.parametrize("text", ["2027-02-29", "2027-13-01", "2027-00-10", "27-01-01", "2027-1-1", "soon", ""])
def test_parse_date_rejects_impossible(text):
    assert parse_date(text) is None


def test_parse_date_accepts_leap_day():
    assert parse_date("2028-02-29") == date(2028, 2, 29)


def test_business_days_from_a_weekend():
    saturday = date(2027, 1, 30)
    assert shift(saturday, Offset(days=1), DayCounting.BUSINESS) == date(2027, 2, 1)
    assert shift(saturday, Offset(days=-1), DayCounting.BUSINESS) == date(2027, 1, 29)
    assert shift(saturday, Offset(days=0), DayCounting.BUSINESS) == saturday
    assert add_business_days(saturday, 0) == date(2027, 2, 1)


@given(days, st.integers(1, 300))
def test_business_days_forward_then_back(day, count):
    start = add_business_days(day, 0)
    assert add_business_days(add_business_days(start, count), -count) == start
