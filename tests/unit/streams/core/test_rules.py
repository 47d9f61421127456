"""Record rules of `streams.core.rules.validate`, one passing and one failing record per rule."""

from __future__ import annotations

import random
from datetime import date, datetime
from decimal import Decimal

import pytest

from schemas.catalog import Catalog, default_catalog, load_catalog
from schemas.codes import random_citizen_id, random_org_code, random_reg_no, random_uscc
from streams.core import rules
from streams.core.rules import _decimals, class_plan, validate

TODAY = date(2024, 6, 30)
RNG = random.Random(20240630)
USCC = random_uscc(RNG)
PERSON_ID = random_citizen_id(RNG)
BAD_PERSON_ID = PERSON_ID[:-1] + ("0" if PERSON_ID[-1] != "0" else "1")
MAY_1, MAY_2, MAY_31, JUNE_1 = (
    date(2024, 5, 1),
    date(2024, 5, 2),
    date(2024, 5, 31),
    date(2024, 6, 1),
)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return default_catalog()


def provenance() -> dict[str, object]:
    return {
        "source_dept": "江阴市自来水公司",
        "provider_org": "江阴市自来水公司",
        "provide_date": date(2024, 6, 5),
        "usage_scope": "信用评价",
    }


def legal_arrears() -> dict[str, object]:
    return {
        "org_name": "江阴市某某机械有限公司",
        "uscc": USCC,
        "account_no": "W-0001",
        "arrears_type": "水费",
        "arrears_start": date(2024, 1, 1),
        "arrears_end": date(2024, 5, 31),
        "overdue_days": 120,
        "arrears_usage": 35.25,
        "arrears_amount": 1234.5,
        "severity": "一般",
        "valid_until": date(2027, 5, 31),  # validity ends may lie in the future
        **provenance(),
    }


def natural_arrears() -> dict[str, object]:
    return {
        "person_name": "张三",
        "id_type": "身份证",
        "id_no": PERSON_ID,
        "account_no": "E-42",
        "arrears_type": "电费",
        "arrears_start": date(2024, 3, 1),
        "arrears_end": date(2024, 6, 30),
        "overdue_days": 30,
        "arrears_amount": 88.0,
        **provenance(),
    }


def legal_utility_payment() -> dict[str, object]:
    return {
        "org_name": "江阴市某某机械有限公司",
        "uscc": USCC,
        "payment_type": "燃气费",
        "prepaid": False,
        "period_start": date(2024, 5, 1),
        "period_end": date(2024, 5, 31),
        "usage": 1200.1234,
        "amount": Decimal("3600.00"),
        **provenance(),
    }


def legal_housing_fund() -> dict[str, object]:
    return {
        "org_name": "江阴市某某机械有限公司",
        "org_code": random_org_code(RNG),
        "unit_account": "GJJ-7",
        "pay_month_from": "2024-01",
        "pay_month_to": "2024-05",
        "pay_ratio": 12.0,
        "headcount": 35,
        "monthly_amount": 42000,
        "pay_date": date(2024, 5, 15),
        **provenance(),
    }


def legal_social_insurance() -> dict[str, object]:
    return {
        "org_name": "江阴市某某机械有限公司",
        "reg_no": random_reg_no(RNG),
        "pay_month": "2024-06",
        "category": "养老保险",
        "insured_count": 10,
        "due_amount": 5000.0,
        "paid_amount": 5000.0,
        **provenance(),
    }


FACTORIES = {
    "legal_arrears": legal_arrears,
    "natural_arrears": natural_arrears,
    "legal_utility_payment": legal_utility_payment,
    "legal_housing_fund": legal_housing_fund,
    "legal_social_insurance": legal_social_insurance,
}


def reasons(catalog: Catalog, class_code: str, **changes: object) -> list[tuple[str, str | None]]:
    record = {**FACTORIES[class_code](), **changes}
    found = validate(catalog.get(class_code), record, catalog, TODAY)
    return [(v.code, v.field) for v in found]


@pytest.mark.parametrize("class_code", sorted(FACTORIES))
def test_valid_record_passes(catalog: Catalog, class_code: str) -> None:
    assert reasons(catalog, class_code) == []


# --- presence and types -------------------------------------------------------------------


@pytest.mark.parametrize("blank", [None, "", "   "])
def test_missing_required_field(catalog: Catalog, blank: object) -> None:
    assert reasons(catalog, "legal_arrears", account_no=blank) == [("field.required", "account_no")]


def test_absent_optional_field_is_fine(catalog: Catalog) -> None:
    assert reasons(catalog, "legal_arrears", severity=None, arrears_usage="") == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("overdue_days", 1.5),
        ("overdue_days", True),
        ("arrears_amount", "12.00"),
        ("arrears_amount", float("nan")),
        ("arrears_start", "2024-01-01"),
        ("arrears_start", datetime(2024, 1, 1, 8)),
        ("org_name", 42),
        ("arrears_type", 1),
    ],
)
def test_wrong_python_type(catalog: Catalog, field: str, value: object) -> None:
    assert ("field.type", field) in reasons(catalog, "legal_arrears", **{field: value})


def test_bool_and_month_types(catalog: Catalog) -> None:
    assert reasons(catalog, "legal_utility_payment", prepaid="否") == [("field.type", "prepaid")]
    assert reasons(catalog, "legal_housing_fund", pay_month_from=date(2024, 1, 1)) == [
        ("field.type", "pay_month_from")
    ]


def test_all_violations_are_reported_at_once(catalog: Catalog) -> None:
    found = reasons(catalog, "legal_arrears", org_name=None, overdue_days=-1, arrears_amount=1.005)
    assert found == [
        ("field.required", "org_name"),
        ("field.negative", "overdue_days"),
        ("field.precision", "arrears_amount"),
    ]


# --- dates and months -------------------------------------------------------------------


def test_provide_date_in_future(catalog: Catalog) -> None:
    assert reasons(catalog, "legal_arrears", provide_date=TODAY) == []
    assert reasons(catalog, "legal_arrears", provide_date=date(2024, 7, 1)) == [
        ("field.date_future", "provide_date")
    ]


def test_event_date_in_future(catalog: Catalog) -> None:
    later = date(2024, 7, 1)
    assert reasons(catalog, "legal_arrears", arrears_start=later, arrears_end=later) == [
        ("field.date_future", "arrears_start")
    ]
    assert reasons(catalog, "legal_social_insurance", pay_month="2024-07") == [
        ("field.date_future", "pay_month")
    ]


def test_payment_date_in_future(catalog: Catalog) -> None:
    # pay_date is not the event date of this class, but a payment cannot lie ahead.
    assert reasons(catalog, "legal_utility_payment", pay_date=date(2024, 7, 1)) == [
        ("field.date_future", "pay_date")
    ]


def test_valid_until_may_be_future(catalog: Catalog) -> None:
    assert reasons(catalog, "legal_arrears", valid_until=date(2030, 1, 1)) == []


@pytest.mark.parametrize(
    ("class_code", "start", "end", "values"),
    [
        ("legal_arrears", "arrears_start", "arrears_end", (MAY_2, MAY_1)),
        ("natural_arrears", "arrears_start", "arrears_end", (MAY_2, MAY_1)),
        ("legal_utility_payment", "period_start", "period_end", (JUNE_1, MAY_31)),
        ("legal_housing_fund", "pay_month_from", "pay_month_to", ("2024-05", "2024-04")),
    ],
)
def test_start_after_end(
    catalog: Catalog, class_code: str, start: str, end: str, values: tuple[object, object]
) -> None:
    changes = {start: values[0], end: values[1]}
    assert reasons(catalog, class_code, **changes) == [("field.date_order", start)]
    same = {start: values[1], end: values[1]}
    assert reasons(catalog, class_code, **same) == []


@pytest.mark.parametrize("month", ["2024-13", "2024-00", "2024-6", "202406", "2024/06", "24-06"])
def test_bad_month(catalog: Catalog, month: str) -> None:
    assert reasons(catalog, "legal_social_insurance", pay_month=month) == [
        ("field.month", "pay_month")
    ]


# --- numbers ----------------------------------------------------------------------------


def test_amount_rules(catalog: Catalog) -> None:
    assert reasons(catalog, "legal_arrears", arrears_amount=0.0) == []
    assert reasons(catalog, "legal_arrears", arrears_amount=-0.01) == [
        ("field.negative", "arrears_amount")
    ]
    assert reasons(catalog, "legal_arrears", arrears_amount=12.345) == [
        ("field.precision", "arrears_amount")
    ]
    assert reasons(catalog, "legal_utility_payment", amount=Decimal("1.001")) == [
        ("field.precision", "amount")
    ]


def test_quantity_rules(catalog: Catalog) -> None:
    assert reasons(catalog, "legal_arrears", arrears_usage=0.1234) == []
    assert reasons(catalog, "legal_arrears", arrears_usage=0.12345) == [
        ("field.precision", "arrears_usage")
    ]
    assert reasons(catalog, "legal_arrears", arrears_usage=-1.0) == [
        ("field.negative", "arrears_usage")
    ]


@pytest.mark.parametrize(
    ("ratio", "ok"), [(0.0, True), (100.0, True), (-1.0, False), (100.5, False)]
)
def test_ratio_range(catalog: Catalog, ratio: float, ok: bool) -> None:
    expected = [] if ok else [("field.range", "pay_ratio")]
    assert reasons(catalog, "legal_housing_fund", pay_ratio=ratio) == expected


def test_int_must_not_be_negative(catalog: Catalog) -> None:
    assert reasons(catalog, "legal_housing_fund", headcount=0) == []
    assert reasons(catalog, "legal_housing_fund", headcount=-3) == [("field.negative", "headcount")]


# --- enums and codes --------------------------------------------------------------------


def test_enum_must_be_canonical(catalog: Catalog) -> None:
    assert reasons(catalog, "legal_arrears", arrears_type="自来水费") == [
        ("field.enum", "arrears_type")
    ]
    [v] = validate(
        catalog.get("legal_arrears"), {**legal_arrears(), "severity": "很严重"}, catalog, TODAY
    )
    assert "一般" in v.message_zh and "严重" in v.message_en


@pytest.mark.parametrize(
    ("class_code", "field", "value", "reason"),
    [
        ("legal_arrears", "uscc", "91350100M0001TGQXM", "uscc.check_digit"),
        ("legal_arrears", "uscc", "9135", "uscc.length"),
        ("legal_housing_fund", "org_code", "12345678-9", "org_code.check_digit"),
        ("legal_social_insurance", "reg_no", "110108012660423", "reg_no.check_digit"),
        ("legal_utility_payment", "agency_uscc", "91350100M000100Y44", "uscc.check_digit"),
        ("natural_arrears", "id_no", BAD_PERSON_ID, "id.check_digit"),
        ("natural_arrears", "id_no", "32028120240230123X", "id.birth_date"),
    ],
)
def test_code_checks(
    catalog: Catalog, class_code: str, field: str, value: str, reason: str
) -> None:
    assert (reason, field) in reasons(catalog, class_code, **{field: value})


def test_valid_alternative_codes_pass(catalog: Catalog) -> None:
    assert reasons(catalog, "legal_arrears", uscc="91350100M000100Y43") == []
    assert reasons(catalog, "legal_housing_fund", org_code="80210043-3") == []
    assert reasons(catalog, "legal_social_insurance", reg_no="110108012660422") == []


def test_other_id_types_are_kept_as_is(catalog: Catalog) -> None:
    assert reasons(catalog, "natural_arrears", id_type="护照", id_no="E12345678") == []
    assert reasons(catalog, "natural_arrears", id_type="护照", id_no="P" * 41) == [
        ("field.length", "id_no")
    ]


def test_id_type_synonym_still_checks_the_number(catalog: Catalog) -> None:
    found = reasons(catalog, "natural_arrears", id_type="居民身份证", id_no="123")
    assert found == [("field.enum", "id_type"), ("id.length", "id_no")]


def test_id_messages_are_masked(catalog: Catalog) -> None:
    record = {**natural_arrears(), "id_no": BAD_PERSON_ID}
    found = validate(catalog.get("natural_arrears"), record, catalog, TODAY)
    assert found and all(BAD_PERSON_ID not in v.message_zh + v.message_en for v in found)


# --- subject ----------------------------------------------------------------------------


def test_legal_record_needs_one_subject_code(catalog: Catalog) -> None:
    assert reasons(catalog, "legal_arrears", uscc=None) == [("subject.missing_code", None)]
    assert reasons(catalog, "legal_arrears", uscc=None, org_code="80210043-3") == []
    assert reasons(catalog, "legal_arrears", uscc=None, reg_no="110108012660422") == []


def test_natural_record_has_no_subject_code_rule(catalog: Catalog) -> None:
    assert reasons(catalog, "natural_arrears", id_no=None) == [("field.required", "id_no")]


# --- compiled plans ---------------------------------------------------------------------


def test_plan_is_compiled_once_per_class_and_catalog(catalog: Catalog) -> None:
    cls = catalog.get("natural_arrears")
    assert class_plan(cls, catalog) is class_plan(cls, catalog)
    other = load_catalog()
    assert class_plan(other.get("natural_arrears"), other) is not class_plan(cls, catalog)


@pytest.mark.parametrize(
    "class_code", ["legal_arrears", "natural_arrears", "legal_utility_payment"]
)
def test_cached_plan_judges_as_a_fresh_one(catalog: Catalog, class_code: str) -> None:
    """The same records through the cached plan and through a freshly compiled one."""
    cls = catalog.get(class_code)
    good = {
        "legal_arrears": legal_arrears,
        "natural_arrears": natural_arrears,
        "legal_utility_payment": legal_utility_payment,
    }[class_code]()
    bad = {**good, "arrears_amount": -1.234, "amount": 1.005, "provide_date": date(2030, 1, 1)}
    records: list[dict[str, object]] = [good, bad, {}]
    cached = [validate(cls, r, catalog, TODAY) for r in records]
    rules._PLANS.clear()
    assert [validate(cls, r, catalog, TODAY) for r in records] == cached
    assert cached[0] == [] and cached[1] and cached[2]


def test_id_type_verdict_is_kept_per_spelling(catalog: Catalog) -> None:
    """The 证件类型 verdict is memoised per spelling; each spelling keeps its own meaning."""
    for _ in range(2):
        assert reasons(catalog, "natural_arrears", id_type="居民身份证", id_no="123") == [
            ("field.enum", "id_type"),
            ("id.length", "id_no"),
        ]
        assert reasons(catalog, "natural_arrears", id_type="护照", id_no="123") == []


@pytest.mark.parametrize(
    ("value", "places"),
    [(12.5, 1), (12.0, 1), (0.1 + 0.2, 17), (1e-7, 7), (1e22, 0), (3, 0), (Decimal("1.230"), 3)],
)
def test_decimal_places_as_written(value: float | int | Decimal, places: int) -> None:
    assert _decimals(value) == places
