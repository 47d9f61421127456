"""Validate one typed record against its catalog class, returning every violation.

Records arrive typed (the producers turned cells into `str`, `int`, `float`, `date`, `bool`
or a canonical enum string); these rules judge content, not parsing. All reasons are
reported at once so a provider fixes a row in one round trip, not one error at a time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal

from schemas.catalog import Catalog, FieldSpec, InfoClass
from schemas.violations import Violation
from streams.codes import (
    check_citizen_id,
    check_org_code,
    check_phone,
    check_reg_no,
    check_uscc,
)

CITIZEN_ID_TYPE = "身份证"  # the id_type value whose numbers follow GB 11643
OTHER_ID_MAX_LEN = 40
# Dates that record something already done: never after the day the record is checked.
# `valid_until` and other validity ends are absent on purpose: they lie in the future.
PAST_DATE_FIELDS = ("provide_date", "pay_date", "first_reg_date", "open_date", "approval_date")
# Named start/end pairs beyond the generic `*_start/*_end`, `*_from/*_to` naming.
DATE_PAIRS = (
    ("period_start", "period_end"),
    ("arrears_start", "arrears_end"),
    ("pay_month_from", "pay_month_to"),
)
MAX_DECIMALS = {"amount": 2, "quantity": 4}
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
    found: list[Violation] = []
    for spec in cls.fields:
        value = record.get(spec.name)
        if _is_blank(value):
            if spec.required:
                found.append(_required(spec))
            continue
        type_error = _type_violation(spec, value)
        if type_error is not None:
            found.append(type_error)
            continue
        found += _value_violations(cls, spec, value, record, catalog, today)
    found += _order_violations(cls, record)
    found += _subject_violations(cls, record)
    return found


def _required(spec: FieldSpec) -> Violation:
    return _v(
        "field.required",
        spec,
        f"必填项「{spec.label}」为空",
        f"required field {spec.name} ({spec.label}) is missing",
    )


# --- types ------------------------------------------------------------------------------


def _has_type(spec: FieldSpec, value: object) -> bool:
    if spec.type in ("string", "month", "enum"):
        return isinstance(value, str)
    if spec.type == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if spec.type == "bool":
        return isinstance(value, bool)
    if spec.type in _DATE_TYPES:
        return isinstance(value, date) and not isinstance(value, datetime)
    # amount / quantity / ratio: a finite number; an int is a whole amount.
    if isinstance(value, Decimal):
        return value.is_finite()
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


_TYPE_NAMES = {
    "string": ("文本", "str"),
    "int": ("整数", "int"),
    "bool": ("是/否", "bool"),
    "month": ("年月文本YYYY-MM", "str 'YYYY-MM'"),
    "enum": ("代码表取值", "str"),
}


def _type_violation(spec: FieldSpec, value: object) -> Violation | None:
    if _has_type(spec, value):
        return None
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


def _value_violations(
    cls: InfoClass,
    spec: FieldSpec,
    value: object,
    record: Mapping[str, object],
    catalog: Catalog,
    today: date,
) -> list[Violation]:
    found: list[Violation] = []
    if spec.type in _NUMBER_TYPES or spec.type == "int":
        found += _number_violations(spec, value)  # type: ignore[arg-type]
    elif spec.type == "month":
        found += _month_violations(cls, spec, str(value), today)
    elif spec.type in _DATE_TYPES:
        found += _date_violations(cls, spec, value, today)  # type: ignore[arg-type]
    elif spec.type == "enum" and spec.enum is not None:
        allowed = catalog.enums[spec.enum].values
        if value not in allowed:
            found.append(
                _v(
                    "field.enum",
                    spec,
                    f"「{spec.label}」取值不在代码表中，应为：{'、'.join(allowed)}",
                    f"{spec.name} must be one of: {', '.join(allowed)}",
                )
            )
    if spec.check is not None and isinstance(value, str):
        found += _code_violations(cls, spec, value, record, catalog, today)
    return found


def _decimals(value: int | float | Decimal) -> int:
    """Decimal places as written: `repr` of a float is its shortest round-trip form."""
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


def _date_violations(cls: InfoClass, spec: FieldSpec, value: date, today: date) -> list[Violation]:
    return [_future(spec, today)] if _checks_future(cls, spec) and value > today else []


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


def _is_citizen_id_type(cls: InfoClass, record: Mapping[str, object], catalog: Catalog) -> bool:
    """Whether the record's 证件类型 says 身份证, also when spelled as a synonym: a wrong
    spelling is already reported on that field and must not let a bad ID number through."""
    type_spec = cls.by_name.get(cls.subject.id_type or "")
    value = record.get(type_spec.name) if type_spec else None
    if type_spec is None or not isinstance(value, str):
        return False
    enum = catalog.enums.get(type_spec.enum or "")
    return (enum.canonical(value) if enum else value) == CITIZEN_ID_TYPE


def _code_violations(
    cls: InfoClass,
    spec: FieldSpec,
    value: str,
    record: Mapping[str, object],
    catalog: Catalog,
    today: date,
) -> list[Violation]:
    if spec.check == "citizen_id":
        return check_citizen_id(value, today, field=spec.name)
    if spec.check == "id_by_type":
        if _is_citizen_id_type(cls, record, catalog):
            return check_citizen_id(value, today, field=spec.name)
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
    return spec.type in _DATE_TYPES and _has_type(spec, value)


def _order_violations(cls: InfoClass, record: Mapping[str, object]) -> list[Violation]:
    found: list[Violation] = []
    for start, end in _pairs(cls):
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


def _subject_violations(cls: InfoClass, record: Mapping[str, object]) -> list[Violation]:
    """A legal person must carry at least one code the subject registry can resolve."""
    if cls.subject_kind != "legal":
        return []
    codes = (cls.subject.code, *cls.subject.alt_codes)
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
