"""The catalog's rules over a whole decoded batch at once: which rows break any of them.

Why: judging record by record (`streams.core.rules.validate`) was the worker's second largest
cost per record, though ~95% of records break no rule and need no reason at all. Here the
rules of a class run as polars column expressions (and numpy for the check characters of
codes) over every row of a batch; only the rows found guilty go through `validate`, which
builds their bilingual reasons exactly as before. So the verdict of a row must be the same
either way: `tests/unit/streams/core/test_column_rules.py` compares the two over more than
100,000 generated records that break every rule there is.

The frame comes from a flat Avro schema (`schemas.flat_reader`): its columns are String,
Int64, Float64, Boolean, Date or Datetime. A column of another type than its catalog field
asks for is a type violation wherever it holds a value, as in `validate`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import numpy as np
import polars as pl

from schemas.catalog import Catalog, FieldSpec, InfoClass
from schemas.codes import (
    ID_CHECK_CHARS,
    ID_MIN_BIRTH_YEAR,
    ID_WEIGHTS,
    ORG_WEIGHTS,
    USCC_ALPHABET,
    USCC_WEIGHTS,
)
from streams.core.banned import banned_attribute
from streams.core.identity import CITIZEN_ID_TYPE
from streams.core.rules import (
    MAX_DECIMALS,
    OTHER_ID_MAX_LEN,
    PAST_DATE_FIELDS,
    class_plan,
)

# What Python's `str.strip()` and `re`'s `\s` take for white space (`str.isspace`); Rust's
# own idea of white space lacks \x1c-\x1f, so the set is spelled out.
PY_SPACE = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
_SPACE_CLASS = "".join(f"\\x{{{ord(c):x}}}" for c in PY_SPACE)
_MONTH = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
_SEPARATORS = f"[{_SPACE_CLASS}\\-()（）]"
_MOBILE = r"^(?:\+86|0086|86)?1[3-9][0-9]{9}$"
_LANDLINE = r"^(?:0[1-9][0-9]{1,2}[2-9][0-9]{6,7}|[48]00[0-9]{7})$"
_NUMBERS = ("amount", "quantity", "ratio")
_DATES = ("date", "period_start", "period_end")
_TEXT = ("string", "month", "enum")


def guilty(cls: InfoClass, catalog: Catalog, frame: pl.DataFrame, today: date) -> np.ndarray:
    """A boolean per row of `frame`: True where `validate` (or the banned-data check) would
    report anything for that row's record."""
    rows = frame.height
    if any(banned_attribute(name, cls.subject_kind) for name in frame.columns):
        return np.ones(rows, dtype=bool)  # every record of the schema carries the banned field
    frame = frame.with_columns(
        pl.lit(None).alias(f.name) for f in cls.fields if f.name not in frame.columns
    )
    plan = class_plan(cls, catalog)
    exprs: list[pl.Expr] = []
    codes: list[FieldSpec] = []
    for spec in cls.fields:
        exprs += _field_exprs(cls, spec, catalog, frame.schema[spec.name], today)
        if spec.check is not None and frame.schema[spec.name] == pl.String:
            codes.append(spec)
    exprs += [_order_expr(a, b, frame.schema) for a, b in plan.pairs]
    if plan.subject_codes:
        exprs.append(pl.all_horizontal(_blank(n, frame.schema[n]) for n in plan.subject_codes))
    found = np.zeros(rows, dtype=bool)
    if exprs:
        judged = frame.select(pl.any_horizontal(exprs).fill_null(False).alias("g"))
        found |= judged.to_series().to_numpy()
    for spec in codes:
        found |= _code_guilty(cls, spec, catalog, frame, today)
    return found


# --- per field --------------------------------------------------------------------------


def _blank(name: str, dtype: pl.DataType) -> pl.Expr:
    col = pl.col(name)
    if dtype == pl.String:
        return col.is_null() | (col.str.strip_chars(PY_SPACE) == "")
    return col.is_null()


def _type_ok(spec: FieldSpec, dtype: pl.DataType) -> bool:
    if spec.type in _TEXT:
        return dtype == pl.String
    if spec.type == "int":
        return dtype == pl.Int64
    if spec.type == "bool":
        return dtype == pl.Boolean
    if spec.type in _DATES:
        return dtype == pl.Date
    return dtype in (pl.Float64, pl.Int64)  # amount, quantity, ratio: any finite number


def _field_exprs(
    cls: InfoClass, spec: FieldSpec, catalog: Catalog, dtype: pl.DataType, today: date
) -> list[pl.Expr]:
    """Expressions true where the field breaks a rule (code checks aside: `_code_guilty`)."""
    blank = _blank(spec.name, dtype)
    out = [blank] if spec.required else []
    if dtype == pl.Null:
        return out
    if not _type_ok(spec, dtype):
        return [*out, ~blank]  # a value of another type: a type violation
    col = pl.col(spec.name)
    present = ~blank
    if spec.type in _NUMBERS or spec.type == "int":
        out.append(present & _number_guilty(spec, col, dtype))
    elif spec.type == "month":
        bad = ~col.str.contains(_MONTH)
        if _checks_future(cls, spec):
            bad = bad | (col > pl.lit(f"{today:%Y-%m}"))
        out.append(present & bad)
    elif spec.type in _DATES and _checks_future(cls, spec):
        out.append(present & (col > pl.lit(today)))
    elif spec.type == "enum" and spec.enum is not None:
        out.append(present & ~col.is_in(list(catalog.enums[spec.enum].values)))
    return out


def _checks_future(cls: InfoClass, spec: FieldSpec) -> bool:
    return spec.name == cls.event_date_field or spec.name in PAST_DATE_FIELDS


def _number_guilty(spec: FieldSpec, col: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    value = col.cast(pl.Float64)
    bad = ~value.is_finite() if dtype == pl.Float64 else pl.lit(False)
    if spec.type == "ratio":
        return bad | (value < 0) | (value > 100)
    bad = bad | (value < 0)
    places = MAX_DECIMALS.get(spec.type)
    if places is not None and dtype == pl.Float64:
        bad = bad | (_decimals(col) > places)
    return bad


def _decimals(col: pl.Expr) -> pl.Expr:
    """Decimal places of a float as Python's `repr` writes it (`rules._decimals`): polars
    prints the same shortest digits, only its exponent form differs (`1e-7`, `1e+16`)."""
    text = col.cast(pl.String)
    parts = text.str.split("e")
    mantissa = parts.list.first()
    exponent = pl.when(text.str.contains("e")).then(parts.list.last().cast(pl.Int64)).otherwise(0)
    dot = mantissa.str.find(".", literal=True)
    fraction = pl.when(dot.is_null()).then(0).otherwise(mantissa.str.len_chars() - dot - 1)
    return pl.max_horizontal(fraction.cast(pl.Int64) - exponent, pl.lit(0))


def _order_expr(start: FieldSpec, end: FieldSpec, schema: pl.Schema) -> pl.Expr:
    """Start after end, when both are comparable (`rules._order_violations`)."""
    if (start.type == "month") != (end.type == "month"):
        return pl.lit(False)
    a, b = pl.col(start.name), pl.col(end.name)
    if start.type == "month":
        if schema[start.name] != pl.String or schema[end.name] != pl.String:
            return pl.lit(False)
        return a.str.contains(_MONTH) & b.str.contains(_MONTH) & (a > b)
    if start.type not in _DATES or end.type not in _DATES:
        return pl.lit(False)
    if schema[start.name] != pl.Date or schema[end.name] != pl.Date:
        return pl.lit(False)
    return a > b


# --- codes ------------------------------------------------------------------------------


def _code_guilty(
    cls: InfoClass, spec: FieldSpec, catalog: Catalog, frame: pl.DataFrame, today: date
) -> np.ndarray:
    """Rows whose value of a coded field (`spec.check`) is not a valid code."""
    values = frame.get_column(spec.name)
    present = (values.is_not_null() & (values.str.strip_chars(PY_SPACE) != "")).to_numpy()
    present = present.astype(bool)
    check = spec.check
    if check == "id_by_type":
        citizen = _says_citizen(cls, catalog, frame)
        too_long = (values.str.len_chars() > OTHER_ID_MAX_LEN).fill_null(False).to_numpy()
        bad = np.where(citizen, ~citizen_ids_ok(values, today), too_long)
    elif check == "citizen_id":
        bad = ~citizen_ids_ok(values, today)
    elif check == "phone":
        bad = ~_phones_ok(values)
    else:
        bad = ~_CHECKERS[str(check)](values)
    return present & bad


def _says_citizen(cls: InfoClass, catalog: Catalog, frame: pl.DataFrame) -> np.ndarray:
    """Whether a row's 证件类型 says 身份证, synonyms included (`rules._citizen_id_type_test`)."""
    type_spec = cls.by_name.get(cls.subject.id_type or "")
    if type_spec is None or frame.schema[type_spec.name] != pl.String:
        return np.zeros(frame.height, dtype=bool)
    enum = catalog.enums.get(type_spec.enum or "")
    spellings = frame.get_column(type_spec.name).drop_nulls().unique().to_list()
    citizen = [s for s in spellings if (enum.canonical(s) if enum else s) == CITIZEN_ID_TYPE]
    return frame.get_column(type_spec.name).is_in(citizen).fill_null(False).to_numpy()


def _fixed(values: pl.Series, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows that are `width` ASCII characters, those rows as a uint8 matrix)."""
    fits = ((values.str.len_bytes() == width) & (values.str.len_chars() == width)).fill_null(False)
    mask = fits.to_numpy().astype(bool)
    text = "".join(values.filter(fits).to_list()).encode("ascii")
    return mask, np.frombuffer(text, dtype=np.uint8).reshape(-1, width).astype(np.int64)


def _lookup(alphabet: dict[str, int]) -> np.ndarray:
    table = np.full(256, -1, dtype=np.int64)
    for ch, value in alphabet.items():
        table[ord(ch)] = value
    return table


_USCC_VALUE = _lookup({ch: i for i, ch in enumerate(USCC_ALPHABET)})
_ORG_VALUE = _lookup({ch: int(ch, 36) for ch in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"})
_ORG_CHECK = np.array([ord(c) for c in "0123456789X0"], dtype=np.int64)  # by 11 - Σ mod 11
_DIGIT = _lookup({str(d): d for d in range(10)})


def _org_ok(body: np.ndarray, check: np.ndarray) -> np.ndarray:
    """GB 11714: 8 characters 0-9/A-Z, then the check character."""
    values = _ORG_VALUE[body]
    total = (values * np.array(ORG_WEIGHTS)).sum(axis=1)
    expected = _ORG_CHECK[(11 - total % 11) % 12]
    ok: np.ndarray = (values >= 0).all(axis=1) & (expected == check)
    return ok


def _uscc_ok(values: pl.Series) -> np.ndarray:
    mask, m = _fixed(values, 18)
    chars = _USCC_VALUE[m]
    charset = (chars >= 0).all(axis=1)
    total = (np.where(chars[:, :17] >= 0, chars[:, :17], 0) * np.array(USCC_WEIGHTS)).sum(axis=1)
    check = (31 - total % 31) % 31 == chars[:, 17]
    ok = charset & check & _org_ok(m[:, 8:16], m[:, 16])
    out = np.zeros(len(values), dtype=bool)
    out[mask] = ok
    return out


def _org_codes_ok(values: pl.Series) -> np.ndarray:
    shaped = values.str.contains(r"^[0-9A-Z]{8}-?[0-9X]$").fill_null(False)
    compact = values.str.replace("-", "", literal=True)
    mask, m = _fixed(compact.filter(shaped), 9)
    out = np.zeros(len(values), dtype=bool)
    ok = np.zeros(int(shaped.sum()), dtype=bool)
    ok[mask] = _org_ok(m[:, :8], m[:, 8])
    out[shaped.to_numpy().astype(bool)] = ok
    return out


def _reg_nos_ok(values: pl.Series) -> np.ndarray:
    """15 digits, the last the ISO 7064 MOD 11,10 check digit of the others."""
    mask, m = _fixed(values, 15)
    digits = _DIGIT[m]
    p = np.full(len(m), 10, dtype=np.int64)
    for i in range(14):
        s = (p + digits[:, i]) % 10
        p = (2 * np.where(s == 0, 10, s)) % 11
    ok = (digits >= 0).all(axis=1) & ((11 - p) % 10 == digits[:, 14])
    out = np.zeros(len(values), dtype=bool)
    out[mask] = ok
    return out


def citizen_id_shaped(col: pl.Expr, today: date) -> pl.Expr:
    """GB 11643 but the check character: 17 digits and a digit or X, and a real birth date
    between 1900 and `today`."""
    born = col.str.slice(6, 8).str.to_date("%Y%m%d", strict=False)
    real = born.is_not_null() & (born <= pl.lit(today)) & (born.dt.year() >= ID_MIN_BIRTH_YEAR)
    return (col.str.contains(r"^[0-9]{17}[0-9X]$") & real).fill_null(False)


_ID_CHECK = np.array([ord(c) for c in ID_CHECK_CHARS], dtype=np.int64)


def id_check_chars_ok(ids: list[str]) -> np.ndarray:
    """The check character of each of `ids` (all of them `citizen_id_shaped`)."""
    if not ids:
        return np.zeros(0, dtype=bool)
    m = np.frombuffer("".join(ids).encode("ascii"), dtype=np.uint8).reshape(-1, 18)
    total = ((m[:, :17].astype(np.int64) - ord("0")) * np.array(ID_WEIGHTS)).sum(axis=1)
    ok: np.ndarray = _ID_CHECK[total % 11] == m[:, 17]
    return ok


def citizen_ids_ok(values: pl.Series, today: date) -> np.ndarray:
    """GB 11643 of each value: shape, birth date, check character."""
    shaped = values.to_frame("v").select(citizen_id_shaped(pl.col("v"), today)).to_series()
    out = np.zeros(len(values), dtype=bool)
    out[shaped.to_numpy().astype(bool)] = id_check_chars_ok(values.filter(shaped).to_list())
    return out


def _phones_ok(values: pl.Series) -> np.ndarray:
    """A mobile (with or without +86) or a landline, separators aside (`codes.check_phone`)."""
    bare = values.str.replace_all(_SEPARATORS, "")
    ok = bare.str.contains(_MOBILE) | bare.str.contains(_LANDLINE)
    return np.asarray(ok.fill_null(False).to_numpy(), dtype=bool)


_CHECKERS: dict[str, Callable[[pl.Series], np.ndarray]] = {
    "uscc": _uscc_ok,
    "org_code": _org_codes_ok,
    "reg_no": _reg_nos_ok,
}
