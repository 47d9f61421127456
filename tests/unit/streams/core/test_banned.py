"""Seed 003 banned personal data: recognised by header or key, dropped without a trace."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from schemas.banned_rules import BANNED_FILE, BannedConfigError, default_banned, load_banned
from schemas.catalog import default_catalog
from streams.core import banned
from streams.core.banned import banned_attribute, strip_banned

BANNED = {
    "marriage": ["婚姻状况", "婚姻", "婚否", "marital_status", "maritalStatus", "marriage"],
    "religion": ["宗教信仰", "信仰", "religion", "Religious Belief"],
    "genetic": ["基因检测结果", "gene", "genetic_data", "DNA"],
    "fingerprint": ["指纹", "指纹特征", "fingerprint", "finger_print"],
    "blood_type": ["血型", "blood_type", "bloodType", "BLOOD-GROUP"],
    "medical": ["疾病", "病史", "疾病和病史", "医疗记录", "disease", "medical_history", "illness"],
    "income": ["收入", "工资收入", "月收入（元）", "income", "salary", "annual_income", "wages"],
    "deposit": ["存款", "银行存款余额", "deposit", "deposits", "bank_deposits", "savings"],
    "securities": ["有价证券", "股票", "证券账户", "securities", "stocks", "stock_holdings"],
    "commercial_insurance": [
        "商业保险",
        "商业保险保单号",
        "commercial_insurance",
        "life_insurance",
    ],
    "real_estate": ["不动产", "房产", "房产证号", "real_estate", "property_holdings", "realEstate"],
    "tax_amount": ["纳税数额", "纳税额", "应纳税额", "纳税总额", "tax_amount", "taxes_paid"],
}
PERSONAL = {"marriage", "religion", "genetic", "fingerprint", "blood_type", "medical"}
ALLOWED = [
    "缴存基数",
    "缴费基数",
    "欠费金额",
    "当前余额",
    "税务登记号",
    "纳税人识别号",
    "纳税信用等级",
    "tax_credit_rating",
    "taxpayer_id",
    "医疗保险",
    "medical_insurance_base",
    "缴存单位名称",
    "pay_base",
    "deposit_base",
    "housing_fund_deposit",
    "ingest_received_at",
    "gender",
]
CASES = [(cat, name) for cat, names in BANNED.items() for name in names]


@pytest.mark.parametrize(("category", "name"), CASES)
def test_banned_attribute_is_recognised_for_a_person(category: str, name: str) -> None:
    assert banned_attribute(name) == category


@pytest.mark.parametrize(("category", "name"), CASES)
def test_legal_records_ban_only_the_personal_categories(category: str, name: str) -> None:
    expected = category if category in PERSONAL else None
    assert banned_attribute(name, "legal") == expected


@pytest.mark.parametrize("name", ALLOWED)
def test_look_alikes_are_allowed(name: str) -> None:
    assert banned_attribute(name) is None


def test_enterprise_real_estate_certificate_is_allowed() -> None:
    assert banned_attribute("不动产登记证明号", "legal") is None
    assert banned_attribute("不动产登记证明号", "natural") == "real_estate"


def test_no_catalog_field_is_banned() -> None:
    for cls in default_catalog():
        for spec in cls.fields:
            for name in (spec.name, spec.label):
                assert banned_attribute(name, cls.subject_kind) is None, (cls.code, name)


SECRETS = {
    "婚姻状况": "已婚-SECRET1",
    "blood_type": "AB-SECRET2",
    "月收入": "98765.43",
    "bank_deposits": "5550001",
    "纳税数额": "31415.92",
}


def person_record() -> dict[str, object]:
    return {
        "person_name": "张三",
        "id_no": "11010519491231002X",
        "arrears_amount": 88.0,
        **SECRETS,
        "extra": {"religion": "SECRET3", "pay_base": 5000.0},
        "history": [{"病史": "SECRET4"}, {"note": "ok"}],
    }


def test_strip_banned_drops_every_banned_key_and_reports_each() -> None:
    kept, found = strip_banned(person_record())
    assert kept == {
        "person_name": "张三",
        "id_no": "11010519491231002X",
        "arrears_amount": 88.0,
        "extra": {"pay_base": 5000.0},
        "history": [{}, {"note": "ok"}],
    }
    assert {v.code for v in found} == {"banned.personal_data"}
    assert sorted(v.field or "" for v in found) == sorted(
        [*SECRETS, "extra.religion", "history[0].病史"]
    )


def test_strip_banned_never_carries_a_banned_value() -> None:
    result = repr(strip_banned(person_record()))
    for secret in [*SECRETS.values(), "SECRET3", "SECRET4"]:
        assert secret not in result


def test_violation_names_the_category() -> None:
    _, [v] = strip_banned({"血型": "O"})
    assert "血型" in v.message_zh and "blood_type" in v.message_en


def test_strip_banned_for_a_legal_record_keeps_assets() -> None:
    record = {"org_name": "某公司", "纳税总额": 1000.0, "法定代表人血型": "A"}
    kept, found = strip_banned(record, subject_kind="legal")
    assert kept == {"org_name": "某公司", "纳税总额": 1000.0}
    assert [v.field for v in found] == ["法定代表人血型"]


def test_clean_record_is_unchanged() -> None:
    record = {"person_name": "李四", "pay_base": 5000.0, "当前余额": 12.5}
    assert strip_banned(record) == (record, [])


def test_repeated_key_sets_are_judged_the_same_each_time() -> None:
    """The verdict per key set is cached: a clean record, then the same keys with a banned
    one, then the clean keys again, each as if seen for the first time."""
    clean = {"person_name": "李四", "pay_base": 5000.0}
    for _ in range(2):
        assert strip_banned(clean) == (clean, [])
        kept, found = strip_banned({**clean, "marital_status": "已婚"})
        assert kept == clean and [v.field for v in found] == ["marital_status"]


def test_a_clean_record_is_returned_as_a_copy() -> None:
    record = {"person_name": "李四"}
    kept, _ = strip_banned(record)
    kept["x"] = 1
    assert record == {"person_name": "李四"}


def test_a_nested_value_is_searched_even_under_clean_keys() -> None:
    record = {"person_name": "李四", "extra": {"blood_type": "O"}}
    for _ in range(2):
        kept, found = strip_banned(record)
        assert kept == {"person_name": "李四", "extra": {}}
        assert [v.field for v in found] == ["extra.blood_type"]


# -- the list is configuration, per jurisdiction (schemas/catalog/banned.yaml) -----------------
SEED_003 = ("marriage", "religion", "genetic", "fingerprint", "blood_type", "medical", "income",
            "deposit", "securities", "commercial_insurance", "real_estate", "tax_amount")  # fmt: skip


@pytest.fixture()
def jurisdiction() -> Iterator[Callable[[str], None]]:
    yield banned.configure
    banned.configure("default")


def test_the_default_list_is_seed_003s() -> None:
    assert default_banned().banned_in("default") == SEED_003
    assert set(BANNED) == set(SEED_003)  # every entry has its cases above


JURISDICTION_CASES = [(j, cat, name) for j in sorted(default_banned().jurisdictions)
                      for cat, names in BANNED.items() for name in names]  # fmt: skip


@pytest.mark.parametrize(("where", "category", "name"), JURISDICTION_CASES)
def test_each_entry_is_banned_exactly_where_its_jurisdiction_lists_it(
    jurisdiction: Callable[[str], None], where: str, category: str, name: str
) -> None:
    jurisdiction(where)
    listed = category in default_banned().banned_in(where)
    assert banned_attribute(name) == (category if listed else None)


def test_hubei_jiangsu_collects_a_persons_real_estate_and_nothing_else_more(
    jurisdiction: Callable[[str], None],
) -> None:
    record = {"姓名": "张三", "不动产权证号": "苏(2026)江阴市不动产权第001号", "婚姻状况": "已婚"}
    jurisdiction("hubei-jiangsu")
    kept, found = strip_banned(record)
    assert "不动产权证号" in kept and [v.field for v in found] == ["婚姻状况"]
    jurisdiction("default")
    kept, found = strip_banned(record)
    assert {v.field for v in found} == {"婚姻状况", "不动产权证号"}


def test_an_unknown_jurisdiction_is_refused_with_the_known_ones() -> None:
    with pytest.raises(BannedConfigError, match=r"no banned-data jurisdiction 'mars'.*default"):
        banned.configure("mars")
    assert banned.active_jurisdiction() == "default"


def test_a_broken_configuration_names_what_is_wrong(tmp_path: Path) -> None:
    text = BANNED_FILE.read_text(encoding="utf-8").replace("zh: '血型'", "zh: '血型('")
    (tmp_path / "banned.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(BannedConfigError, match="blood_type: bad regex"):
        load_banned(tmp_path / "banned.yaml")
