"""Date arithmetic for plan timing: calendar and business days, months that end early.

Adding months keeps the day of the month and clamps it to the month's last day,
so 31 January plus one month is 28 (or 29) February. Business days are Monday to
Friday.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from enum import Enum

EPOCH = date(1970, 1, 1)
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})\Z")


class DayCounting(str, Enum):
    CALENDAR = "calendar"
    BUSINESS = "business"


@dataclass(frozen=True)
class Offset:
    """A signed span: years and months are added first, then weeks and days."""

    years: int = 0
    months: int = 0
    weeks: int = 0
    days: int = 0

    @property
    def is_zero(self) -> bool:
        return not (self.years or self.months or self.weeks or self.days)

    def times(self, factor: int) -> "Offset":
        return Offset(self.years * factor, self.months * factor, self.weeks * factor, self.days * factor)

    def describe(self) -> str:
        parts = [
            f"{value} {unit}{'' if abs(value) == 1 else 's'}"
            for value, unit in ((self.years, "year"), (self.months, "month"), (self.weeks, "week"), (self.days, "day"))
            if value
        ]
        return " ".join(parts) or "0 days"


def parse_date(text: object) -> date | None:
    """Return the date written as YYYY-MM-DD, or None when the text is not a real date."""
    if isinstance(text, date):
        return text
    if not isinstance(text, str):
        return None
    match = _ISO_DATE.match(text.strip())
    if not match:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def to_epoch_day(day: date) -> int:
    return (day - EPOCH).days


def from_epoch_day(number: int) -> date:
    return EPOCH + timedelta(days=number)


def add_months(day: date, months: int) -> date:
    """Add calendar months, clamping the day to the last day of the target month."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def is_business_day(day: date) -> bool:
    return day.weekday() < 5


def next_business_day(day: date) -> date:
    """Return `day` itself when it is a business day, else the Monday after."""
    while not is_business_day(day):
        day += timedelta(days=1)
    return day


def add_business_days(day: date, count: int) -> date:
    """Return the `count`-th business day after `day` (before it, when `count` is negative).

    Days are counted from `day` whatever it is, so one business day after a
    Saturday is the Monday and one before it the Friday. A `count` of zero
    returns `day` itself when it is a business day, else the Monday after.
    """
    if count == 0:
        return next_business_day(day)
    step = 1 if count > 0 else -1
    remaining = abs(count)
    while remaining:
        day += timedelta(days=step)
        if is_business_day(day):
            remaining -= 1
    return day


def shift(day: date, offset: Offset, counting: DayCounting = DayCounting.CALENDAR) -> date:
    """Return `day` moved by `offset`; with business counting, days are business days."""
    day = add_months(day, offset.years * 12 + offset.months)
    day += timedelta(weeks=offset.weeks)
    if counting is DayCounting.BUSINESS:
        return add_business_days(day, offset.days) if offset.days else day
    return day + timedelta(days=offset.days)


def end_of_span(start: date, length: Offset, counting: DayCounting = DayCounting.CALENDAR) -> date:
    """Return the last day of a span that begins on `start` and lasts `length`.

    A span of one day ends on its start; 12 months from 1 March end on the last
    day of February. With business counting, a span of N days ends on the Nth
    business day counted from the start (a weekend start counts from Monday).
    """
    if counting is DayCounting.BUSINESS and length.days:
        months_and_weeks = Offset(length.years, length.months, length.weeks, 0)
        base = shift(start, months_and_weeks)
        return add_business_days(next_business_day(base), length.days - 1)
    return shift(start, length, DayCounting.CALENDAR) - timedelta(days=1)


def days_between(first: date, last: date) -> int:
    return (last - first).days
