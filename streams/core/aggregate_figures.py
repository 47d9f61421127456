"""Figures of one aggregate state as of a date: the arithmetic behind `streams.core.aggregates`.

The state layout and every rule are documented in `streams.core.aggregates`; this module reads
the state and never changes it. Sums run over facts sorted by record key, so two states that
compare equal give bit-identical floats whatever order their events arrived in.

`evaluate` gives the figures and the monthly history in one pass (the history feeds
`aggregates_monthly`, 090_aggregates_monthly.sql). Day/month arithmetic is memoized: a
state holds a few dozen distinct days, every emission re-reads them all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

from schemas.catalog import default_catalog

UTILITY_KINDS = tuple(default_catalog().enums["utility_type"].codes.values())  # water, power…
FUND_KINDS = ("social_insurance", "housing_fund")
WINDOWS = (3, 6, 12)
# Bill flags (bit set in the fact's last slot).
HAS_USAGE, PREPAID = 1, 2
# Fund fact flags: 养老保险 (its head count is the month's head count), due amount given (社保).
PENSION, HAS_DUE = 1, 2
# Amounts carry 2 decimals; a shortfall below one cent is rounding, not arrears.
CENT = 0.005
LONG_OVERDUE_DAYS = 90  # "long overdue": a quarter past due (risk monitoring)
# The monthly history: months before the as-of month, at most this far back (the state's
# retention window, `aggregates.RETAIN_MONTHS`).
HISTORY_MONTHS = 24
# One month of history, in this order (the tuple type of `aggregates.monthly`). Utilities:
# usage and amount by days of the billing periods; arrears_amount = open arrears by the
# month they start; paid_on_time = the month's bills were all paid on time. Funds: usage =
# head count, amount = contribution; arrears = short or paid late; paid_on_time = a normal
# month (contributed, nothing short, not late).
MONTHLY_FIELDS = (
    "month", "usage", "usage_reported", "amount", "arrears_flag", "arrears_amount",
    "paid_on_time", "head_count", "contribution", "due",
)  # fmt: skip


# --- the state: named facts --------------------------------------------------------------
# Dates are `date.toordinal()` ints (0 = none); months are `year * 12 + month - 1` ints.


class Bill(NamedTuple):
    """A utility payment record (缴费): its billing period, usage, amount and pay date."""

    version: int
    start: int
    end: int
    usage: float
    amount: float
    pay: int
    flags: int  # HAS_USAGE, PREPAID


class Arrears(NamedTuple):
    """A utility arrears record (欠费): the period owed for and what it states."""

    version: int
    start: int
    end: int
    overdue_days: int
    amount: float
    account: str


class FundFact(NamedTuple):
    """A social insurance (one 险种, one month) or housing fund (a range of months) record."""

    version: int
    month_from: int
    month_to: int
    heads: int
    paid: float
    due: float
    pay: int
    flags: int  # PENSION, HAS_DUE


Fact = Bill | Arrears | FundFact


@dataclass(slots=True)
class State:
    """One (subject, kind)'s facts by fact key: bills and arrears for a utility, fund facts
    for social insurance and the housing fund. `high_water` is the newest month seen."""

    kind: str
    high_water: int = 0
    bills: dict[str, Bill] = field(default_factory=dict)
    arrears: dict[str, Arrears] = field(default_factory=dict)
    funds: dict[str, FundFact] = field(default_factory=dict)

    def facts(self) -> int:
        return len(self.bills) + len(self.arrears) + len(self.funds)

    def copy(self) -> State:
        """A state to change; facts are never changed in place, only replaced, so the copy
        shares them."""
        return State(self.kind, self.high_water, dict(self.bills), dict(self.arrears),
                     dict(self.funds))  # fmt: skip


# --- months -------------------------------------------------------------------------------


def month_of(day: dt.date) -> int:
    """Month index: year * 12 + month - 1 (consecutive months are consecutive integers)."""
    return day.year * 12 + day.month - 1


@lru_cache(maxsize=1 << 16)
def month_of_ord(ordinal: int) -> int:
    return month_of(dt.date.fromordinal(ordinal))


@lru_cache(maxsize=1 << 12)
def month_label(month: int) -> str:
    return f"{month // 12:04d}-{month % 12 + 1:02d}"


def first_day(month: int) -> dt.date:
    return dt.date(month // 12, month % 12 + 1, 1)


@lru_cache(maxsize=1 << 12)
def deadline(month: int) -> int:
    """On-time limit for a month's payment: the last day of the following month (ordinal)."""
    return first_day(month + 2).toordinal() - 1


@lru_cache(maxsize=1 << 16)
def split_by_month(start: int, end: int) -> tuple[tuple[int, float], ...]:
    """Share of a billing period (inclusive ordinals) falling in each month, by days."""
    end = max(start, end)
    total = end - start + 1
    out: list[tuple[int, float]] = []
    day = start
    while day <= end:
        month = month_of_ord(day)
        stop = min(end, first_day(month + 1).toordinal() - 1)
        out.append((month, (stop - day + 1) / total))
        day = stop + 1
    return tuple(out)


def covers(bill: Bill, arrears: Arrears) -> bool:
    """补缴: a payment for a period overlapping the arrears, made after the arrears' end."""
    return (bool(bill.pay) and bill.pay > arrears.end and bill.start <= arrears.end
            and bill.end >= arrears.start)  # fmt: skip


def outstanding(arrears: list[Arrears], paid: list[Bill]) -> list[float]:
    """What each arrears record still owes after the 补缴 payments that cover it.

    A payment settles by its amount, not by its mere existence (a ¥12,290 payment does not
    settle ¥150,977): payments are taken in the order they were made, each amount goes to the
    oldest covered arrears still owing, and a record superseded by a newer statement of the
    same debt takes nothing (the newer statement owes the debt)."""
    owed = [0.0 if superseded(a, arrears) else float(a.amount) for a in arrears]
    order = sorted(range(len(arrears)), key=lambda i: (arrears[i].start, arrears[i].end))
    for bill in sorted(paid, key=lambda b: (b.pay, b.start)):
        left = float(bill.amount)
        for i in order:
            if left <= 0:
                break
            if owed[i] > 0 and covers(bill, arrears[i]):
                taken = min(left, owed[i])
                owed[i] -= taken
                left -= taken
    return owed


def superseded(arrears: Arrears, others: Iterable[Arrears]) -> bool:
    """A newer statement of the same debt: same account, same start, later end."""
    return any(o.account == arrears.account and o.start == arrears.start and o.end > arrears.end
               for o in others)  # fmt: skip


def _run(ok: Callable[[int], bool], blocked: Callable[[int], bool], before: int) -> int:
    """Consecutive `ok` months ending at the month before `before`.

    The month just before `before` may still be open (its payment is due by the end of the
    as-of month): if it is not yet ok and shows no arrears it is skipped, not a break.
    """
    month = before - 1
    if not ok(month) and not blocked(month):
        month -= 1
    count = 0
    while ok(month):
        count += 1
        month -= 1
    return count


def _avg(values: list[float], digits: int) -> float:
    return round(sum(values) / len(values), digits) if values else 0.0


def _iso(ordinal: int) -> str:
    day = _date(ordinal)
    return day.isoformat() if day else ""


def _date(ordinal: int) -> dt.date | None:
    return dt.date.fromordinal(ordinal) if ordinal else None


# --- utilities ----------------------------------------------------------------------------

Monthly = list[Any]  # one history month: the values of MONTHLY_FIELDS


@dataclass(slots=True)
class _BillMonth:
    usage: float = 0.0
    usage_reported: bool = False
    amount: float = 0.0
    on_time: bool = True


def _bill_on_time(bill: Bill, today: int) -> bool:
    if not bill.pay:
        return bool(bill.flags & PREPAID)  # a prepaid meter has nothing left to pay
    return bool(bill.pay <= min(today, deadline(month_of_ord(bill.end))))


def _bill_months(bills: list[Bill], now: int, today: int) -> tuple[dict[int, _BillMonth], int]:
    """The bills spread over the complete months before `now`, and the latest pay date of
    an on-time bill (ordinal, 0 = none)."""
    months: dict[int, _BillMonth] = {}
    last_on_time = 0
    for bill in bills:
        on_time = _bill_on_time(bill, today)
        if on_time and bill.pay:
            last_on_time = max(last_on_time, bill.pay)
        usage_reported = bill.flags & HAS_USAGE
        for month, share in split_by_month(bill.start, bill.end):
            if month >= now:
                continue
            slot = months.get(month)
            if slot is None:
                slot = months[month] = _BillMonth()
            slot.amount += bill.amount * share
            if usage_reported:
                slot.usage += bill.usage * share
                slot.usage_reported = True
            slot.on_time = slot.on_time and on_time
    return months, last_on_time


def _utility(state: State, as_of: dt.date) -> tuple[dict[str, Any], list[Monthly]]:
    now, today = month_of(as_of), as_of.toordinal()
    bills = [state.bills[key] for key in sorted(state.bills)]
    months, last_on_time = _bill_months(bills, now, today)
    paid = [b for b in bills if b.pay and b.pay <= today]
    seen = [a for _, a in sorted(state.arrears.items()) if a.start <= today]
    owed = outstanding(seen, paid)
    repaid = [o < CENT and not superseded(a, seen) for a, o in zip(seen, owed, strict=True)]
    open_ = [(a, o) for a, o in zip(seen, owed, strict=True) if o >= CENT]
    arrears_months: set[int] = set()
    for a in seen:
        arrears_months.update(range(month_of_ord(a.start), min(month_of_ord(a.end), now - 1) + 1))
    latest = max(range(len(seen)), key=lambda i: (seen[i].end, seen[i].start), default=None)

    def ok(month: int) -> bool:
        slot = months.get(month)
        return slot is not None and slot.on_time and month not in arrears_months

    recent: Recent = [
        (m, s.usage, s.amount, s.usage_reported)
        for m in range(now - 12, now)
        if (s := months.get(m)) is not None
    ]
    out = _common(recent, now)
    out.update(
        arrears_flag=int(bool(open_)),
        arrears_amount=round(sum((o for _, o in open_), 0.0), 2),
        days_overdue=max((_overdue(a, today) for a, _ in open_), default=0),
        months_in_arrears_12=sum(1 for m in arrears_months if now - 12 <= m < now),
        consecutive_paid_months=_run(ok, arrears_months.__contains__, now),
        last_on_time_date=_date(last_on_time),
        arrears_repaid=int(latest is not None and repaid[latest]),
    )
    out["extra"] = {
        **{f"bill_months_{n}": sum(1 for r in recent if r[0] >= now - n) for n in WINDOWS},
        "open_arrears": len(open_),
        # what risk monitoring filters on: the open debts' span and the part long overdue
        "arrears_since": _iso(min((a.start for a, _ in open_), default=0)),
        "arrears_until": _iso(max((a.end for a, _ in open_), default=0)),
        "long_overdue_amount": round(
            sum((o for a, o in open_ if _overdue(a, today) >= LONG_OVERDUE_DAYS), 0.0), 2
        ),
        "amount_12": round(sum(r[2] for r in recent), 2),
        "usage_12": round(sum(r[1] for r in recent), 4),
    }
    return out, _utility_history(months, arrears_months, open_, now)


def _overdue(arrears: Arrears, today: int) -> int:
    """Days an arrears record is overdue today: the days it states plus those since its end."""
    return int(arrears.overdue_days + max(0, today - arrears.end))


def _utility_history(
    months: dict[int, _BillMonth],
    arrears_months: set[int],
    open_: list[tuple[Arrears, float]],
    now: int,
) -> list[Monthly]:
    owed: dict[int, float] = {}  # what the open debts still owe, by the month they start
    for a, still in open_:
        start = month_of_ord(a.start)
        owed[start] = owed.get(start, 0.0) + still
    out: list[Monthly] = []
    for month in sorted({*months, *arrears_months, *owed}):
        if not now - HISTORY_MONTHS <= month < now:
            continue
        slot = months.get(month)
        billed = slot is not None
        out.append([
            month_label(month),
            round(slot.usage, 4) if slot else 0.0,
            int(billed and slot.usage_reported),  # type: ignore[union-attr]
            round(slot.amount, 2) if slot else 0.0,
            int(month in arrears_months),
            round(owed.get(month, 0.0), 2),
            int(billed and slot.on_time),  # type: ignore[union-attr]
            0, 0.0, 0.0,
        ])  # fmt: skip
    return out


Recent = list[tuple[int, float, float, bool]]  # (month, usage, amount, usage reported)


def _common(recent: Recent, now: int) -> dict[str, Any]:
    """Last month with data of the 12 before `now` (`recent`, oldest first), and the
    3/6/12-month averages over the months with data."""
    if recent:
        month, usage, amount, _ = recent[-1]
        out: dict[str, Any] = {"last_month": month_label(month),
                               "last_month_usage": round(usage, 4),
                               "last_month_amount": round(amount, 2)}  # fmt: skip
    else:
        out = {"last_month": "", "last_month_usage": 0.0, "last_month_amount": 0.0}
    for n in WINDOWS:
        start = now - n
        out[f"avg_usage_{n}"] = _avg([r[1] for r in recent if r[0] >= start and r[3]], 4)
        out[f"avg_amount_{n}"] = _avg([r[2] for r in recent if r[0] >= start], 2)
    return out


# --- social insurance and housing fund ----------------------------------------------------


@dataclass(slots=True)
class _FundMonth:
    heads: list[int] = field(default_factory=list)
    pension_heads: list[int] = field(default_factory=list)
    paid: float = 0.0
    due: float = 0.0
    short: float = 0.0  # unpaid part of the month's dues
    late: bool = False
    pay_dates: list[int] = field(default_factory=list)


def _fund_months(state: State, now: int, today: int) -> dict[int, _FundMonth]:
    """The fund records spread over the complete months before `now` they cover, counted
    from their pay date (paid after `today`: not yet contributed)."""
    months: dict[int, _FundMonth] = {}
    for key in sorted(state.funds):
        f = state.funds[key]
        if f.pay > today:
            continue  # not yet contributed as of this date
        for month in range(f.month_from, min(f.month_to, now - 1) + 1):
            slot = months.get(month)
            if slot is None:
                slot = months[month] = _FundMonth()
            (slot.pension_heads if f.flags & PENSION else slot.heads).append(f.heads)
            slot.paid += f.paid
            slot.due += f.due
            if f.flags & HAS_DUE:
                slot.short += max(0.0, f.due - f.paid)
            slot.late = slot.late or bool(f.pay and f.pay > deadline(month))
            if f.pay:
                slot.pay_dates.append(f.pay)
    return months


def _fund(state: State, as_of: dt.date) -> tuple[dict[str, Any], list[Monthly]]:
    now, today = month_of(as_of), as_of.toordinal()
    social = state.kind == "social_insurance"
    months = _fund_months(state, now, today)

    def heads_of(slot: _FundMonth) -> float:
        if social:  # 养老保险 counts everyone insured; else the largest category
            return float(max(slot.pension_heads or slot.heads))
        return float(sum(slot.heads + slot.pension_heads))

    def in_arrears(month: int) -> bool:
        slot = months.get(month)
        return slot is not None and slot.short > CENT

    def normal(month: int) -> bool:
        slot = months.get(month)
        return slot is not None and slot.paid > 0 and slot.short <= CENT and not slot.late

    short = sorted(m for m in months if in_arrears(m))
    late = [m for m in months if months[m].late and not in_arrears(m)]
    normals = [m for m in months if normal(m)]
    last_normal = max(normals, default=None)
    recent: Recent = [
        (m, heads_of(s), s.paid, True) for m in range(now - 12, now) if (s := months.get(m))
    ]
    out = _common(recent, now)
    out.update(
        arrears_flag=int(bool(short)),
        arrears_amount=round(sum((months[m].short for m in short), 0.0), 2),
        days_overdue=max(0, today - deadline(short[0])) if short else 0,
        months_in_arrears_12=sum(1 for m in {*short, *late} if now - 12 <= m < now),
        consecutive_paid_months=_run(normal, in_arrears, now),
        last_on_time_date=_date(max((d for m in normals for d in months[m].pay_dates), default=0)),
        arrears_repaid=int(any(now - 12 <= m < now for m in late)),
    )
    last = months.get(max((m for m in months if now - 12 <= m < now), default=-1))
    last12 = [months[m] for m in range(now - 12, now) if m in months]
    out["extra"] = {
        "headcount_last_month": int(heads_of(last)) if last else 0,
        "contribution_last_month": round(last.paid, 2) if last else 0.0,
        "avg_headcount_12": _avg([heads_of(s) for s in last12], 2),
        "contributions_12": round(sum(s.paid for s in last12), 2),
        "months_with_data_12": len(last12),
        "last_normal_month": month_label(last_normal) if last_normal is not None else "",
    }
    if social:
        out["extra"]["due_last_month"] = round(last.due, 2) if last else 0.0
    history = [
        _fund_month(m, s, heads_of(s), normal(m))
        for m, s in sorted(months.items())
        if m >= now - HISTORY_MONTHS
    ]
    return out, history


def _fund_month(month: int, s: _FundMonth, heads: float, normal: bool) -> Monthly:
    paid = round(s.paid, 2)
    arrears = int(s.short > CENT or s.late)
    return [month_label(month), heads, 1, paid, arrears, round(s.short, 2), int(normal),
            int(heads), paid, round(s.due, 2)]  # fmt: skip


def evaluate(state: State, as_of: dt.date) -> tuple[dict[str, Any], list[Monthly]]:
    """The figures of one (subject, kind) as of a date, and its monthly history (oldest
    first, complete months only, values in MONTHLY_FIELDS order), from one pass."""
    return _utility(state, as_of) if state.kind in UTILITY_KINDS else _fund(state, as_of)


def figures(state: State, as_of: dt.date) -> dict[str, Any]:
    """The figures of one (subject, kind) as of a date; see `streams.core.aggregates` for rules."""
    return evaluate(state, as_of)[0]
