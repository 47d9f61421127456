"""When a class's data is due, and whether a provider is late (pure date arithmetic).

Rules, per the class's (or the department's) reporting cycle:

* monthly — last month's data by day `due_day` of this month. `due_day` comes from the
  catalog; unset, it is the 25th for red/black lists and typical cases (seed 002 §四(一)1:
  红黑名单、典型案例于每月25日前) and the 23rd for everything else (seed 003: 每个月的23日前,
  将上个月特定公共信用信息报送). A deadline falling past a short month's end moves to the
  month's last day.
* quarterly — a quarter's data within the month after it (Q1 by 30 April …).
* yearly — the past year's data by the end of Q1 (31 March).
* weekly — something within the last 7 working days (双公示: decisions within 7 working days).
* realtime — something within the last working day.

Deadlines and days late follow one working-day calendar (`sinks.read.workdays`): a deadline on a
holiday or weekend moves to the next working day, and lateness is counted in working days.

For the calendar cycles each deadline is for one period (the 23 November deadline is for
October) and lateness is judged by the period an upload covers (`schemas.periods`), not by
the day it arrived: October's data arriving on 7 December is 14 days late, and November's
data arriving on 2 December does not make October on time. The verdict for the latest
deadline that has passed is `on_time` (covered by the due day; on the due day is on time),
`late` (covered after it) or `missing` (not covered yet). An upload whose period is unknown
(a ledger from before periods were recorded) counts when it arrived after the period closed:
data sent on the 28th of March cannot be all of March.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from schemas.catalog import Cycle, InfoClass
from schemas.periods import Period
from sinks.read.workdays import DEFAULT_CALENDAR, WorkCalendar

DEFAULT_MONTHLY_DUE_DAY = 23  # seed 003
LIST_MONTHLY_DUE_DAY = 25  # seed 002, red/black lists and typical cases
LIST_MARKERS = ("punishment_list", "red_list", "incentive_list", "dishonest")
REALTIME_GRACE_DAYS = 1
WEEKLY_GRACE_DAYS = 7


@dataclass(frozen=True)
class Arrival:
    """One upload: the day it arrived and the period its data covers (None: unknown)."""

    day: dt.date
    period: Period | None = None


@dataclass(frozen=True)
class Deadline:
    """The verdict for one provider and class on `today`."""

    kind: str
    due_day: int | None  # monthly only
    last_deadline: dt.date  # the latest deadline that has passed (or the grace horizon)
    window_start: dt.date  # the day after the due period (grace cycles: the horizon)
    next_due: dt.date
    due_period: Period | None  # the period `last_deadline` is for (calendar cycles)
    status: str  # on_time | late | missing
    days_late: int  # past the deadline: to the covering arrival, or to today if missing

    @property
    def late(self) -> bool:
        return self.status != "on_time"


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


def _candidates(kind: str, today: dt.date, due_day: int) -> list[tuple[dt.date, dt.date]]:
    """Nominal deadlines around `today`, each with the first day after its period."""
    if kind == "monthly":
        months = [_shift(today.year, today.month, k) for k in (-2, -1, 0, 1)]
        return [(_clamped(y, m, due_day), dt.date(y, m, 1)) for y, m in months]
    if kind == "quarterly":  # the last day of January, April, July, October
        first = (today.month - 1) // 3 * 3 + 1
        months = [_shift(today.year, first, k) for k in (-6, -3, 0, 3)]
        return [(_clamped(y, m, 31), dt.date(y, m, 1)) for y, m in months]
    return [(dt.date(y, 3, 31), dt.date(y, 1, 1)) for y in range(today.year - 2, today.year + 2)]


def _window(
    kind: str, today: dt.date, due_day: int, calendar: WorkCalendar
) -> tuple[dt.date, dt.date, dt.date]:
    """(the latest deadline passed, the day its window opened, the next deadline); a
    deadline on a holiday or weekend moves to the next working day."""
    moved = sorted(
        (calendar.on_or_after(d), start) for d, start in _candidates(kind, today, due_day)
    )
    last, start = [m for m in moved if m[0] < today][-1]
    return last, start, next(d for d, _ in moved if d >= today)


def _due_period(kind: str, window_start: dt.date) -> Period:
    """The period whose deadline opens the window: the month, quarter or year before it."""
    last = window_start - dt.timedelta(days=1)
    if kind == "monthly":
        return Period.month(last.year, last.month)
    if kind == "quarterly":
        return Period.quarter(last.year, (last.month - 1) // 3 + 1)
    return Period.year(last.year)


def deadline(
    cls: InfoClass, arrivals: Sequence[Arrival], today: dt.date, cycle: Cycle | None = None,
    calendar: WorkCalendar | None = None,
) -> Deadline:  # fmt: skip
    """Is the provider of `cls` late on `today`, given its uploads so far? Days late are
    working days of `calendar` (default: the Chinese calendar, Monday to Friday for years
    it has no data for)."""
    cal = calendar or DEFAULT_CALENDAR.lenient()
    chosen = cycle or cls.cycle
    if chosen.kind in ("monthly", "quarterly", "yearly"):
        due_day = monthly_due_day(cls, chosen) if chosen.kind == "monthly" else 31
        last, start, nxt = _window(chosen.kind, today, due_day, cal)
        period = _due_period(chosen.kind, start)
        status, days = _period_verdict(arrivals, period, start, last, today, cal)
        shown_day = due_day if chosen.kind == "monthly" else None
        return Deadline(chosen.kind, shown_day, last, start, nxt, period, status, days)
    grace = WEEKLY_GRACE_DAYS if chosen.kind == "weekly" else REALTIME_GRACE_DAYS
    start = _working_days_before(today, grace, cal)
    latest = max((a.day for a in arrivals), default=None)
    nxt = cal.add_working_days(latest or today, grace)
    if latest is None:
        return Deadline(chosen.kind, None, start, start, nxt, None, "missing", 0)
    status = "on_time" if latest >= start else "late"
    days = cal.working_days_between(latest, start)
    return Deadline(chosen.kind, None, start, start, nxt, None, status, days)


def _working_days_before(day: dt.date, days: int, calendar: WorkCalendar) -> dt.date:
    """The working day `days` working days before `day` (a 7-working-day horizon)."""
    left = days
    while left > 0:
        day -= dt.timedelta(days=1)
        left -= calendar.is_workday(day)
    return day


def _period_verdict(
    arrivals: Sequence[Arrival], period: Period, window_start: dt.date, due: dt.date,
    today: dt.date, calendar: WorkCalendar,
) -> tuple[str, int]:  # fmt: skip
    """on_time / late / missing for the due `period`, and the working days past `due`."""
    covering = [a.day for a in arrivals if a.period is not None and a.period.overlaps(period)]
    legacy = any(a.period is None and a.day >= window_start for a in arrivals)
    if legacy or any(day <= due for day in covering):
        return "on_time", 0
    if covering:
        return "late", calendar.working_days_between(due, min(covering))
    return "missing", calendar.working_days_between(due, today)
