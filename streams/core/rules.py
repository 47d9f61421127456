"""Validate one typed record against its catalog class, returning every violation.

Records arrive typed (the producers turned cells into `str`, `int`, `float`, `date`, `bool`
or a canonical enum string); these rules judge content, not parsing. All reasons are
reported at once so a provider fixes a row in one round trip, not one error at a time.

Each class is compiled once into a plan (per field: its type test and the value checks its
catalog entry asks for), because looking the same rules up again for every record was the
worker's largest per-record cost. The plan only decides *which* checks run; the checks and
their messages are the functions below.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import NamedTuple

from schemas.catalog import Catalog, FieldSpec, InfoClass, default_catalog
from schemas.codes import (
    check_citizen_id,
    check_org_code,
    check_phone,
    check_reg_no,
    check_uscc,
)
from schemas.violations import Violation
from streams.core.identity import CITIZEN_ID_TYPE

CHECKS = default_catalog().checks  # checks by field name or type (catalog/checks.yaml)
OTHER_ID_MAX_LEN = 40
PAST_DATE_FIELDS = CHECKS.past_date_fields
DATE_PAIRS = CHECKS.date_pairs
MAX_DECIMALS = CHECKS.max_decimals
_MONTH_RE = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
_NUMBER_TYPES = ("amount", "quantity", "ratio")
_DATE_TYPES = ("date", "period_start", "period_end")

_CODE_CHECKS: dict[str, Callable[..., list[Violation]]] = {
    "uscc": check_uscc,
    "org_code": check_org_code,
    "reg_no": check_reg_no,
    "phone": check_phone,
}


def _v(code: str, spec: FieldSpec | None, zh: str, en: str) -> Violation:
    return Violation(code, spec.name if spec else None, zh, en)


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def validate(
    cls: InfoClass, record: Mapping[str, object], catalog: Catalog, today: date
) -> list[Violation]:
    """Every reason `record` breaks the rules of `cls`, in field order; empty = valid.

    `today` is passed in (not read from the clock) so a replay judges dates as of the day
    it stands for, and tests are deterministic.
    """
    plan = class_plan(cls, catalog)
    found: list[Violation] = []
    get = record.get
    for name, spec, exact, has_type, checks in plan.fields:
        value = get(name)
        if _is_blank(value):
            if spec.required:
                found.append(_required(spec))
            continue
        if value.__class__ is not exact and not has_type(value):
            found.append(_type_violation(spec, value))
            continue
        for check in checks:
            problems = check(value, record, today)
            if problems:
                found += problems
    if plan.pairs:
        found += _order_violations(plan.pairs, record)
    if plan.subject_codes:
        found += _subject_violations(cls, plan.subject_codes, record)
    return found


# --- plans ------------------------------------------------------------------------------

# A value check of one field: (value of the right type, whole record, today) → violations.
ValueCheck = Callable[[object, Mapping[str, object], date], Sequence[Violation]]


class FieldRule(NamedTuple):
    """One catalog field as `validate` runs it: its type test, then its value checks.

    A tuple, unpacked in `validate`'s loop: cheaper per field than attribute look-ups."""

    name: str
    spec: FieldSpec
    exact: type | None  # a value of exactly this class passes the type test without a call
    has_type: Callable[[object], bool]
    checks: tuple[ValueCheck, ...]


@dataclass(frozen=True, slots=True)
class ClassPlan:
    """The rules of one class, resolved against the catalog once."""

    fields: tuple[FieldRule, ...]
    pairs: tuple[tuple[FieldSpec, FieldSpec], ...]
    subject_codes: tuple[str, ...]  # legal persons: at least one must be filled


# (id of class, id of catalog) → (class, catalog, plan); the objects are held so an id is
# never reused while its entry lives. Classes are few; the bound only guards tests that
# build many catalogs.
_PLANS: dict[tuple[int, int], tuple[InfoClass, Catalog, ClassPlan]] = {}
_MAX_PLANS = 512


def class_plan(cls: InfoClass, catalog: Catalog) -> ClassPlan:
    """The compiled rules of `cls` (catalog models are frozen, so a plan never goes stale)."""
    key = (id(cls), id(catalog))
    entry = _PLANS.get(key)
    if entry is not None and entry[0] is cls and entry[1] is catalog:
        return entry[2]
    plan = compile_plan(cls, catalog)
    if len(_PLANS) >= _MAX_PLANS:
        _PLANS.clear()
    _PLANS[key] = (cls, catalog, plan)
    return plan


def compile_plan(cls: InfoClass, catalog: Catalog) -> ClassPlan:
    fields = tuple(
        FieldRule(
            spec.name,
            spec,
            _EXACT_TYPES.get(spec.type),
            _type_test(spec),
            _value_checks(cls, spec, catalog),
        )
        for spec in cls.fields
    )
    codes = (cls.subject.code, *cls.subject.alt_codes) if cls.subject_kind == "legal" else ()
    return ClassPlan(fields, tuple(_pairs(cls)), codes)


def _value_checks(cls: InfoClass, spec: FieldSpec, catalog: Catalog) -> tuple[ValueCheck, ...]:
    """The checks a present value of `spec` goes through, in the order they report."""
    checks: list[ValueCheck] = []
    if spec.type in _NUMBER_TYPES or spec.type == "int":
        checks.append(lambda v, r, t: _number_violations(spec, v))  # type: ignore[arg-type]
    elif spec.type == "month":
        checks.append(lambda v, r, t: _month_violations(cls, spec, str(v), t))
    elif spec.type in _DATE_TYPES:
        if _checks_future(cls, spec):  # other dates have no value rule
            checks.append(lambda v, r, t: [_future(spec, t)] if v > t else ())  # type: ignore[operator]
    elif spec.type == "enum" and spec.enum is not None:
        checks.append(_enum_check(spec, catalog.enums[spec.enum].values))
    if spec.check is not None:
        checks.append(_code_check(cls, spec, catalog))
    return tuple(checks)


def _enum_check(spec: FieldSpec, allowed: tuple[str, ...]) -> ValueCheck:
    members = frozenset(allowed)

    def check(value: object, record: Mapping[str, object], today: date) -> Sequence[Violation]:
        if value in members:
            return ()
        return [
            _v(
                "field.enum",
                spec,
                f"「{spec.label}」取值不在代码表中，应为：{'、'.join(allowed)}",
                f"{spec.name} must be one of: {', '.join(allowed)}",
            )
        ]

    return check


def _code_check(cls: InfoClass, spec: FieldSpec, catalog: Catalog) -> ValueCheck:
    says_citizen_id = _citizen_id_type_test(cls, catalog)

    def check(value: object, record: Mapping[str, object], today: date) -> Sequence[Violation]:
        if not isinstance(value, str):
            return ()
        citizen = spec.check == "id_by_type" and says_citizen_id(record)
        return _code_violations(spec, value, today, citizen)

    return check


def _required(spec: FieldSpec) -> Violation:
    return _v(
        "field.required",
        spec,
        f"必填项「{spec.label}」为空",
        f"required field {spec.name} ({spec.label}) is missing",
    )


# --- types ------------------------------------------------------------------------------


def _is_text(value: object) -> bool:
    return isinstance(value, str)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_bool(value: object) -> bool:
    return isinstance(value, bool)


def _is_day(value: object) -> bool:
    return isinstance(value, date) and not isinstance(value, datetime)


def _is_finite_number(value: object) -> bool:
    """amount / quantity / ratio: a finite number; an int is a whole amount."""
    if isinstance(value, Decimal):
        return value.is_finite()
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# Classes whose every instance passes a field type's test (numbers are not here: they
# must also be finite).
_EXACT_TYPES: dict[str, type] = {
    "string": str,
    "month": str,
    "enum": str,
    "int": int,
    "bool": bool,
    "date": date,
    "period_start": date,
    "period_end": date,
}


def _type_test(spec: FieldSpec) -> Callable[[object], bool]:
    if spec.type in ("string", "month", "enum"):
        return _is_text
    if spec.type == "int":
        return _is_int
    if spec.type == "bool":
        return _is_bool
    if spec.type in _DATE_TYPES:
        return _is_day
    return _is_finite_number


_TYPE_NAMES = {
    "string": ("文本", "str"),
    "int": ("整数", "int"),
    "bool": ("是/否", "bool"),
    "month": ("年月文本YYYY-MM", "str 'YYYY-MM'"),
    "enum": ("代码表取值", "str"),
}


def _type_violation(spec: FieldSpec, value: object) -> Violation:
    """Why `value` is not of the field's type (called once its type test has failed)."""
    zh, en = _TYPE_NAMES.get(spec.type, ("日期", "datetime.date"))
    if spec.type in _NUMBER_TYPES:
        zh, en = "有限数值", "a finite float"
    return _v(
        "field.type",
        spec,
        f"「{spec.label}」应为{zh}",
        f"{spec.name} must be {en}, not {type(value).__name__}",
    )


# --- values -----------------------------------------------------------------------------


def _decimals(value: int | float | Decimal) -> int:
    """Decimal places as written: `repr` of a float is its shortest round-trip form."""
    if isinstance(value, float):
        text = repr(value)
        if "e" not in text:  # plain `123.45`: count the digits, no Decimal needed
            return len(text) - text.index(".") - 1
    elif isinstance(value, int):
        return 0
    exponent = Decimal(repr(value) if isinstance(value, float) else value).as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _number_violations(spec: FieldSpec, value: int | float | Decimal) -> list[Violation]:
    if spec.type == "ratio":
        if not 0 <= value <= 100:
            return [
                _v(
                    "field.range",
                    spec,
                    f"「{spec.label}」应在0到100之间",
                    f"{spec.name} must be between 0 and 100",
                )
            ]
        return []
    found: list[Violation] = []
    if value < 0:
        found.append(
            _v("field.negative", spec, f"「{spec.label}」不能为负数", f"{spec.name} is negative")
        )
    places = MAX_DECIMALS.get(spec.type)
    if places is not None and _decimals(value) > places:
        found.append(
            _v(
                "field.precision",
                spec,
                f"「{spec.label}」最多保留{places}位小数",
                f"{spec.name} has more than {places} decimal places",
            )
        )
    return found


def _checks_future(cls: InfoClass, spec: FieldSpec) -> bool:
    return spec.name == cls.event_date_field or spec.name in PAST_DATE_FIELDS


def _future(spec: FieldSpec, today: date) -> Violation:
    return _v(
        "field.date_future",
        spec,
        f"「{spec.label}」晚于今天（{today.isoformat()}）",
        f"{spec.name} is later than today ({today.isoformat()})",
    )


def _month_violations(cls: InfoClass, spec: FieldSpec, value: str, today: date) -> list[Violation]:
    if not _MONTH_RE.fullmatch(value):
        return [
            _v(
                "field.month",
                spec,
                f"「{spec.label}」应为年月，格式YYYY-MM，月份01–12",
                f"{spec.name} must be a month written YYYY-MM with month 01–12",
            )
        ]
    if _checks_future(cls, spec) and value > f"{today:%Y-%m}":
        return [_future(spec, today)]
    return []


# --- codes ------------------------------------------------------------------------------


def _citizen_id_type_test(
    cls: InfoClass, catalog: Catalog
) -> Callable[[Mapping[str, object]], bool]:
    """Whether a record's 证件类型 says 身份证, also when spelled as a synonym: a wrong
    spelling is already reported on that field and must not let a bad ID number through.
    Verdicts are kept per spelling (a handful): folding the text per record was not free."""
    type_spec = cls.by_name.get(cls.subject.id_type or "")
    enum = catalog.enums.get(type_spec.enum or "") if type_spec else None
    memo: dict[str, bool] = {}

    def says_citizen_id(record: Mapping[str, object]) -> bool:
        value = record.get(type_spec.name) if type_spec else None
        if not isinstance(value, str):
            return False
        verdict = memo.get(value)
        if verdict is None:
            verdict = (enum.canonical(value) if enum else value) == CITIZEN_ID_TYPE
            if len(memo) < _MAX_SPELLINGS:
                memo[value] = verdict
        return verdict

    return says_citizen_id


_MAX_SPELLINGS = 256


def _code_violations(spec: FieldSpec, value: str, today: date, citizen: bool) -> list[Violation]:
    """`citizen`: an `id_by_type` number whose 证件类型 says 身份证."""
    if spec.check == "citizen_id" or citizen:
        return check_citizen_id(value, today, field=spec.name)
    if spec.check == "id_by_type":
        if len(value) > OTHER_ID_MAX_LEN:
            return [
                _v(
                    "field.length",
                    spec,
                    f"「{spec.label}」不能超过{OTHER_ID_MAX_LEN}个字符",
                    f"{spec.name} must be at most {OTHER_ID_MAX_LEN} characters",
                )
            ]
        return []
    return _CODE_CHECKS[spec.check](value, field=spec.name) if spec.check else []


# --- across fields ----------------------------------------------------------------------


def _pairs(cls: InfoClass) -> list[tuple[FieldSpec, FieldSpec]]:
    """Start/end field pairs of the class: the named ones and any `*_start/*_end`,
    `*_from/*_to` twins."""
    names = cls.by_name
    found = [(a, b) for a, b in DATE_PAIRS if a in names and b in names]
    for name in names:
        for head, tail in (("_start", "_end"), ("_from", "_to")):
            if name.endswith(head):
                twin = name.removesuffix(head) + tail
                if twin in names and (name, twin) not in found:
                    found.append((name, twin))
    return [(names[a], names[b]) for a, b in found]


def _comparable(spec: FieldSpec, value: object) -> bool:
    if spec.type == "month":
        return isinstance(value, str) and bool(_MONTH_RE.fullmatch(value))
    return spec.type in _DATE_TYPES and _is_day(value)


def _order_violations(
    pairs: Sequence[tuple[FieldSpec, FieldSpec]], record: Mapping[str, object]
) -> list[Violation]:
    found: list[Violation] = []
    for start, end in pairs:
        a, b = record.get(start.name), record.get(end.name)
        if (start.type == "month") != (end.type == "month"):
            continue  # a month against a day has no single order
        if _comparable(start, a) and _comparable(end, b) and a > b:  # type: ignore[operator]
            found.append(
                _v(
                    "field.date_order",
                    start,
                    f"「{start.label}」晚于「{end.label}」",
                    f"{start.name} is after {end.name}",
                )
            )
    return found


def _subject_violations(
    cls: InfoClass, codes: tuple[str, ...], record: Mapping[str, object]
) -> list[Violation]:
    """A legal person must carry at least one code the subject registry can resolve."""
    if any(not _is_blank(record.get(name)) for name in codes):
        return []
    labels = "、".join(cls.by_name[name].label for name in codes)
    return [
        Violation(
            "subject.missing_code",
            None,
            f"至少需要填写以下代码之一：{labels}",
            f"at least one of {', '.join(codes)} is required to identify the legal person",
        )
    ]
