"""The one working-day calendar for every deadline and lateness figure.

Chinese statutory holidays (法定节假日) and their make-up working weekends (调休) come from
`chinese-calendar`, which covers the years the State Council has announced (2004–2026 in
the pinned release). The credit office overrides or extends it with a YAML file
(`CREDIT_WORKDAY_CALENDAR_FILE`, default `<data_dir>/workdays.yaml`):

    years: [2027]                    # years this file describes in full
    holidays: [2027-01-01, …]        # days off, whatever the library says
    workdays: [2027-02-20, …]        # make-up working days (a Saturday or Sunday)

A day of a year neither source covers raises `CalendarRangeError` naming the year and the
file to extend: a deadline counted on guessed holidays would be wrong without anyone
knowing. Readers that must always answer (statistics, metrics) use `lenient()`, which
counts Monday to Friday for such years and says so in `approximated`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import chinese_calendar
import yaml

from schemas.errors import CreditError
from sinks.exceptions import CalendarRangeError


class WorkCalendar:
    """Working days in China: the library's data, then the office's file on top."""

    def __init__(
        self,
        holidays: frozenset[dt.date] = frozenset(),
        workdays: frozenset[dt.date] = frozenset(),
        years: frozenset[int] = frozenset(),
        source: str = "",
        strict: bool = True,
    ) -> None:
        self.holidays = holidays
        self.workdays = workdays
        self.years = years
        self.source = source or "CREDIT_WORKDAY_CALENDAR_FILE"
        self.strict = strict
        self.approximated: set[int] = set()

    @classmethod
    def load(cls, path: Path | None) -> WorkCalendar:
        """The library's calendar with the office's file (if it exists) on top."""
        if path is None or not path.exists():
            return cls(source=str(path or ""))
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            holidays = frozenset(_dates(raw.get("holidays", [])))
            workdays = frozenset(_dates(raw.get("workdays", [])))
            years = frozenset(int(y) for y in raw.get("years", []))
        except (yaml.YAMLError, ValueError, TypeError, AttributeError) as exc:
            raise CreditError(f"{path}: not a working-day calendar ({exc}); expected years:, "
                              "holidays: and workdays: lists of YYYY-MM-DD") from exc  # fmt: skip
        return cls(holidays, workdays, years, str(path))

    def lenient(self) -> WorkCalendar:
        """The same calendar, counting Monday to Friday in years without data."""
        return WorkCalendar(self.holidays, self.workdays, self.years, self.source, strict=False)

    def is_workday(self, day: dt.date) -> bool:
        if day in self.holidays:
            return False
        if day in self.workdays:
            return True
        if day.year in self.years:
            return day.weekday() < 5
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            if self.strict:
                raise CalendarRangeError(
                    f"the holiday calendar has no data for {day.year} (法定节假日安排未知): add "
                    f"{day.year}'s holidays and make-up working days to {self.source}"
                ) from None
            self.approximated.add(day.year)
            return day.weekday() < 5

    def add_working_days(self, start: dt.date, days: int) -> dt.date:
        """The day `days` working days after `start` (the day of receipt does not count)."""
        day, left = start, days
        while left > 0:
            day += dt.timedelta(days=1)
            if self.is_workday(day):
                left -= 1
        return day

    def on_or_after(self, day: dt.date) -> dt.date:
        """`day` if it is a working day, else the next one (a deadline on a holiday moves)."""
        while not self.is_workday(day):
            day += dt.timedelta(days=1)
        return day

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days after `start` up to and including `end` (0 if `end` ≤ `start`)."""
        count, day = 0, start
        while day < end:
            day += dt.timedelta(days=1)
            count += self.is_workday(day)
        return count


def _dates(values: list[object]) -> list[dt.date]:
    return [v if isinstance(v, dt.date) else dt.date.fromisoformat(str(v)) for v in values]


DEFAULT_CALENDAR = WorkCalendar()
