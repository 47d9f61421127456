"""The monthly history (`aggregates_monthly`) on chDB: emitted rows unrolled per month, a
late bill and a corrected bill correcting their months, values worked out by hand."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from schemas import envelope as env
from schemas.catalog import Catalog
from sinks.ddl.upgrade import apply_ddl
from sinks.read.queries import aggregates_of, monthly_history
from sinks.store import Store
from sinks.write import rows as R
from streams.core import aggregates as agg

pytestmark = pytest.mark.integration
AS_OF = dt.date(2024, 7, 10)
D = dt.date.fromisoformat


def _bill(key: str, start: str, end: str, usage: float, amount: float, pay: str | None,
          version: int = 1) -> tuple[str, dict[str, Any]]:  # fmt: skip
    return "legal_utility_payment", {
        "record_key": key, "version": version, "payment_type": "水费", "period_start": D(start),
        "period_end": D(end), "usage": usage, "amount": amount,
        "pay_date": D(pay) if pay else None, "provide_date": D(end) + dt.timedelta(days=20),
    }  # fmt: skip


def _social(key: str, month: str, category: str, heads: int, due: float, paid: float,
            pay: str) -> tuple[str, dict[str, Any]]:  # fmt: skip
    return "legal_social_insurance", {
        "record_key": key, "version": 1, "pay_month": month, "category": category,
        "insured_count": heads, "due_amount": due, "paid_amount": paid, "pay_date": D(pay),
        "provide_date": D(pay) + dt.timedelta(days=2),
    }  # fmt: skip


def _emit(store: Store, kind: str, batches: list[list[tuple[str, dict[str, Any]]]]) -> None:
    """As the worker and sink do it: fold each batch, emit the row as JSON, land it."""
    state: agg.State | None = None
    landed = []
    for version, batch in enumerate(batches, start=1):
        for code, record in batch:
            state = agg.apply(state, kind, record, code)
        assert state is not None
        row = agg.state_row("S1", "legal", kind, state, AS_OF, version)
        landed.append(R.aggregate_row(env.loads(env.dumps(row))))
    store.insert("aggregates", landed, agg.AGGREGATE_COLUMNS)


def _months(store: Store, kind: str) -> dict[str, tuple[Any, ...]]:
    return {
        m["month"].isoformat()[:7]: (m["usage"], m["amount"], m["arrears_flag"],
            m["arrears_amount"], m["paid_on_time"], m["head_count"], m["contribution"], m["due"])
        for m in monthly_history(store, "S1")[kind]
    }  # fmt: skip


def test_late_and_corrected_bills_correct_their_months(store: Store, catalog: Catalog) -> None:
    first = [
        _bill("apr", "2024-04-01", "2024-04-30", 10, 30, "2024-05-10"),
        _bill("may", "2024-05-01", "2024-05-31", 12, 36, "2024-06-05"),
        _bill("jun", "2024-06-01", "2024-06-30", 15, 45, None),  # not paid
    ]
    late = [_bill("mar", "2024-03-01", "2024-03-31", 8, 24, "2024-04-08")]  # three months back
    corrected = [
        _bill("may", "2024-05-01", "2024-05-31", 14, 42, "2024-06-05", version=2),
        ("legal_arrears", {"record_key": "a-jun", "version": 1, "arrears_type": "水费",
            "account_no": "W1", "arrears_start": D("2024-06-01"), "arrears_end": D("2024-06-30"),
            "overdue_days": 5, "arrears_amount": 45.0, "provide_date": D("2024-07-05")}),
    ]  # fmt: skip
    _emit(store, "water", [first, late, corrected])

    # (usage, amount, arrears, owed, on time, head count, contribution, due)
    assert _months(store, "water") == {
        "2024-03": (8.0, 24.0, 0, 0.0, 1, 0, 0.0, 0.0),  # the late bill's month
        "2024-04": (10.0, 30.0, 0, 0.0, 1, 0, 0.0, 0.0),
        "2024-05": (14.0, 42.0, 0, 0.0, 1, 0, 0.0, 0.0),  # the correction, not 12 / 36
        "2024-06": (15.0, 45.0, 1, 45.0, 0, 0, 0.0, 0.0),
    }
    # re-applying the DDL (and its view) changes nothing
    apply_ddl(store, catalog)
    rows = store.query(f"SELECT count() AS n FROM {store.database}.aggregates_monthly FINAL")
    assert rows[0]["n"] == 4
    (water,) = aggregates_of(store, "S1")
    assert [m["month"].isoformat()[:7] for m in water["history"]] == [
        "2024-03", "2024-04", "2024-05", "2024-06",
    ]  # fmt: skip
    assert (water["avg_amount_3"], water["arrears_flag"]) == (pytest.approx((30 + 42 + 45) / 3), 1)


def test_fund_history_holds_head_count_contribution_and_dues(store: Store) -> None:
    _emit(store, "social_insurance", [[
        _social("s5p", "2024-05", "养老保险", 10, 1000, 1000, "2024-05-15"),
        _social("s5m", "2024-05", "医疗保险", 12, 200, 200, "2024-07-05"),  # paid late
        _social("s6p", "2024-06", "养老保险", 10, 1000, 600, "2024-06-15"),  # 400 short
    ]])  # fmt: skip
    assert _months(store, "social_insurance") == {
        "2024-05": (10.0, 1200.0, 1, 0.0, 0, 10, 1200.0, 1200.0),
        "2024-06": (10.0, 600.0, 1, 400.0, 0, 10, 600.0, 1000.0),
    }
