"""Typing providers' raw cells: accepted spellings per type and refusals with reason codes."""

from __future__ import annotations

import datetime as dt

import pytest

from schemas.catalog import Catalog, FieldSpec, default_catalog
from schemas.values import coerce_record, coerce_value


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return default_catalog()


def spec(ftype: str, **extra: object) -> FieldSpec:
    return FieldSpec.model_validate({"name": "f", "label": "测试项", "type": ftype, **extra})


def ok(catalog: Catalog, ftype: str, raw: object, **extra: object) -> object:
    value, violation = coerce_value(spec(ftype, **extra), raw, catalog)
    assert violation is None, violation
    return value


def refused(catalog: Catalog, ftype: str, raw: object, **extra: object) -> str:
    value, violation = coerce_value(spec(ftype, **extra), raw, catalog)
    assert value is None
    assert violation is not None, f"{raw!r} was accepted"
    assert violation.field == "f"
    assert violation.message_zh and violation.message_en
    return violation.code


@pytest.mark.parametrize(
    "ftype", ["string", "int", "amount", "date", "month", "bool", "period_end"]
)
@pytest.mark.parametrize("raw", [None, "", "   ", "\u3000"])
def test_blank_is_none_without_violation(catalog: Catalog, ftype: str, raw: object) -> None:
    assert ok(catalog, ftype, raw) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(" 示例公司 ", "示例公司"), (123456.0, "123456"), (7, "7"),
     (dt.date(2024, 1, 2), "2024-01-02"), (dt.datetime(2024, 1, 2), "2024-01-02")],
)  # fmt: skip
def test_string_is_trimmed_and_integral_floats_lose_the_point(
    catalog: Catalog, raw: object, expected: str
) -> None:
    assert ok(catalog, "string", raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("12", 12), (12, 12), (12.0, 12), (" 1,200 ", 1200), ("１２", 12), ("12.0", 12)],
)
def test_int_accepts(catalog: Catalog, raw: object, expected: int) -> None:
    value = ok(catalog, "int", raw)
    assert value == expected and type(value) is int


@pytest.mark.parametrize("raw", [12.5, "12.5", "十二", "12天", True, "1e400"])
def test_int_refuses_with_field_type(catalog: Catalog, raw: object) -> None:
    assert refused(catalog, "int", raw) == "field.type"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1,234.50", 1234.5), ("1，234，567", 1234567.0), ("¥12", 12.0), ("￥12元", 12.0),
     (12, 12.0), ("-3.5", -3.5), (0.1, 0.1), ("RMB 7", 7.0)],
)  # fmt: skip
def test_amount_accepts(catalog: Catalog, raw: object, expected: float) -> None:
    value = ok(catalog, "amount", raw)
    assert value == expected and type(value) is float


@pytest.mark.parametrize(
    "raw", ["abc", "12%", "1.2.3", "1,2,3", "12,34", "nan", "inf", "#N/A", False]
)
def test_amount_refuses_with_field_type(catalog: Catalog, raw: object) -> None:
    assert refused(catalog, "amount", raw) == "field.type"


def test_ratio_percent_sign_means_the_same_number(catalog: Catalog) -> None:
    assert ok(catalog, "ratio", "12%") == 12.0
    assert ok(catalog, "ratio", "12") == 12.0
    assert ok(catalog, "ratio", 0.12) == 0.12  # not guessed into a percent


def test_quantity_refuses_units_in_the_cell(catalog: Catalog) -> None:
    assert ok(catalog, "quantity", "56.5") == 56.5
    assert refused(catalog, "quantity", "56吨") == "field.type"


@pytest.mark.parametrize(
    "raw",
    ["2021-03-05", "2021/3/5", "20210305", "2021年3月5日", "2021.03.05", "2021-03-05 00:00:00",
     "２０２１－０３－０５", 20210305, dt.datetime(2021, 3, 5, 14, 30), dt.date(2021, 3, 5), 44260,
     44260.75],
)  # fmt: skip
def test_date_accepts(catalog: Catalog, raw: object) -> None:
    assert ok(catalog, "date", raw) == dt.date(2021, 3, 5)


@pytest.mark.parametrize(
    "raw", ["2021-02-30", "2021-13-01", "20210230", "2021年2月29日", "2023/4/31"]
)
def test_date_refuses_days_not_in_the_calendar(catalog: Catalog, raw: object) -> None:
    value, violation = coerce_value(spec("date"), raw, catalog)
    assert value is None and violation is not None
    assert violation.code == "field.date"
    assert "calendar" in violation.message_en


@pytest.mark.parametrize(
    "raw", ["next week", "2021-03", "3/5/2021", "44260", "0001-01-01", 202103, 2021, 12.0, -5, True]
)
def test_date_refuses_what_is_not_a_date(catalog: Catalog, raw: object) -> None:
    assert refused(catalog, "date", raw) == "field.date"


@pytest.mark.parametrize(
    "raw",
    ["2021-03", "202103", "2021/3", "2021年3月", "2021年03月份", "2021-03-05", 202103, 202103.0,
     dt.date(2021, 3, 5), dt.datetime(2021, 3, 1), "2021.3", 20210305],
)  # fmt: skip
def test_month_accepts(catalog: Catalog, raw: object) -> None:
    assert ok(catalog, "month", raw) == "2021-03"


@pytest.mark.parametrize(
    "raw", ["2021-13", "202100", "March 2021", "2021", "2021-02-30", 2021, 1.5]
)
def test_month_refuses_with_field_month(catalog: Catalog, raw: object) -> None:
    assert refused(catalog, "month", raw) == "field.month"


def test_period_bounds_of_a_month_are_its_first_and_last_day(catalog: Catalog) -> None:
    assert ok(catalog, "period_start", "2024-02") == dt.date(2024, 2, 1)
    assert ok(catalog, "period_end", "2024-02") == dt.date(2024, 2, 29)  # leap year
    assert ok(catalog, "period_end", "2023年2月") == dt.date(2023, 2, 28)
    assert ok(catalog, "period_end", 202412) == dt.date(2024, 12, 31)


def test_period_bound_given_as_a_date_is_kept(catalog: Catalog) -> None:
    assert ok(catalog, "period_start", "2024-02-10") == dt.date(2024, 2, 10)
    assert ok(catalog, "period_end", dt.datetime(2024, 2, 10)) == dt.date(2024, 2, 10)


def test_period_refusals(catalog: Catalog) -> None:
    assert refused(catalog, "period_end", "2024-13") == "field.month"
    assert refused(catalog, "period_start", "2024-02-30") == "field.date"
    assert refused(catalog, "period_start", "上个月") == "field.date"
    assert refused(catalog, "period_end", "0000-02") == "field.month"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("是", True), ("否", False), ("Y", True), ("n", False), ("TRUE", True), ("false", False),
     ("1", True), ("0", False), (1, True), (0.0, False), (True, True), (" 是 ", True)],
)  # fmt: skip
def test_bool_accepts(catalog: Catalog, raw: object, expected: bool) -> None:
    assert ok(catalog, "bool", raw) is expected


@pytest.mark.parametrize("raw", ["也许", "2", 2, "yes please"])
def test_bool_refuses_with_field_bool(catalog: Catalog, raw: object) -> None:
    assert refused(catalog, "bool", raw) == "field.bool"


def test_enum_maps_synonyms_to_the_canonical_value(catalog: Catalog) -> None:
    assert ok(catalog, "enum", "电费", enum="utility_type") == "电费"
    assert ok(catalog, "enum", " 自来水费 ", enum="utility_type") == "水费"


def test_unknown_enum_value_lists_the_allowed_values(catalog: Catalog) -> None:
    value, violation = coerce_value(spec("enum", enum="utility_type"), "物业费", catalog)
    assert value is None and violation is not None
    assert violation.code == "field.enum"
    for allowed in catalog.enums["utility_type"].values:
        assert allowed in violation.message_zh and allowed in violation.message_en


def test_messages_never_echo_a_personal_id(catalog: Catalog) -> None:
    secret = "11010519491231002X"
    for check in ("citizen_id", "id_by_type"):
        _, violation = coerce_value(spec("int", check=check), secret, catalog)
        assert violation is not None
        assert secret not in violation.message_zh and secret not in violation.message_en


def test_coerce_record_types_every_field_and_ignores_unknown_keys(catalog: Catalog) -> None:
    cls = catalog.get("legal_arrears")
    raw = {"org_name": "示例公司", "arrears_type": "自来水费", "arrears_start": "2024/1/1",
           "arrears_end": "20240229", "overdue_days": "30", "arrears_amount": "1,000",
           "marriage": "已婚"}  # fmt: skip
    record, violations = coerce_record(cls, raw, catalog)
    assert violations == []
    assert set(record) == {f.name for f in cls.fields}
    assert record["arrears_type"] == "水费"
    assert record["arrears_end"] == dt.date(2024, 2, 29)
    assert record["overdue_days"] == 30 and record["arrears_amount"] == 1000.0
    assert record["uscc"] is None


def test_coerce_record_reports_each_bad_field(catalog: Catalog) -> None:
    cls = catalog.get("legal_arrears")
    raw = {"overdue_days": "3.5", "arrears_start": "2021-02-30", "arrears_type": "物业费"}
    record, violations = coerce_record(cls, raw, catalog)
    assert {(v.field, v.code) for v in violations} == {
        ("overdue_days", "field.type"),
        ("arrears_start", "field.date"),
        ("arrears_type", "field.enum"),
    }
    assert record["overdue_days"] is None
