"""Working days across the National Day and Spring Festival holidays with their make-up
days, the credit office's own file, and a clear error past the calendar's data."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from schemas.errors import CreditError
from sinks.exceptions import CalendarRangeError
from sinks.read import governance as gov
from sinks.read.workdays import DEFAULT_CALENDAR, WorkCalendar

D = dt.date


def test_an_objection_filed_before_national_day_is_checked_after_it() -> None:
    """2026: 1–7 October off, Saturday 10 October a make-up working day. Filed on Wednesday
    30 September, the 3 working days are 8, 9 and 10 October (Monday to Friday would say 5)."""
    filed = {"stage": "filed", "filed_on": D(2026, 9, 30), "accepted_on": None}
    assert gov.due_date(filed) == D(2026, 10, 10)
    # the Sunday before (20 September) is a make-up day too: filed Friday the 18th → 22nd
    assert gov.add_working_days(D(2026, 9, 18), 3) == D(2026, 9, 22)
    assert gov.add_working_days(D(2026, 9, 24), 1) == D(2026, 9, 28)  # 中秋 25–27 September


def test_an_answer_due_across_the_spring_festival_counts_its_make_up_saturdays() -> None:
    """2026: 15–23 February off; Saturdays 14 and 28 February are working days."""
    accepted = {"stage": "accepted", "filed_on": D(2026, 2, 10), "accepted_on": D(2026, 2, 12)}
    assert gov.due_date(accepted) == D(2026, 3, 4)
    # weekdays alone would have said 26 February, in the middle of nothing
    assert WorkCalendar(years=frozenset({2026})).add_working_days(D(2026, 2, 12), 10) == D(
        2026, 2, 26
    )


def test_the_credit_offices_file_extends_and_overrides_the_library(tmp_path: Path) -> None:
    path = tmp_path / "workdays.yaml"
    path.write_text(
        "years: [2027]\nholidays: [2027-01-01, 2026-12-31]\nworkdays: [2027-01-09]\n",
        encoding="utf-8",
    )
    cal = WorkCalendar.load(path)
    assert not cal.is_workday(D(2026, 12, 31))  # the office's own closure
    assert cal.is_workday(D(2027, 1, 9))  # a Saturday made a working day
    assert cal.add_working_days(D(2026, 12, 30), 1) == D(2027, 1, 4)
    assert cal.working_days_between(D(2027, 1, 1), D(2027, 1, 11)) == 7


def test_a_year_without_data_is_a_clear_error_unless_lenient(tmp_path: Path) -> None:
    with pytest.raises(CalendarRangeError, match=r"no data for 2030.*workdays\.yaml"):
        WorkCalendar.load(tmp_path / "workdays.yaml").add_working_days(D(2030, 5, 1), 3)
    lenient = DEFAULT_CALENDAR.lenient()
    assert lenient.add_working_days(D(2030, 5, 3), 1) == D(2030, 5, 6)  # Friday → Monday
    assert lenient.approximated == {2030}


def test_a_malformed_calendar_file_names_itself(tmp_path: Path) -> None:
    path = tmp_path / "workdays.yaml"
    path.write_text("holidays: [not-a-date]\n", encoding="utf-8")
    with pytest.raises(CreditError, match=r"workdays\.yaml"):
        WorkCalendar.load(path)
