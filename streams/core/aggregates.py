"""Rolling aggregates per (subject, kind): utility payments and arrears, social insurance,
housing fund (DESIGN.md "Rolling aggregates"; seed 004 items 27, 28, 46–51).

Pure functions over plain records. The sink (`sinks.write.figures`) folds a subject's visible
stored facts into a state and writes `state_row(...)` to `aggregates` (050_aggregates.sql).

    state = apply(state, kind_of(class_code, record), record, class_code)
    row = state_row(subject_id, subject_kind, kind, state, as_of, version)
    # = to_row(..., figures, version, monthly=monthly) with (figures, monthly) = evaluate(...)

State (`aggregate_figures.State`; dates are `date.toordinal()` ints, 0 = none; months are
`year * 12 + month - 1` ints): per fact key, a utility's `bills` (`Bill`: version, period
start and end, usage, amount, pay date, flags 1 = usage reported, 2 = prepaid 是否预缴费) and
`arrears` (`Arrears`: version, start, end, overdue days, amount, account), or a fund's
`funds` (`FundFact`: version, months from and to, head count, paid, due, pay date, flags
1 = 养老保险, 2 = due amount given — 社保 only; 公积金 has no due amount); `high_water` is the
newest month seen. The fact key is the record key, or for keys longer than 12 characters
(the stream's 24-hex blake2b digests) an 11-character digest of it (64 bits: the odds of two
of a subject's ~100 facts colliding are ~1e-16), to keep the state small.

Updates. A fact is stored under its `record_key`; the highest `version` wins (equal versions:
the larger fact, so the choice does not depend on arrival order). `high_water` is the newest
month seen (`high_water`, of `provide_date`, which the rules keep out of the future). Facts older than 24 months
before `hw` are dropped, except open arrears: an arrears record no payment covers yet, a 社保
month with due > paid. A bill is kept until both its period end and its pay date are out of
the window, so a payment that settles an arrears record outlives it. The state is therefore
the same for any order and any repetition of the events, as long as no event (no version of a
record) arrives after its month has left the window; such an event is dropped on arrival
(unless it is an open arrears record, which is kept).

Rules of `figures(state, as_of)` (A = the month of `as_of`; "the last N months" are the N
calendar months before A; A itself is incomplete and never counted):

- Month attribution: a bill is spread over the months its period touches in proportion to
  days (03-15..04-14 is 31 days: 17/31 of usage and amount to March, 14/31 to April).
  Funds: a 公积金 record from..to counts in full in every month of the range; 社保 records
  of the same month (one per 险种) add up. A month's head count: 社保 → the 养老保险 count,
  else the largest category; 公积金 → the sum over the unit's accounts. A fund record
  counts from its pay_date (paid after as_of → not yet contributed).
- Averages (近3/6/12个月月均): the mean over those of the last N months that have data;
  months without data are skipped, not counted as zero (a missing month is a late report,
  not zero use; 0.0 when no month has data; `extra.bill_months_N` says how many). Usage
  averages skip months whose bills report no usage. Funds: usage columns hold head counts.
- Last month: the latest of the last 12 months with data ("" when none).
- On time: a bill is paid on time when pay_date ≤ the last day of the month after its period
  end and ≤ as_of; a prepaid bill without a pay date counts as paid. Funds: a month is late
  when a record for it was paid after the last day of the following month.
- 当前是否欠费 / amount / days overdue (utility): from open arrears records. An arrears record
  exists from its arrears_start and owes its amount; a payment of the same utility whose
  billing period overlaps the arrears period and whose pay_date is after arrears_end and
  ≤ as_of (补缴) pays it down by the payment's amount — payments in the order they were made,
  each to the oldest covered debt still owing (`aggregate_figures.outstanding`). A record is
  open while it owes a cent or more; 欠费金额 is what the open records still owe. A payment
  for a later period does not settle old debt. A record superseded by a newer statement
  (same account and start, later end) owes nothing itself. Days overdue:
  max over open records of overdue_days + days from arrears_end to as_of. 社保: months with
  due > paid; days from the deadline of the oldest such month. 公积金: no due amount, so 0.
- Months in arrears (last 12): utility → months touched by any arrears period, settled or
  not; funds → months short or paid late.
- 连续正常缴纳周期: consecutive normal months ending at A-1. Normal utility month: has bills,
  all paid on time, no arrears. Normal fund month: contributed, nothing short, not late.
  A-1 is still open (its payment is due by the end of A): if not yet normal and free of
  arrears it is skipped, not a break. Capped by the 24-month window.
- 最近一次正常缴费日期: the latest pay date of an on-time bill (funds: of a normal month).
- 是否补缴 (`arrears_repaid`): utility → the latest arrears record is settled; funds → a month
  of the last 12 was paid in full but late.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import orjson

from schemas.catalog import class_roles, default_catalog
from streams.core.aggregate_figures import (
    CENT,
    FUND_KINDS,
    HAS_DUE,
    HAS_USAGE,
    PENSION,
    PREPAID,
    UTILITY_KINDS,
    Arrears,
    Bill,
    Fact,
    FundFact,
    Monthly,
    covers,
    month_of,
    month_of_ord,
    superseded,
)
from streams.core.aggregate_figures import MONTHLY_FIELDS as MONTHLY_FIELDS
from streams.core.aggregate_figures import State as State
from streams.core.aggregate_figures import evaluate as evaluate
from streams.core.aggregate_figures import figures as figures
from streams.exceptions import AggregateError

RETAIN_MONTHS = 24
_CATALOG = default_catalog()
# Class code → its `aggregate:` role; utility (水费) → the figures' kind (water): both from
# the catalog's files (seed002.yaml, enums.yaml).
CLASS_ROLES = class_roles(_CATALOG)
UTILITY_KIND = _CATALOG.enums["utility_type"].codes
FIGURE_COLUMNS = (
    "arrears_flag", "arrears_amount", "days_overdue", "months_in_arrears_12", "last_month",
    "last_month_usage", "last_month_amount", "avg_usage_3", "avg_usage_6", "avg_usage_12",
    "avg_amount_3", "avg_amount_6", "avg_amount_12", "consecutive_paid_months",
    "last_on_time_date", "arrears_repaid",
)  # fmt: skip
AGGREGATE_COLUMNS = (
    "subject_id", "subject_kind", "kind", *FIGURE_COLUMNS, "extra", "monthly", "version",
    "updated_at", "as_of", "facts",
)  # fmt: skip
FACT_KEY_CHARS = 12


def kind_of(class_code: str, record: Mapping[str, Any]) -> str | None:
    """The aggregate a record feeds, or None (class without aggregate, unknown utility)."""
    role = CLASS_ROLES.get(class_code)
    if role == "utility_payment":
        return UTILITY_KIND.get(str(record.get("payment_type") or ""))
    if role == "utility_arrears":
        return UTILITY_KIND.get(str(record.get("arrears_type") or ""))
    return role


def new_state(kind: str) -> State:
    if kind in UTILITY_KINDS or kind in FUND_KINDS:
        return State(kind)
    raise AggregateError(f"未知的汇总类别 '{kind}' / unknown aggregate kind '{kind}'")


def apply(state: State | None, kind: str, record: Mapping[str, Any], class_code: str) -> State:
    """The state with one record added (a new state; `state` is not changed)."""
    out = new_state(kind) if state is None else state.copy()
    if out.kind != kind:
        raise AggregateError(f"状态属于 {out.kind} / state belongs to '{out.kind}', not '{kind}'")
    _add(out, kind, record, class_code)
    _prune(out)
    return out


def fold(kind: str, facts: Iterable[tuple[str, Mapping[str, Any]]]) -> State:
    """The state of all `facts` (class code, record) at once: what `apply` one by one gives,
    in one pass — no copy of the state per record, one prune at the end (the state does not
    depend on order, so it does not depend on when the pruning happens either)."""
    out = new_state(kind)
    for class_code, record in facts:
        _add(out, kind, record, class_code)
    _prune(out)
    return out


def _add(state: State, kind: str, record: Mapping[str, Any], class_code: str) -> None:
    """Put a record's fact into `state` in place: the highest version per record key."""
    if kind_of(class_code, record) != kind:
        raise AggregateError(
            f"类别 {class_code} 的记录不计入 {kind} 汇总 / "
            f"this {class_code} record does not feed '{kind}'"
        )
    role = CLASS_ROLES[class_code]
    fact, stamp = _READERS[role](record, int(record.get("version") or 0))
    table: dict[str, Any] = (state.bills if isinstance(fact, Bill) else
                             state.arrears if isinstance(fact, Arrears) else state.funds)  # fmt: skip
    key = fact_key(_text(record, "record_key"))
    old = table.get(key)
    if old is None or _newer(fact, old):
        table[key] = fact
    state.high_water = max(state.high_water, _month_or(record, "provide_date", stamp))


def _newer(fact: Fact, old: Fact) -> bool:
    """The higher version wins; on a tie the larger fact (by its JSON text), so the choice
    does not depend on arrival order."""
    if fact.version != old.version:
        return bool(fact.version > old.version)
    return json.dumps(fact) > json.dumps(old)


def fact_key(record_key: str) -> str:
    """The key a fact is kept under: short keys as they are, long ones as a short digest."""
    if len(record_key) <= FACT_KEY_CHARS:
        return record_key
    digest = hashlib.blake2b(record_key.encode(), digest_size=8).digest()
    return base64.urlsafe_b64encode(digest)[:11].decode()


def to_row(
    subject_id: str,
    subject_kind: str,
    kind: str,
    figures: Mapping[str, Any],
    version: int,
    updated_at: dt.datetime | None = None,
    monthly: Sequence[Monthly] = (),
    as_of: dt.date | None = None,
    facts: int = 1,
) -> dict[str, Any]:
    """A row of `aggregates`. `version` must grow with each emission for the same
    (subject, kind), e.g. the emission time in ms: ReplacingMergeTree keeps the highest.
    `monthly` (from `evaluate`) becomes the subject's rows in `aggregates_monthly`."""
    updated_at = updated_at or dt.datetime.now(dt.UTC)
    return {
        "subject_id": subject_id,
        "subject_kind": subject_kind,
        "kind": kind,
        **{name: figures[name] for name in FIGURE_COLUMNS},
        # orjson: ≈8× faster than json.dumps here, and every emission writes one
        "extra": orjson.dumps(figures["extra"], option=orjson.OPT_SORT_KEYS).decode(),
        "monthly": [list(m) for m in monthly],
        "version": version,
        "updated_at": updated_at,
        "as_of": as_of or updated_at.date(),
        "facts": facts,
    }


def state_row(
    subject_id: str,
    subject_kind: str,
    kind: str,
    state: State,
    as_of: dt.date,
    version: int,
    updated_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """The `aggregates` row of a state as of a date, figures and monthly history together
    (one pass over the state)."""
    figs, monthly = evaluate(state, as_of)
    return to_row(subject_id, subject_kind, kind, figs, version, updated_at, monthly, as_of,
                  state.facts())  # fmt: skip


# --- state upkeep -------------------------------------------------------------------------


def _bill_month(bill: Bill) -> int:
    return max(month_of_ord(bill.end), month_of_ord(bill.pay) if bill.pay else 0)


def _prune(state: State) -> None:
    """Drop facts that left the window; settle old arrears before their payments go."""
    cutoff = state.high_water - RETAIN_MONTHS + 1
    funds = state.funds
    for key in [k for k, f in funds.items() if f.month_to < cutoff and not _open_dues(f)]:
        del funds[key]
    bills, arrears = state.bills, state.arrears
    gone = [
        k
        for k, a in arrears.items()
        if month_of_ord(a.end) < cutoff
        and (superseded(a, arrears.values()) or any(covers(b, a) for b in bills.values()))
    ]
    for key in gone:
        del arrears[key]
    for key in [k for k, b in bills.items() if _bill_month(b) < cutoff]:
        del bills[key]


def _open_dues(fact: FundFact) -> bool:
    return bool(fact.flags & HAS_DUE) and fact.due - fact.paid > CENT


# --- reading records ----------------------------------------------------------------------


def _bill(record: Mapping[str, Any], version: int) -> tuple[Bill, int]:
    start, end = _ordinal(record, "period_start"), _ordinal(record, "period_end")
    usage = _number(record, "usage", required=False)
    flags = (HAS_USAGE if usage is not None else 0) | (PREPAID if record.get("prepaid") else 0)
    pay = _ordinal(record, "pay_date", required=False)
    fact = Bill(version, start, end, usage or 0.0, _number(record, "amount"), pay, flags)
    return fact, month_of_ord(start)


def _arrears(record: Mapping[str, Any], version: int) -> tuple[Arrears, int]:
    start, end = _ordinal(record, "arrears_start"), _ordinal(record, "arrears_end")
    days = int(_number(record, "overdue_days", required=False) or 0)
    amount = _number(record, "arrears_amount")
    account = str(record.get("account_no") or "")
    return Arrears(version, start, end, days, amount, account), month_of_ord(start)


def _social(record: Mapping[str, Any], version: int) -> tuple[FundFact, int]:
    month = _month(record, "pay_month")
    flags = HAS_DUE | (PENSION if record.get("category") == "养老保险" else 0)
    heads = int(_number(record, "insured_count"))
    paid, due = _number(record, "paid_amount"), _number(record, "due_amount")
    pay = _ordinal(record, "pay_date", required=False)
    return FundFact(version, month, month, heads, paid, due, pay, flags), month


def _housing(record: Mapping[str, Any], version: int) -> tuple[FundFact, int]:
    m_from, m_to = _month(record, "pay_month_from"), _month(record, "pay_month_to")
    heads, amount = int(_number(record, "headcount")), _number(record, "monthly_amount")
    pay = _ordinal(record, "pay_date", required=False)
    return FundFact(version, m_from, max(m_from, m_to), heads, amount, 0.0, pay, 0), m_from


_READERS: dict[str, Callable[[Mapping[str, Any], int], tuple[Fact, int]]] = {
    "utility_payment": _bill,
    "utility_arrears": _arrears,
    "social_insurance": _social,
    "housing_fund": _housing,
}


def _bad(name: str, value: object) -> AggregateError:
    return AggregateError(f"字段 {name} 的值 {value!r} 无法用于汇总 / {name}={value!r} is unusable")


def _text(record: Mapping[str, Any], name: str) -> str:
    value = record.get(name)
    if not value:
        raise _bad(name, value)
    return str(value)


def _number(record: Mapping[str, Any], name: str, required: bool = True) -> Any:
    value = record.get(name)
    if value is None or value == "":
        if required:
            raise _bad(name, value)
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise _bad(name, value) from None


def _date(record: Mapping[str, Any], name: str) -> dt.date | None:
    """A date field as the stream carries it: a date, or ISO text after a JSON hop."""
    value = record.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        raise _bad(name, value) from None


def _ordinal(record: Mapping[str, Any], name: str, required: bool = True) -> int:
    day = _date(record, name)
    if day is None and required:
        raise _bad(name, None)
    return day.toordinal() if day else 0


def _month(record: Mapping[str, Any], name: str) -> int:
    value = record.get(name)
    if isinstance(value, dt.date):
        return month_of(value)
    try:
        year, month = str(value).split("-")[:2]
        if not 1 <= int(month) <= 12:
            raise ValueError(month)
        return int(year) * 12 + int(month) - 1
    except ValueError:
        raise _bad(name, value) from None


def _month_or(record: Mapping[str, Any], name: str, default: int) -> int:
    day = _date(record, name)
    return month_of(day) if day else default
