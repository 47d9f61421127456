"""Reporting deadlines and lateness per cycle (seed 002 / seed 003 rules in `sinks.read.cycles`)."""

from __future__ import annotations

import datetime as dt

import pytest

from schemas.catalog import Catalog, Cycle
from schemas.periods import Period
from sinks.read.cycles import Arrival, deadline, monthly_due_day

D = dt.date


def legacy(day: dt.date | None) -> list[Arrival]:
    """An upload from before periods were recorded: judged by the day it arrived."""
    return [Arrival(day)] if day else []


def test_monthly_defaults_are_the_23rd_and_the_25th_for_lists(catalog: Catalog) -> None:
    assert monthly_due_day(catalog.get("legal_arrears")) == 23  # seed 003
    assert monthly_due_day(catalog.get("ent_punishment_list")) == 25  # seed 002 红黑名单
    assert monthly_due_day(catalog.get("legal_arrears"), Cycle(kind="monthly", due_day=10)) == 10


@pytest.mark.parametrize(
    ("last", "today", "late"),
    [
        (D(2025, 4, 2), D(2025, 4, 23), False),  # March's deadline (23 April) not yet due…
        (D(2025, 3, 28), D(2025, 4, 23), False),  # …so February's, met on 28 March, counts
        (D(2025, 3, 28), D(2025, 4, 24), True),  # 23 April passed with nothing since 1 April
        (D(2025, 4, 23), D(2025, 4, 24), False),  # on the due day is on time
        (None, D(2025, 4, 24), True),
    ],
)
def test_monthly_lateness(
    catalog: Catalog, last: dt.date | None, today: dt.date, late: bool
) -> None:
    verdict = deadline(catalog.get("legal_arrears"), legacy(last), today)
    assert verdict.late is late


def test_monthly_deadline_on_a_short_month_is_its_last_day(catalog: Catalog) -> None:
    verdict = deadline(
        catalog.get("legal_arrears"), [], D(2025, 2, 27), Cycle(kind="monthly", due_day=31)
    )
    # 31 January 2025 fell in the Spring Festival holiday: that deadline moved to 5 February
    assert (verdict.last_deadline, verdict.next_due) == (D(2025, 2, 5), D(2025, 2, 28))


def test_quarterly_data_is_due_within_the_month_after_the_quarter(catalog: Catalog) -> None:
    cls = catalog.get("logistics_freight")
    verdict = deadline(cls, legacy(D(2025, 3, 30)), D(2025, 5, 1))
    assert (verdict.last_deadline, verdict.window_start, verdict.late) == (
        D(2025, 4, 30),
        D(2025, 4, 1),
        True,
    )
    assert deadline(cls, legacy(D(2025, 4, 29)), D(2025, 5, 1)).late is False
    assert (
        deadline(cls, legacy(D(2024, 10, 3)), D(2025, 1, 31)).late is False
    )  # Q4's deadline is today
    # Q4's deadline, 31 January 2025, fell in the Spring Festival: it moved to 5 February
    assert deadline(cls, legacy(D(2024, 10, 3)), D(2025, 2, 1)).next_due == D(2025, 2, 5)
    assert deadline(cls, legacy(D(2024, 10, 3)), D(2025, 2, 6)).next_due == D(2025, 4, 30)


def test_yearly_data_is_due_by_the_end_of_q1(catalog: Catalog) -> None:
    cls = catalog.get("ent_annual_report")
    assert deadline(cls, legacy(D(2024, 2, 1)), D(2025, 3, 31)).late is False
    assert deadline(cls, legacy(D(2024, 2, 1)), D(2025, 4, 1)).late is True
    assert deadline(cls, legacy(D(2025, 1, 15)), D(2025, 4, 1)).late is False


def test_weekly_and_realtime_need_recent_arrivals(catalog: Catalog) -> None:
    weekly, realtime = catalog.get("ent_admin_penalty"), catalog.get("ent_business_licence")
    assert deadline(weekly, legacy(D(2025, 6, 3)), D(2025, 6, 10)).late is False
    # 7 working days before 10 June 2025 is 29 May (the Dragon Boat holiday, 31 May – 2 June,
    # does not count): an arrival on 2 June is recent enough, one on 28 May is not
    assert deadline(weekly, legacy(D(2025, 6, 2)), D(2025, 6, 10)).late is False
    assert deadline(weekly, legacy(D(2025, 5, 28)), D(2025, 6, 10)).late is True
    assert deadline(realtime, legacy(D(2025, 6, 9)), D(2025, 6, 10)).late is False
    assert deadline(realtime, legacy(D(2025, 6, 8)), D(2025, 6, 10)).late is True
    assert deadline(realtime, legacy(D(2025, 6, 9)), D(2025, 6, 10)).next_due == D(2025, 6, 10)


def test_lateness_follows_the_period_the_data_covers_not_the_day_it_arrived(
    catalog: Catalog,
) -> None:
    """On 7 December the 23 November deadline (October's data) is the one that has passed."""
    cls, today = catalog.get("legal_arrears"), D(2026, 12, 7)
    october, november = Period.month(2026, 10), Period.month(2026, 11)
    on_time = deadline(cls, [Arrival(D(2026, 11, 23), october)], today)
    assert (on_time.status, on_time.days_late, on_time.due_period) == ("on_time", 0, october)
    late = deadline(cls, [Arrival(D(2026, 12, 7), october)], today)
    assert (late.status, late.days_late, late.late) == ("late", 10, True)  # working days
    # November's data, early for its own deadline, does not cover October
    missing = deadline(cls, [Arrival(D(2026, 12, 2), november)], today)
    assert (missing.status, missing.days_late) == ("missing", 10)
    # the first covering upload decides: a re-send after the deadline keeps it on time
    both = [Arrival(D(2026, 11, 20), october), Arrival(D(2026, 12, 5), october)]
    assert deadline(cls, both, today).status == "on_time"
    # a catch-up upload covering September to October counts for October
    catch_up = Period(D(2026, 9, 1), D(2026, 10, 31))
    assert deadline(cls, [Arrival(D(2026, 11, 10), catch_up)], today).status == "on_time"


def test_quarterly_and_yearly_due_periods(catalog: Catalog) -> None:
    quarterly = deadline(catalog.get("logistics_freight"), [], D(2026, 12, 7))
    assert (quarterly.due_period, quarterly.last_deadline) == (
        Period.quarter(2026, 3),
        D(2026, 11, 2),  # 31 October 2026 is a Saturday
    )
    yearly = deadline(catalog.get("ent_annual_report"), [], D(2026, 12, 7))
    assert (yearly.due_period, yearly.status) == (Period.year(2025), "missing")
    q3 = [Arrival(D(2026, 11, 4), Period.parse("2026-Q3"))]
    assert deadline(catalog.get("logistics_freight"), q3, D(2026, 12, 7)).days_late == 2


@pytest.mark.parametrize(
    ("text", "start", "end", "label"),
    [
        ("2026-10", D(2026, 10, 1), D(2026, 10, 31), "2026-10"),
        ("2024-2", D(2024, 2, 1), D(2024, 2, 29), "2024-02"),
        ("2026-q4", D(2026, 10, 1), D(2026, 12, 31), "2026-Q4"),
        ("2025", D(2025, 1, 1), D(2025, 12, 31), "2025"),
        ("2026-10-01..2026-10-15", D(2026, 10, 1), D(2026, 10, 15), "2026-10-01..2026-10-15"),
    ],
)
def test_periods_parse_and_name_themselves(
    text: str, start: dt.date, end: dt.date, label: str
) -> None:
    period = Period.parse(text)
    assert (period.start, period.end, period.label()) == (start, end, label)


@pytest.mark.parametrize("text", ["2026-13", "2026-Q5", "10/2026", "2026-10-15..2026-10-01", ""])
def test_a_malformed_period_says_what_is_accepted(text: str) -> None:
    from schemas.exceptions import PeriodError

    with pytest.raises(PeriodError, match="2026-Q3"):
        Period.parse(text)
