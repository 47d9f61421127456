"""The period an upload's data covers (报送期): a month, a quarter, a year or a span of days.

Lateness is judged by the period the data covers, not by the day it arrived: October's data
sent on 7 December did not meet the 23 November deadline, and November's data sent on
2 December says nothing about October. A provider may declare the period (`credit upload
--period 2026-10`, `?period=` on the API); otherwise it is the span of the event dates of the
upload's rows (`Period.spanning`).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass

from schemas.exceptions import PeriodError

_MONTH = re.compile(r"^(\d{4})-?(\d{1,2})$")
_QUARTER = re.compile(r"^(\d{4})-?Q([1-4])$", re.IGNORECASE)
_YEAR = re.compile(r"^(\d{4})$")
_SPAN = re.compile(r"^(\d{4}-\d{2}-\d{2})\s*(?:\.\.|/|~)\s*(\d{4}-\d{2}-\d{2})$")


def month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


@dataclass(frozen=True)
class Period:
    """Inclusive first and last day."""

    start: dt.date
    end: dt.date

    @classmethod
    def month(cls, year: int, month: int) -> Period:
        return cls(dt.date(year, month, 1), month_end(year, month))

    @classmethod
    def quarter(cls, year: int, quarter: int) -> Period:
        first = (quarter - 1) * 3 + 1
        return cls(dt.date(year, first, 1), month_end(year, first + 2))

    @classmethod
    def year(cls, year: int) -> Period:
        return cls(dt.date(year, 1, 1), dt.date(year, 12, 31))

    @classmethod
    def parse(cls, text: str) -> Period:
        """`2026-10`, `2026-Q3`, `2026` or `2026-10-01..2026-10-15`; a clear error otherwise."""
        value = text.strip()
        try:
            if m := _MONTH.match(value):
                return cls.month(int(m[1]), int(m[2]))
            if m := _QUARTER.match(value):
                return cls.quarter(int(m[1]), int(m[2]))
            if m := _YEAR.match(value):
                return cls.year(int(m[1]))
            if m := _SPAN.match(value):
                start, end = dt.date.fromisoformat(m[1]), dt.date.fromisoformat(m[2])
                if start <= end:
                    return cls(start, end)
        except ValueError:
            pass
        raise PeriodError(
            f"报送期「{text}」无法识别 / period '{text}' is not a month (2026-10), a quarter "
            "(2026-Q3), a year (2026) or a span of days (2026-10-01..2026-10-15)"
        )

    @classmethod
    def spanning(cls, days: Iterable[dt.date]) -> Period | None:
        """The smallest period holding every day, or None for no day."""
        first = last = None
        for day in days:
            first = day if first is None or day < first else first
            last = day if last is None or day > last else last
        return None if first is None or last is None else cls(first, last)

    def overlaps(self, other: Period) -> bool:
        return self.start <= other.end and other.start <= self.end

    def label(self) -> str:
        """The shortest name: 2026-10, 2026-Q3, 2026, or first..last."""
        s, e = self.start, self.end
        if s.day == 1 and e == month_end(e.year, e.month) and s.year == e.year:
            if s.month == e.month:
                return f"{s.year}-{s.month:02d}"
            if (s.month - 1) % 3 == 0 and e.month == s.month + 2:
                return f"{s.year}-Q{(s.month - 1) // 3 + 1}"
            if s.month == 1 and e.month == 12:
                return str(s.year)
        return f"{s.isoformat()}..{e.isoformat()}"
