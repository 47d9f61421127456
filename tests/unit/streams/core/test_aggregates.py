"""Rolling aggregates: known histories replayed with late, duplicate, corrected and
out-of-order events, every figure checked against numbers worked out by hand."""

from __future__ import annotations

import copy
import json
import random
import re
from collections.abc import Iterable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.catalog import default_catalog
from streams.core.aggregate_figures import Arrears, Bill
from streams.core.aggregates import (
    AGGREGATE_COLUMNS,
    CLASS_ROLES,
    State,
    apply,
    figures,
    fold,
    kind_of,
    to_row,
)
from streams.exceptions import AggregateError

Event = tuple[str, dict[str, Any]]
AS_OF = date(2024, 7, 10)
DDL = Path(__file__).parents[4] / "sinks" / "ddl" / "050_aggregates.sql"
UTILITY_TYPES = {
    "水费": "water",
    "电费": "power",
    "燃气费": "gas",
    "通信费": "telecom",
    "热力费": "heat",
}


def d(text: str) -> date:
    return date.fromisoformat(text)


def bill(
    key: str,
    start: str,
    end: str,
    amount: float,
    usage: float | None = None,
    pay: str | None = None,
    version: int = 1,
    ptype: str = "水费",
    prepaid: bool = False,
) -> Event:
    provided = max(d(end), d(pay)) if pay else d(end)
    return "legal_utility_payment", {
        "record_key": key, "version": version, "payment_type": ptype, "prepaid": prepaid,
        "period_start": d(start), "period_end": d(end), "usage": usage, "amount": amount,
        "pay_date": d(pay) if pay else None, "provide_date": provided + timedelta(days=3),
    }  # fmt: skip


def arrears(
    key: str,
    start: str,
    end: str,
    days: int,
    amount: float,
    account: str = "W1",
    ptype: str = "水费",
    version: int = 1,
) -> Event:
    return "legal_arrears", {
        "record_key": key, "version": version, "arrears_type": ptype, "account_no": account,
        "arrears_start": d(start), "arrears_end": d(end), "overdue_days": days,
        "arrears_amount": amount, "provide_date": d(end) + timedelta(days=5),
    }  # fmt: skip


def social(
    key: str,
    month: str,
    category: str,
    heads: int,
    due: float,
    paid: float,
    pay: str,
    version: int = 1,
) -> Event:
    return "legal_social_insurance", {
        "record_key": key, "version": version, "pay_month": month, "category": category,
        "insured_count": heads, "due_amount": due, "paid_amount": paid, "pay_date": d(pay),
        "provide_date": d(pay) + timedelta(days=2),
    }  # fmt: skip


def housing(
    key: str, m_from: str, m_to: str, heads: int, amount: float, pay: str, version: int = 1
) -> Event:
    return "legal_housing_fund", {
        "record_key": key, "version": version, "pay_month_from": m_from, "pay_month_to": m_to,
        "headcount": heads, "monthly_amount": amount, "pay_date": d(pay),
        "provide_date": d(pay) + timedelta(days=2),
    }  # fmt: skip


def replay(events: Iterable[Event], kind: str) -> State:
    state: State | None = None
    for class_code, record in events:
        state = apply(state, kind, record, class_code)
    assert state is not None
    return state


def with_type(events: list[Event], ptype: str) -> list[Event]:
    field = {"legal_utility_payment": "payment_type", "legal_arrears": "arrears_type"}
    return [(c, {**r, field[c]: ptype}) for c, r in events]


def approx(expected: dict[str, Any]) -> dict[str, Any]:
    return {
        k: pytest.approx(v, abs=0.006) if isinstance(v, float) else v for k, v in expected.items()
    }


def check(got: dict[str, Any], expected: dict[str, Any], extra: dict[str, Any]) -> None:
    """Every figure equal (to the cent) and of the column's type (no int where a float goes)."""
    assert {k: v for k, v in got.items() if k != "extra"} == approx(expected)
    assert got["extra"] == approx(extra)
    for name, value in [*expected.items(), *extra.items()]:
        actual = got[name] if name in got else got["extra"][name]
        assert type(actual) is type(value), name


# --- a water year ---------------------------------------------------------------------------
# Monthly (usage, amount): 2023-09 (8, 24) 2023-10 (9, 27) 2023-11 (7, 21, never paid)
# 2023-12 none; 2024-01 (11, 33 after the correction) 2024-02 (12, 36) 2024-03 (20, 60, paid
# late on 05-20) 2024-04 and 2024-05 one bill of 61 days: (30, 60) and (31, 62), paid 06-10;
# 2024-06 (15, 45, not paid yet). Arrears: 2023-11 open (21.00, 15 days at 11-30); March
# stated twice (to 03-31, then to 04-30) and settled by the March bill paid 05-20.
B_SEP = bill("b-sep", "2023-09-01", "2023-09-30", 24, 8, "2023-10-08")
B_OCT = bill("b-oct", "2023-10-01", "2023-10-31", 27, 9, "2023-11-30")  # last on-time day
B_NOV = bill("b-nov", "2023-11-01", "2023-11-30", 21, 7)
B_JAN_V1 = bill("b-jan", "2024-01-01", "2024-01-31", 30, 10, "2024-02-10", version=1)
B_JAN_V2 = bill("b-jan", "2024-01-01", "2024-01-31", 33, 11, "2024-02-10", version=2)
B_FEB = bill("b-feb", "2024-02-01", "2024-02-29", 36, 12, "2024-03-05")
B_MAR = bill("b-mar", "2024-03-01", "2024-03-31", 60, 20, "2024-05-20")
B_APR_MAY = bill("b-apr-may", "2024-04-01", "2024-05-31", 122, 61, "2024-06-10")
B_JUN = bill("b-jun", "2024-06-01", "2024-06-30", 45, 15)
A_NOV = arrears("a-nov", "2023-11-01", "2023-11-30", 15, 21)
A_MAR_1 = arrears("a-mar-1", "2024-03-01", "2024-03-31", 5, 60)
A_MAR_2 = arrears("a-mar-2", "2024-03-01", "2024-04-30", 35, 60)

# Arrival order: newest first, the correction before the original, February twice, and the
# March bill (three months before the newest) last, after the arrears it settles.
WATER_STREAM = [
    B_JUN, B_APR_MAY, B_JAN_V2, A_NOV, B_FEB, B_SEP, B_NOV, B_FEB, A_MAR_1, B_JAN_V1, B_OCT,
    A_MAR_2, B_MAR,
]  # fmt: skip
WATER_IN_ORDER = [
    B_SEP, B_OCT, B_NOV, A_NOV, B_JAN_V1, B_JAN_V2, B_FEB, B_MAR, A_MAR_1, A_MAR_2,
    B_APR_MAY, B_JUN,
]  # fmt: skip
WATER_EXPECTED: dict[str, Any] = {
    "arrears_flag": 1,
    "arrears_amount": 21.0,  # November only: March was settled (补缴)
    "days_overdue": 15 + (AS_OF - date(2023, 11, 30)).days,
    "months_in_arrears_12": 3,  # 2023-11, 2024-03, 2024-04
    "last_month": "2024-06",
    "last_month_usage": 15.0,
    "last_month_amount": 45.0,
    "avg_usage_3": (30 + 31 + 15) / 3,
    "avg_usage_6": (11 + 12 + 20 + 30 + 31 + 15) / 6,
    "avg_usage_12": (8 + 9 + 7 + 11 + 12 + 20 + 30 + 31 + 15) / 9,  # December has no bill
    "avg_amount_3": (60 + 62 + 45) / 3,
    "avg_amount_6": (33 + 36 + 60 + 60 + 62 + 45) / 6,
    "avg_amount_12": (24 + 27 + 21 + 33 + 36 + 60 + 60 + 62 + 45) / 9,
    # June is still open (unpaid, due by 07-31): skipped; May on time; April had arrears.
    "consecutive_paid_months": 1,
    "last_on_time_date": date(2024, 6, 10),
    "arrears_repaid": 1,  # the latest arrears statement (to 04-30) was settled
}
WATER_EXTRA = {
    "bill_months_3": 3,
    "bill_months_6": 6,
    "bill_months_12": 9,
    "open_arrears": 1,
    # the open November debt: its span, and all of it long overdue (≥ 90 days)
    "arrears_since": "2023-11-01",
    "arrears_until": "2023-11-30",
    "long_overdue_amount": 21.0,
    "amount_12": 368.0,
    "usage_12": 143.0,
}


@pytest.mark.parametrize(("ptype", "kind"), sorted(UTILITY_TYPES.items()))
def test_utility_history_gives_hand_computed_figures(ptype: str, kind: str) -> None:
    events = with_type(WATER_STREAM, ptype)
    assert {kind_of(c, r) for c, r in events} == {kind}
    check(figures(replay(events, kind), AS_OF), WATER_EXPECTED, WATER_EXTRA)


def test_stream_order_and_calendar_order_give_the_same_state() -> None:
    assert replay(WATER_STREAM, "water") == replay(WATER_IN_ORDER, "water")


def test_corrected_version_replaces_whatever_order_it_arrives_in() -> None:
    for events in ([B_JAN_V1, B_JAN_V2], [B_JAN_V2, B_JAN_V1]):
        got = figures(replay(events, "water"), date(2024, 2, 15))
        assert (got["last_month_usage"], got["last_month_amount"]) == (11.0, 33.0)


def test_duplicate_resend_is_stored_once() -> None:
    once = replay([B_FEB], "water")
    assert apply(once, "water", B_FEB[1], B_FEB[0]) == once
    assert figures(once, date(2024, 3, 10))["avg_amount_3"] == 36.0


def test_bill_spanning_months_is_split_by_days() -> None:
    # 03-15..04-14 is 31 days: 17 in March, 14 in April.
    state = replay([bill("x", "2024-03-15", "2024-04-14", 62, 31, "2024-04-20")], "water")
    got = figures(state, date(2024, 5, 2))
    assert (got["last_month"], got["last_month_usage"], got["last_month_amount"]) == (
        "2024-04",
        pytest.approx(14.0),
        pytest.approx(28.0),
    )
    assert got["avg_usage_3"] == pytest.approx((17 + 14) / 2)
    assert got["consecutive_paid_months"] == 2


def test_payment_for_a_later_period_does_not_settle_old_arrears() -> None:
    events = [
        arrears("a", "2024-01-01", "2024-01-31", 10, 50),
        bill("feb", "2024-02-01", "2024-02-29", 40, 4, "2024-03-05"),
    ]
    got = figures(replay(events, "water"), date(2024, 3, 20))
    assert (got["arrears_flag"], got["arrears_amount"], got["arrears_repaid"]) == (1, 50.0, 0)
    assert got["days_overdue"] == 10 + (date(2024, 3, 20) - date(2024, 1, 31)).days
    assert got["consecutive_paid_months"] == 1  # February; January had arrears


def test_settlement_counts_only_from_its_pay_date() -> None:
    events = [arrears("a", "2024-01-01", "2024-01-31", 3, 30), B_JAN_V1]  # 30 paid 02-10
    state = replay(events, "water")
    assert figures(state, date(2024, 2, 9))["arrears_flag"] == 1
    got = figures(state, date(2024, 2, 10))
    assert (got["arrears_flag"], got["arrears_amount"], got["arrears_repaid"]) == (0, 0.0, 1)


def test_a_payment_settles_only_its_amount() -> None:
    """The issue's subject: one October payment of ¥12,290 against ¥150,977 owed for the
    summer settled all of it. It settles ¥12,290; a second payment settles the rest."""
    owed = arrears("a", "2026-06-01", "2026-09-30", 30, 150_977.0)
    part = bill("part", "2026-09-01", "2026-09-30", 12_290.0, 900, "2026-10-15")
    got = figures(replay([owed, part], "water"), date(2026, 11, 1))
    assert (got["arrears_flag"], got["arrears_repaid"]) == (1, 0)
    assert got["arrears_amount"] == pytest.approx(150_977.0 - 12_290.0)
    rest = bill("rest", "2026-06-01", "2026-08-31", 138_687.0, 9000, "2026-10-20")
    done = figures(replay([owed, part, rest], "water"), date(2026, 11, 1))
    assert (done["arrears_flag"], done["arrears_amount"], done["arrears_repaid"]) == (0, 0.0, 1)


def test_one_payment_is_spent_once_across_two_debts_oldest_first() -> None:
    """Two accounts' arrears over the same months and one 补缴 of 70: 50 settles the older
    statement, 20 goes to the newer, which still owes 20."""
    old = arrears("a1", "2024-01-01", "2024-01-31", 10, 50)
    new = arrears("a2", "2024-01-15", "2024-02-15", 5, 40, account="W2")
    pay = bill("p", "2024-01-01", "2024-01-31", 70, 7, "2024-03-01")
    got = figures(replay([old, new, pay], "water"), date(2024, 3, 10))
    assert (got["arrears_flag"], got["arrears_amount"]) == (1, pytest.approx(20.0))


def test_newer_statement_of_the_same_debt_replaces_the_older() -> None:
    events = [
        arrears("s1", "2024-01-01", "2024-01-31", 5, 50),
        arrears("s2", "2024-01-01", "2024-02-29", 34, 90),
        arrears("other", "2024-01-01", "2024-01-31", 5, 7, account="W2"),
    ]
    got = figures(replay(events, "water"), date(2024, 3, 1))
    assert got["arrears_amount"] == 97.0  # 90 (latest statement of W1) + 7 (W2)
    assert got["days_overdue"] == 34 + 1
    assert got["months_in_arrears_12"] == 2


def test_prepaid_bill_without_pay_date_counts_as_paid_on_time() -> None:
    events = [
        bill("p1", "2024-01-01", "2024-01-31", 100, 50, ptype="电费", prepaid=True),
        bill("p2", "2024-02-01", "2024-02-29", 90, 45, "2024-01-25", ptype="电费", prepaid=True),
    ]
    got = figures(replay(events, "power"), date(2024, 3, 15))
    assert got["consecutive_paid_months"] == 2
    assert got["last_on_time_date"] == date(2024, 1, 25)


def test_late_payment_breaks_the_run_and_unknown_months_are_skipped_in_averages() -> None:
    events = [
        bill("jan", "2024-01-01", "2024-01-31", 10, pay="2024-05-03"),  # due by 02-29
        bill("feb", "2024-02-01", "2024-02-29", 20, pay="2024-03-31"),  # last on-time day
        bill("mar", "2024-03-01", "2024-03-31", 30, pay="2024-04-20"),
        bill("apr", "2024-04-01", "2024-04-30", 40, pay="2024-05-04"),
    ]
    state = replay(with_type(events, "燃气费"), "gas")
    got = figures(state, date(2024, 5, 5))
    assert got["consecutive_paid_months"] == 3  # April, March, February; January was late
    assert got["last_on_time_date"] == date(2024, 5, 4)
    # 2023-11 and 2023-12 have no bill: skipped, not zero (zeros would give 100 / 6).
    assert (got["avg_amount_3"], got["avg_amount_6"]) == (30.0, 25.0)
    assert (got["avg_usage_3"], got["extra"]["bill_months_3"]) == (0.0, 3)  # no usage reported
    # On 05-03 April's bill is not paid yet but not late either: April is skipped. January's
    # payment that day is late, so the last on-time payment is March's.
    early = figures(state, date(2024, 5, 3))
    assert (early["consecutive_paid_months"], early["last_on_time_date"]) == (2, date(2024, 4, 20))


def test_no_data_gives_zero_figures() -> None:
    got = figures(replay([B_FEB], "water"), date(2026, 1, 1))
    assert (got["last_month"], got["avg_amount_12"], got["consecutive_paid_months"]) == ("", 0.0, 0)


# --- social insurance and housing fund -----------------------------------------------------
# Monthly (head count, paid, due): 2023-11 (9 医疗 only, 400, 400) 2023-12 (9, 900, 900)
# 2024-01 and 02 (10, 1500, 1500) 2024-03 (11, 1600, 1600; 养老 corrected, paid late 05-10)
# 2024-04 (11, 1100, 1100) 2024-05 (12, 1000, 1200: 200 short) 2024-06 (12, 1800, 1800).
SI_EVENTS = [
    social("s-2406-y", "2024-06", "养老保险", 12, 1200, 1200, "2024-06-14"),
    social("s-2406-m", "2024-06", "医疗保险", 13, 600, 600, "2024-06-14"),
    social("s-2403-y", "2024-03", "养老保险", 11, 1100, 1100, "2024-05-10", version=2),
    social("s-2401-y", "2024-01", "养老保险", 10, 1000, 1000, "2024-01-15"),
    social("s-2401-m", "2024-01", "医疗保险", 12, 500, 500, "2024-01-15"),
    social("s-2402-y", "2024-02", "养老保险", 10, 1000, 1000, "2024-02-15"),
    social("s-2402-m", "2024-02", "医疗保险", 12, 500, 500, "2024-02-15"),
    social("s-2402-y", "2024-02", "养老保险", 10, 1000, 1000, "2024-02-15"),  # resent
    social("s-2403-y", "2024-03", "养老保险", 11, 1100, 800, "2024-03-15", version=1),
    social("s-2403-m", "2024-03", "医疗保险", 12, 500, 500, "2024-03-15"),
    social("s-2404-y", "2024-04", "养老保险", 11, 1100, 1100, "2024-04-15"),
    social("s-2405-y", "2024-05", "养老保险", 12, 1200, 1000, "2024-05-15"),
    social("s-2311-m", "2023-11", "医疗保险", 9, 400, 400, "2023-11-10"),
    social("s-2312-y", "2023-12", "养老保险", 9, 900, 900, "2023-12-20"),  # late arrival
]
SI_EXPECTED: dict[str, Any] = {
    "arrears_flag": 1,
    "arrears_amount": 200.0,
    "days_overdue": (AS_OF - date(2024, 6, 30)).days,  # May was due by 06-30
    "months_in_arrears_12": 2,  # March (paid late), May (short)
    "last_month": "2024-06",
    "last_month_usage": 12.0,
    "last_month_amount": 1800.0,
    "avg_usage_3": (11 + 12 + 12) / 3,
    "avg_usage_6": (10 + 10 + 11 + 11 + 12 + 12) / 6,
    "avg_usage_12": (9 + 9 + 66) / 8,
    "avg_amount_3": (1100 + 1000 + 1800) / 3,
    "avg_amount_6": 8500 / 6,
    "avg_amount_12": 9800 / 8,
    "consecutive_paid_months": 1,  # June; May is short
    "last_on_time_date": date(2024, 6, 14),
    "arrears_repaid": 1,  # March paid in full, late
}
SI_EXTRA = {
    "headcount_last_month": 12,
    "contribution_last_month": 1800.0,
    "due_last_month": 1800.0,
    "avg_headcount_12": 10.5,
    "contributions_12": 9800.0,
    "months_with_data_12": 8,
    "last_normal_month": "2024-06",
}

# Monthly (head count, amount): 2024-01..03 one record (20, 10000) paid 01-20; 2024-04
# (21, 10600 after the correction); 2024-05 (22, 11000) paid late 07-05; 2024-06 two
# accounts (22 + 3, 11000 + 1500).
HF_EVENTS = [
    housing("h-06-b", "2024-06", "2024-06", 3, 1500, "2024-07-01"),
    housing("h-04", "2024-04", "2024-04", 21, 10600, "2024-05-25", version=2),
    housing("h-05", "2024-05", "2024-05", 22, 11000, "2024-07-05"),
    housing("h-q1", "2024-01", "2024-03", 20, 10000, "2024-01-20"),
    housing("h-04", "2024-04", "2024-04", 21, 10500, "2024-05-25", version=1),
    housing("h-06-a", "2024-06", "2024-06", 22, 11000, "2024-07-08"),
    housing("h-q1", "2024-01", "2024-03", 20, 10000, "2024-01-20"),
]
HF_EXPECTED: dict[str, Any] = {
    "arrears_flag": 0,
    "arrears_amount": 0.0,
    "days_overdue": 0,
    "months_in_arrears_12": 1,  # May, paid late
    "last_month": "2024-06",
    "last_month_usage": 25.0,
    "last_month_amount": 12500.0,
    "avg_usage_3": (21 + 22 + 25) / 3,
    "avg_usage_6": (20 * 3 + 21 + 22 + 25) / 6,
    "avg_usage_12": (20 * 3 + 21 + 22 + 25) / 6,
    "avg_amount_3": (10600 + 11000 + 12500) / 3,
    "avg_amount_6": (30000 + 34100) / 6,
    "avg_amount_12": (30000 + 34100) / 6,
    "consecutive_paid_months": 1,
    "last_on_time_date": date(2024, 7, 8),
    "arrears_repaid": 1,
}
HF_EXTRA = {
    "headcount_last_month": 25,
    "contribution_last_month": 12500.0,
    "avg_headcount_12": 128 / 6,
    "contributions_12": 64100.0,
    "months_with_data_12": 6,
    "last_normal_month": "2024-06",
}


@pytest.mark.parametrize(
    ("kind", "events", "expected", "extra"),
    [
        ("social_insurance", SI_EVENTS, SI_EXPECTED, SI_EXTRA),
        ("housing_fund", HF_EVENTS, HF_EXPECTED, HF_EXTRA),
    ],
)
def test_fund_history_gives_hand_computed_figures(
    kind: str, events: list[Event], expected: dict[str, Any], extra: dict[str, Any]
) -> None:
    assert {kind_of(c, r) for c, r in events} == {kind}
    check(figures(replay(events, kind), AS_OF), expected, extra)


def test_contribution_paid_after_as_of_is_not_yet_seen() -> None:
    state = replay(HF_EVENTS, "housing_fund")
    got = figures(state, date(2024, 7, 3))  # 06 account A pays on 07-08, 05 on 07-05
    assert (got["last_month_usage"], got["last_month_amount"]) == (3.0, 1500.0)
    assert got["months_in_arrears_12"] == 0


# --- interfaces ---------------------------------------------------------------------------


def test_kind_of_maps_classes_and_types() -> None:
    assert kind_of("natural_utility_payment", {"payment_type": "热力费"}) == "heat"
    assert kind_of("natural_arrears", {"arrears_type": "通信费"}) == "telecom"
    assert kind_of("legal_arrears", {"arrears_type": "物业费"}) is None
    assert kind_of("natural_social_insurance", {}) is None
    assert kind_of("logistics_freight", {}) is None


def test_every_class_with_a_role_feeds_figures() -> None:
    roles = set(CLASS_ROLES.values())
    assert roles == {"utility_payment", "utility_arrears", "social_insurance", "housing_fund"}
    assert {c.code for c in default_catalog() if c.aggregate} == set(CLASS_ROLES)


def test_to_row_has_the_columns_of_the_table() -> None:
    body = DDL.read_text().split("(", 1)[1].split("ENGINE")[0]
    columns = re.findall(r"^\s+([a-z_0-9]+)\s+\S", body, flags=re.M)
    row = to_row("S1", "legal", "water", figures(replay(WATER_STREAM, "water"), AS_OF), 7)
    assert tuple(row) == AGGREGATE_COLUMNS == tuple(columns)
    assert json.loads(row["extra"]) == approx(WATER_EXTRA)
    assert (row["version"], row["arrears_flag"]) == (7, 1)


def test_a_state_is_not_changed_by_what_is_applied_after_it() -> None:
    state = replay(WATER_STREAM[:6], "water")
    before = copy.deepcopy(state)
    rest = WATER_STREAM[6:]
    assert replay([*WATER_STREAM], "water") == _continue(state, rest)
    assert state == before


def test_facts_are_named() -> None:
    state = replay(WATER_STREAM, "water")
    bill = next(iter(state.bills.values()))
    assert isinstance(bill, Bill) and bill.start <= bill.end and bill.amount > 0
    debt = next(iter(state.arrears.values()))
    assert isinstance(debt, Arrears) and debt.account


def _continue(state: State, events: list[Event]) -> State:
    for class_code, record in events:
        state = apply(state, "water", record, class_code)
    return state


def test_dates_as_iso_text_after_a_json_hop_give_the_same_state() -> None:
    as_text = [(c, json.loads(json.dumps(r, default=str))) for c, r in WATER_STREAM]
    assert replay(as_text, "water") == replay(WATER_STREAM, "water")


def test_wrong_class_or_unusable_record_is_refused() -> None:
    with pytest.raises(AggregateError, match="does not feed"):
        apply(None, "social_insurance", B_FEB[1], B_FEB[0])
    with pytest.raises(AggregateError, match="amount"):
        apply(None, "water", {**B_FEB[1], "amount": "lots"}, B_FEB[0])
    with pytest.raises(AggregateError, match="does not feed"):
        apply(None, "gas", B_FEB[1], B_FEB[0])  # a water bill
    gas_bill = {**B_FEB[1], "payment_type": "燃气费"}
    with pytest.raises(AggregateError, match="state belongs"):
        apply(replay([B_FEB], "water"), "gas", gas_bill, B_FEB[0])


# --- properties ---------------------------------------------------------------------------
HISTORIES = {"water": WATER_STREAM, "social_insurance": SI_EVENTS, "housing_fund": HF_EVENTS}


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(sorted(HISTORIES)), data=st.data())
def test_any_permutation_gives_the_same_state_and_figures(kind: str, data: st.DataObject) -> None:
    events = data.draw(st.permutations(HISTORIES[kind]))
    state = replay(events, kind)
    assert state == replay(HISTORIES[kind], kind)
    assert figures(state, AS_OF) == figures(replay(HISTORIES[kind], kind), AS_OF)


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(sorted(HISTORIES)), data=st.data())
def test_any_duplication_gives_the_same_figures(kind: str, data: st.DataObject) -> None:
    base = HISTORIES[kind]
    extra = data.draw(st.lists(st.sampled_from(base), max_size=20))
    events = data.draw(st.permutations([*base, *extra]))
    assert figures(replay(events, kind), AS_OF) == figures(replay(base, kind), AS_OF)


@st.composite
def utility_events(draw: st.DrawFn) -> list[Event]:
    """Random bills and arrears over 20 months; keys collide, so versions compete."""
    out: list[Event] = []
    for _ in range(draw(st.integers(1, 25))):
        key = f"k{draw(st.integers(0, 8))}"
        version = draw(st.integers(1, 3))
        start = date(2023, 1, 1) + timedelta(days=draw(st.integers(0, 560)))
        end = start + timedelta(days=draw(st.integers(0, 70)))
        if draw(st.booleans()):
            pay = end + timedelta(days=draw(st.integers(-40, 80)))
            usage = draw(st.none() | st.floats(0, 500, allow_nan=False).map(lambda x: round(x, 2)))
            amount = round(draw(st.floats(0, 900, allow_nan=False)), 2)
            paid = str(pay) if draw(st.booleans()) else None
            out.append(bill(key, str(start), str(end), amount, usage, paid, version))
        else:
            days = draw(st.integers(0, 200))
            amount = round(draw(st.floats(0, 900, allow_nan=False)), 2)
            out.append(arrears("a" + key, str(start), str(end), days, amount, version=version))
    return out


@settings(max_examples=80, deadline=None)
@given(events=utility_events(), data=st.data())
def test_random_histories_are_order_and_duplicate_independent(
    events: list[Event], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations([*events, *data.draw(st.lists(st.sampled_from(events)))]))
    as_of = date(2023, 1, 1) + timedelta(days=data.draw(st.integers(0, 700)))
    assert replay(shuffled, "water") == replay(events, "water")
    assert figures(replay(shuffled, "water"), as_of) == figures(replay(events, "water"), as_of)


@settings(max_examples=80, deadline=None)
@given(events=utility_events(), data=st.data())
def test_fold_in_one_pass_equals_apply_one_by_one(events: list[Event], data: st.DataObject) -> None:
    """`fold` (what the store's recomputation uses) prunes once at the end: same state."""
    shuffled = data.draw(st.permutations(events))
    assert fold("water", shuffled) == replay(events, "water")


@st.composite
def fund_events(draw: st.DrawFn, kind: str) -> list[Event]:
    """Random 社保 or 公积金 records over 20 months; keys collide, so versions compete."""
    out: list[Event] = []
    for _ in range(draw(st.integers(1, 20))):
        key, version = f"k{draw(st.integers(0, 8))}", draw(st.integers(1, 3))
        month = 2023 * 12 + draw(st.integers(0, 19))
        label = f"{month // 12}-{month % 12 + 1:02d}"
        pay = date(month // 12, month % 12 + 1, 1) + timedelta(days=draw(st.integers(0, 90)))
        heads, due = draw(st.integers(1, 50)), float(draw(st.integers(0, 5000)))
        if kind == "social_insurance":
            category = draw(st.sampled_from(["养老保险", "医疗保险", "失业保险"]))
            paid = float(draw(st.sampled_from([due, 0.0, due / 2])))
            out.append(social(key, label, category, heads, due, paid, str(pay), version))
        else:
            end = month + draw(st.integers(0, 3))
            to = f"{end // 12}-{end % 12 + 1:02d}"
            out.append(housing(key, label, to, heads, due, str(pay), version))
    return out


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(["social_insurance", "housing_fund"]), data=st.data())
def test_random_fund_histories_are_order_and_duplicate_independent(
    kind: str, data: st.DataObject
) -> None:
    events = data.draw(fund_events(kind))
    shuffled = data.draw(st.permutations([*events, *data.draw(st.lists(st.sampled_from(events)))]))
    as_of = date(2023, 1, 1) + timedelta(days=data.draw(st.integers(0, 700)))
    assert replay(shuffled, kind) == replay(events, kind)
    assert figures(replay(shuffled, kind), as_of) == figures(replay(events, kind), as_of)
    assert fold(kind, shuffled) == replay(events, kind)


def ten_years_of_bills() -> list[Event]:
    events: list[Event] = []
    for i in range(120):
        if i == 26:  # no bill for 2016-03: its arrears stay open
            continue
        start = date(2014 + i // 12, i % 12 + 1, 1)
        end = date(2014 + (i + 1) // 12, (i + 1) % 12 + 1, 1) - timedelta(days=1)
        paid = end + timedelta(days=10 if i % 7 else 45)
        events.append(bill(f"b{i}", str(start), str(end), 30.0 + i % 5, 10.0 + i % 3, str(paid)))
        if i % 7 == 0:  # paid late: stated in arrears first
            events.append(arrears(f"a{i}", str(start), str(end + timedelta(days=31)), 20, 30.0))
    events.append(arrears("open", "2016-03-01", "2016-03-31", 40, 99.0, account="W9"))
    return events


def test_state_stays_bounded_after_ten_years_of_monthly_bills() -> None:
    state = replay(ten_years_of_bills(), "water")
    assert len(state.bills) <= 26
    assert set(state.arrears) <= {"open", *(f"a{i}" for i in range(96, 120))}
    assert "open" in state.arrears  # an unpaid debt outlives the window
    got = figures(state, date(2024, 3, 1))
    assert (got["arrears_flag"], got["arrears_amount"]) == (1, 99.0)
    assert got["days_overdue"] == 40 + (date(2024, 3, 1) - date(2016, 3, 31)).days


def test_fund_state_stays_bounded_after_ten_years() -> None:
    months = [f"{2014 + i // 12}-{i % 12 + 1:02d}" for i in range(120)]
    categories = ("养老保险", "医疗保险", "失业保险", "工伤保险", "生育保险")
    events = [social(f"s{m}{c}", m, c, 10, 100, 100, f"{m}-15") for m in months for c in categories]
    events.append(social("short", "2015-06", "工伤保险", 10, 100, 60, "2015-06-15", version=2))
    si = replay(events, "social_insurance")
    assert len(si.funds) <= 5 * 24 + 1
    assert "short" in si.funds  # unpaid dues outlive the window
    got = figures(si, date(2024, 1, 5))
    assert (got["arrears_flag"], got["arrears_amount"]) == (1, 40.0)
    assert got["days_overdue"] == (date(2024, 1, 5) - date(2015, 7, 31)).days

    hf = replay([housing(f"h{m}", m, m, 10, 100, f"{m}-15") for m in months], "housing_fund")
    assert len(hf.funds) <= 24


def test_bounded_lateness_over_ten_years_keeps_figures_exact() -> None:
    events = ten_years_of_bills()
    rng = random.Random(7)
    order = sorted(range(len(events)), key=lambda i: i + rng.uniform(0, 12))
    jittered = [events[i] for i in order]
    assert jittered != events
    as_of = date(2024, 3, 1)
    assert figures(replay(jittered, "water"), as_of) == figures(replay(events, "water"), as_of)
