"""Reporting deadlines and lateness per cycle (seed 002 / seed 003 rules in `sinks.cycles`)."""

from __future__ import annotations

import datetime as dt

import pytest

from schemas.catalog import Catalog, Cycle
from sinks.cycles import deadline, monthly_due_day

D = dt.date


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
    verdict = deadline(catalog.get("legal_arrears"), last, today)
    assert verdict.late is late


def test_monthly_deadline_on_a_short_month_is_its_last_day(catalog: Catalog) -> None:
    verdict = deadline(
        catalog.get("legal_arrears"), None, D(2025, 2, 27), Cycle(kind="monthly", due_day=31)
    )
    assert (verdict.last_deadline, verdict.next_due) == (D(2025, 1, 31), D(2025, 2, 28))


def test_quarterly_data_is_due_within_the_month_after_the_quarter(catalog: Catalog) -> None:
    cls = catalog.get("logistics_freight")
    verdict = deadline(cls, D(2025, 3, 30), D(2025, 5, 1))
    assert (verdict.last_deadline, verdict.window_start, verdict.late) == (
        D(2025, 4, 30),
        D(2025, 4, 1),
        True,
    )
    assert deadline(cls, D(2025, 4, 29), D(2025, 5, 1)).late is False
    assert deadline(cls, D(2024, 10, 3), D(2025, 1, 31)).late is False  # Q4's deadline is today
    assert deadline(cls, D(2024, 10, 3), D(2025, 2, 1)).next_due == D(2025, 4, 30)


def test_yearly_data_is_due_by_the_end_of_q1(catalog: Catalog) -> None:
    cls = catalog.get("ent_annual_report")
    assert deadline(cls, D(2024, 2, 1), D(2025, 3, 31)).late is False
    assert deadline(cls, D(2024, 2, 1), D(2025, 4, 1)).late is True
    assert deadline(cls, D(2025, 1, 15), D(2025, 4, 1)).late is False


def test_weekly_and_realtime_need_recent_arrivals(catalog: Catalog) -> None:
    weekly, realtime = catalog.get("ent_admin_penalty"), catalog.get("ent_business_licence")
    assert deadline(weekly, D(2025, 6, 3), D(2025, 6, 10)).late is False
    assert deadline(weekly, D(2025, 6, 2), D(2025, 6, 10)).late is True
    assert deadline(realtime, D(2025, 6, 9), D(2025, 6, 10)).late is False
    assert deadline(realtime, D(2025, 6, 8), D(2025, 6, 10)).late is True
    assert deadline(realtime, D(2025, 6, 9), D(2025, 6, 10)).next_due == D(2025, 6, 10)
