"""When a class's data is due, and whether a provider is late (pure date arithmetic).

Rules, per the class's (or the department's) reporting cycle:

* monthly — last month's data by day `due_day` of this month. `due_day` comes from the
  catalog; unset, it is the 25th for red/black lists and typical cases (seed 002 §四(一)1:
  红黑名单、典型案例于每月25日前) and the 23rd for everything else (seed 003: 每个月的23日前,
  将上个月特定公共信用信息报送). A deadline falling past a short month's end moves to the
  month's last day.
* quarterly — a quarter's data within the month after it (Q1 by 30 April …).
* yearly — the past year's data by the end of Q1 (31 March).
* weekly — something at least every 7 days (双公示 decisions within 7 days).
* realtime — something at least every day.

For the calendar cycles a provider is late once a deadline has passed with nothing arrived
since that deadline's period closed: data sent on the 28th of March cannot be all of March,
so it does not meet the 23 April deadline. "On the due day" is on time.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass

from schemas.catalog import Cycle, InfoClass

DEFAULT_MONTHLY_DUE_DAY = 23  # seed 003
LIST_MONTHLY_DUE_DAY = 25  # seed 002, red/black lists and typical cases
LIST_MARKERS = ("punishment_list", "red_list", "incentive_list", "dishonest")
REALTIME_GRACE_DAYS = 1
WEEKLY_GRACE_DAYS = 7


@dataclass(frozen=True)
class Deadline:
    """The verdict for one provider and class on `today`."""

    kind: str
    due_day: int | None  # monthly only
    last_deadline: dt.date  # the latest deadline that has passed (or the grace horizon)
    window_start: dt.date  # arrivals from this day on count for `last_deadline`
    next_due: dt.date
    late: bool


def _clamped(year: int, month: int, day: int) -> dt.date:
    return dt.date(year, month, min(day, calendar.monthrange(year, month)[1]))


def _shift(year: int, month: int, months: int) -> tuple[int, int]:
    """(year, month) moved by `months` (negative: back)."""
    index = year * 12 + month - 1 + months
    return index // 12, index % 12 + 1


def monthly_due_day(cls: InfoClass, cycle: Cycle | None = None) -> int:
    """The catalog's due day, else the seeds' default for this kind of class."""
    chosen = cycle or cls.cycle
    if chosen.due_day:
        return chosen.due_day
    if any(marker in cls.code for marker in LIST_MARKERS):
        return LIST_MONTHLY_DUE_DAY
    return DEFAULT_MONTHLY_DUE_DAY


def _monthly(today: dt.date, due_day: int) -> tuple[dt.date, dt.date, dt.date]:
    this_due = _clamped(today.year, today.month, due_day)
    if today > this_due:
        ny, nm = _shift(today.year, today.month, 1)
        return this_due, today.replace(day=1), _clamped(ny, nm, due_day)
    py, pm = _shift(today.year, today.month, -1)
    return _clamped(py, pm, due_day), dt.date(py, pm, 1), this_due


def _quarterly(today: dt.date) -> tuple[dt.date, dt.date, dt.date]:
    # Deadlines: the last day of January, April, July, October.
    first_month = (today.month - 1) // 3 * 3 + 1  # month after the previous quarter
    this_due = _clamped(today.year, first_month, 31)
    if today > this_due:
        ny, nm = _shift(today.year, first_month, 3)
        return this_due, dt.date(today.year, first_month, 1), _clamped(ny, nm, 31)
    py, pm = _shift(today.year, first_month, -3)
    return _clamped(py, pm, 31), dt.date(py, pm, 1), this_due


def _yearly(today: dt.date) -> tuple[dt.date, dt.date, dt.date]:
    this_due = dt.date(today.year, 3, 31)
    if today > this_due:
        return this_due, dt.date(today.year, 1, 1), dt.date(today.year + 1, 3, 31)
    return dt.date(today.year - 1, 3, 31), dt.date(today.year - 1, 1, 1), this_due


def deadline(
    cls: InfoClass, last_arrival: dt.date | None, today: dt.date, cycle: Cycle | None = None
) -> Deadline:
    """Is the provider of `cls` late on `today`, given the day data last arrived?"""
    chosen = cycle or cls.cycle
    due_day: int | None = None
    if chosen.kind == "monthly":
        due_day = monthly_due_day(cls, chosen)
        last, start, nxt = _monthly(today, due_day)
    elif chosen.kind == "quarterly":
        last, start, nxt = _quarterly(today)
    elif chosen.kind == "yearly":
        last, start, nxt = _yearly(today)
    else:
        grace = WEEKLY_GRACE_DAYS if chosen.kind == "weekly" else REALTIME_GRACE_DAYS
        start = today - dt.timedelta(days=grace)
        last, nxt = start, (last_arrival or today) + dt.timedelta(days=grace)
    late = last_arrival is None or last_arrival < start
    return Deadline(chosen.kind, due_day, last, start, nxt, late)
