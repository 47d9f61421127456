"""Turn a provider's raw cell values into the typed values the Avro schema holds.

Raw values come from CSV (always strings), openpyxl (str, int, float, datetime, date, bool)
or JSON (str, int, float, bool). Providers spell the same value many ways (`1,234.50`,
`2021年3月5日`, an Excel serial number), so every type accepts the spellings seen in
practice and refuses anything it would have to guess at, with a stable reason code:

- `field.type`  — not a number / not an integer
- `field.date`  — not a date, or not a real calendar date (2021-02-30)
- `field.month` — not a year-month
- `field.bool`  — not 是/否
- `field.enum`  — not one of the catalog's values or synonyms

Blank values become None without a violation: whether a field may be blank is the stream's
`field.required` rule, not a typing question.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import re
import unicodedata
from collections.abc import Callable, Mapping

from openpyxl.utils.datetime import from_excel

from schemas.catalog import Catalog, FieldSpec, FieldType, InfoClass
from schemas.violations import Violation

# Fields whose raw value may be a personal ID number: never echoed in a message (DESIGN:
# personal ID numbers are never shown in full outside the store).
_SECRET_CHECKS = frozenset({"citizen_id", "id_by_type"})
# Excel serial day numbers taken as dates: 10000 (1927-05-18) to 99999 (2173). Smaller numbers
# are more likely a year or a count typed in the wrong column; larger ones collide with
# yyyymm / yyyymmdd integers.
_SERIAL_MIN, _SERIAL_MAX = 10_000, 99_999
# Years a credit record can mention; `0021-03` is a typo, not the first century.
_YEARS = range(1900, 2200)
_SHOWN_MAX = 40

_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_GROUPED_RE = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?")  # 1,234,567.50
_DATE_RES = (
    re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"),
    re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})[日号]?"),
    re.compile(r"(\d{4})(\d{2})(\d{2})"),
)
_MONTH_RES = (
    re.compile(r"(\d{4})[-/.](\d{1,2})"),
    re.compile(r"(\d{4})年(\d{1,2})月份?"),
    re.compile(r"(\d{4})(\d{2})"),
)
_TRUE = frozenset({"是", "y", "yes", "true", "t", "1"})
_FALSE = frozenset({"否", "n", "no", "false", "f", "0"})

# What each type accepts, in the provider's words; the Excel template's 说明 sheet shows it.
FORMAT_HINTS: dict[FieldType, str] = {
    "string": "文本",
    "int": "整数，如 30",
    "amount": "金额（元），如 1234.50、1,234.50",
    "quantity": "数量，如 56.5",
    "ratio": "百分比数值，如 12 或 12%（均表示 12%）",
    "date": "日期，如 2024-03-31、2024/3/31、20240331、2024年3月31日",
    "month": "年月，如 2024-03、202403、2024年3月",
    "period_start": "年月（表示该月1日，如 2024-03）或具体日期（如 2024-03-15）",
    "period_end": "年月（表示该月最后一日，如 2024-03）或具体日期（如 2024-03-15）",
    "bool": "是 / 否",
    "enum": "从可选值中选择",
}


class _Refused(Exception):
    """Internal: a value that cannot be typed; carries the reason code and both messages."""

    def __init__(self, code: str, zh: str, en: str) -> None:
        super().__init__(en)
        self.code, self.zh, self.en = code, zh, en


def _shown(field: FieldSpec, raw: object) -> str:
    """The raw value as a message may quote it: shortened, and never a personal ID."""
    if field.check in _SECRET_CHECKS:
        return "（已隐藏 / hidden）"
    text = str(raw)
    return repr(text if len(text) <= _SHOWN_MAX else text[:_SHOWN_MAX] + "…")


def _text(raw: object) -> str:
    """Fold full-width digits and punctuation (NFKC) and trim: `２０２１－０３` is 2021-03."""
    return unicodedata.normalize("NFKC", str(raw)).strip()


def _is_blank(raw: object) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


# --- numbers ------------------------------------------------------------------------------


def _number(field: FieldSpec, raw: object) -> float:
    """A finite number from a cell; strings may carry thousands separators, ¥/元 and (ratio) %."""
    not_number = _Refused(
        "field.type",
        f"{field.label}：{_shown(field, raw)} 不是数字",
        f"{field.label} ({field.name}): {_shown(field, raw)} is not a number",
    )
    if isinstance(raw, bool):
        raise not_number
    if isinstance(raw, int | float):
        value = float(raw)
    else:
        text = "".join(_text(raw).split())
        if field.type == "amount":
            text = text.removeprefix("¥").removeprefix("RMB").removesuffix("元")
        if field.type == "ratio":
            text = text.removesuffix("%")
        if "," in text and _GROUPED_RE.fullmatch(text):
            text = text.replace(",", "")
        if not _NUMBER_RE.fullmatch(text):
            raise not_number
        value = float(text)
    if not math.isfinite(value):
        raise not_number
    return value


def _integer(field: FieldSpec, raw: object) -> int:
    """An integer; `12.0` is 12 (Excel stores every number as a float), `12.5` is refused."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    value = _number(field, raw)
    if not value.is_integer():
        raise _Refused(
            "field.type",
            f"{field.label}：{_shown(field, raw)} 不是整数",
            f"{field.label} ({field.name}): {_shown(field, raw)} is not an integer",
        )
    return int(value)


# --- dates and months ---------------------------------------------------------------------


def _calendar_date(field: FieldSpec, raw: object, y: int, m: int, d: int) -> dt.date:
    if y not in _YEARS:
        raise _not_date(field, raw)
    try:
        return dt.date(y, m, d)
    except ValueError:
        raise _Refused(
            "field.date",
            f"{field.label}：{_shown(field, raw)} 不是有效的日历日期",
            f"{field.label} ({field.name}): {_shown(field, raw)} is not a real calendar date",
        ) from None


def _not_date(field: FieldSpec, raw: object) -> _Refused:
    return _Refused(
        "field.date",
        f"{field.label}：{_shown(field, raw)} 不是日期，请填写如 2024-03-31",
        f"{field.label} ({field.name}): {_shown(field, raw)} is not a date; write e.g. 2024-03-31",
    )


def _serial_date(raw: int | float) -> dt.date | None:
    """An Excel serial day number (openpyxl's from_excel knows the 1900 leap-year quirk)."""
    if not _SERIAL_MIN <= raw <= _SERIAL_MAX:
        return None
    value = from_excel(raw)
    return value.date() if isinstance(value, dt.datetime) else None


def _digits_of(raw: object) -> str | None:
    """The digits of an integral numeric cell (`20210305`, `202103.0`), else None."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    if isinstance(raw, float) and not (math.isfinite(raw) and raw.is_integer()):
        return None
    return str(int(raw))


def _date(field: FieldSpec, raw: object) -> dt.date:
    """A calendar date from a date cell, a serial number, yyyymmdd or a written date."""
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    digits = _digits_of(raw)
    if isinstance(raw, int | float) and not isinstance(raw, bool) and len(digits or "") != 8:
        serial = _serial_date(raw)  # a date cell formatted as a number
        if serial is None:
            raise _not_date(field, raw)
        return serial
    text = digits if digits is not None else _text(raw)
    for pattern in _DATE_RES:
        match = pattern.fullmatch(text)
        if match:
            y, m, d = (int(g) for g in match.groups())
            return _calendar_date(field, raw, y, m, d)
    raise _not_date(field, raw)


def _year_month(text: str) -> tuple[int, int] | None:
    for pattern in _MONTH_RES:
        match = pattern.fullmatch(text)
        if match:
            return int(match.group(1)), int(match.group(2))
    return None


def _not_month(field: FieldSpec, raw: object) -> _Refused:
    return _Refused(
        "field.month",
        f"{field.label}：{_shown(field, raw)} 不是有效的年月，请填写如 2024-03",
        f"{field.label} ({field.name}): {_shown(field, raw)} is not a year-month; "
        "write e.g. 2024-03",
    )


def _month_or_date(field: FieldSpec, raw: object) -> tuple[int, int] | dt.date:
    """Either a (year, month) the provider wrote as a month, or a full date."""
    if isinstance(raw, dt.date):
        return _date(field, raw)
    digits = _digits_of(raw)
    text = digits if digits is not None else _text(raw)
    ym = _year_month(text)
    if ym is None:
        return _date(field, raw)
    if ym[0] not in _YEARS or not 1 <= ym[1] <= 12:
        raise _not_month(field, raw)
    return ym


def _month(field: FieldSpec, raw: object) -> str:
    """`YYYY-MM`; a full date stands for its month."""
    try:
        value = _month_or_date(field, raw)
    except _Refused:
        raise _not_month(field, raw) from None
    if isinstance(value, dt.date):
        return f"{value.year:04d}-{value.month:02d}"
    return f"{value[0]:04d}-{value[1]:02d}"


def _period(field: FieldSpec, raw: object) -> dt.date:
    """A period bound: a month means its first day (start) or its last day (end)."""
    value = _month_or_date(field, raw)
    if isinstance(value, dt.date):
        return value
    year, month = value
    day = 1 if field.type == "period_start" else calendar.monthrange(year, month)[1]
    return dt.date(year, month, day)


# --- the rest -----------------------------------------------------------------------------


def _string(field: FieldSpec, raw: object) -> str | None:
    """Trimmed text; an integral float is written without `.0` (Excel stores account numbers so)."""
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    if isinstance(raw, dt.datetime) and raw.time() == dt.time():
        return raw.date().isoformat()
    if isinstance(raw, dt.date | dt.datetime):
        return raw.isoformat()
    return str(raw).strip() or None


def _bool(field: FieldSpec, raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = _digits_of(raw) if isinstance(raw, int | float) else _text(raw).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _Refused(
        "field.bool",
        f"{field.label}：{_shown(field, raw)} 应填写“是”或“否”",
        f"{field.label} ({field.name}): {_shown(field, raw)} must be 是 (yes) or 否 (no)",
    )


_COERCERS: dict[FieldType, Callable[[FieldSpec, object], object]] = {
    "string": _string,
    "int": _integer,
    "amount": _number,
    "quantity": _number,
    "ratio": _number,
    "date": _date,
    "month": _month,
    "period_start": _period,
    "period_end": _period,
    "bool": _bool,
}  # enum is not here: it needs the catalog's value lists


def _enum(field: FieldSpec, raw: object, catalog: Catalog) -> tuple[object, Violation | None]:
    spec = catalog.enums[field.enum or ""]
    value = spec.canonical(_string(field, raw) or "")
    if value is not None:
        return value, None
    allowed = "、".join(spec.values)
    return None, Violation(
        "field.enum",
        field.name,
        f"{field.label}：{_shown(field, raw)} 不是可选值，可选值为：{allowed}",
        f"{field.label} ({field.name}): {_shown(field, raw)} is not allowed; "
        f"allowed values: {', '.join(spec.values)}",
    )


def coerce_value(
    field: FieldSpec, raw: object, catalog: Catalog
) -> tuple[object, Violation | None]:
    """The typed value of one raw cell, or None and the reason it cannot be typed."""
    if _is_blank(raw):
        return None, None
    if field.type == "enum":
        return _enum(field, raw, catalog)
    try:
        return _COERCERS[field.type](field, raw), None
    except _Refused as refused:
        return None, Violation(refused.code, field.name, refused.zh, refused.en)


def coerce_record(
    cls: InfoClass, raw: Mapping[str, object], catalog: Catalog
) -> tuple[dict[str, object], list[Violation]]:
    """Every field of `cls` typed from `raw` (keyed by field name); absent fields are None.

    Keys that are not fields of the class are ignored: reporting unknown columns (and
    refusing banned ones) is the caller's job, which sees the header.
    """
    record: dict[str, object] = {}
    violations: list[Violation] = []
    for field in cls.fields:
        value, violation = coerce_value(field, raw.get(field.name), catalog)
        record[field.name] = value
        if violation is not None:
            violations.append(violation)
    return record, violations
