"""The catalog data: seed tables as the seeds print them, seed-004 resources, generic classes,
departments, and look-up by code or Chinese name."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from schemas.catalog import (
    CATALOG_DIR,
    CHECKS_FILE,
    CLASS_FILES,
    PROVENANCE_FIELDS,
    Catalog,
    EnumSpec,
    attribute_class,
    default_catalog,
    load_catalog,
    normalize_label,
)
from schemas.exceptions import CatalogError, UnknownClassError
from streams.core.banned import banned_attribute

# Seed 002 annex: the nine header rows exactly as the PDF prints them (stray spaces included).
SEED002_HEADERS: dict[str, tuple[str, ...]] = {
    "legal_housing_fund": (
        "机构全称", "统一社会信用代码", "组织机构代码", "所属单位工商注册号", "单位账号",
        "单位性质", "初次登记日期", "缴存 年 月 起", "缴存 年 月 止", "缴存 比例", "缴存 人数",
        "公积金 月 缴 存 额", "住房补贴 月 缴 存 额", "征缴单 位 全 称", "缴费对 应 日 期",
        "信息源头 部 门 全 称", "提供单 位 全 称", "信息使 用 范 围", "提供 日 期",
    ),
    "natural_housing_fund": (
        "姓名", "证件类型", "证件号码", "公积金 账 号", "公积金 开 户 日 期", "缴至 年 月",
        "当前 余 额", "缴存 基 数", "缴存 比 例", "个人 公 积 金 缴 存 金 额",
        "单位 公 积 金 缴 存 金 额", "单位住 房 补 贴 缴 存 金 额", "缴存单 位 名 称",
        "缴存单 位 代 码", "征缴单 位 全 称", "缴费对 应 日 期", "信息源头 部 门 全 称",
        "提供单 位 全 称", "信息使 用 范 围", "提供 日 期",
    ),
    "legal_utility_payment": (
        "机构全称", "所属单位统一社会信用代码", "所属单位组织机构代码", "所属单位工商注册号",
        "缴费类型名称", "是否预缴费", "计量开始月或日", "计量截止月或日", "使用量", "使用单位",
        "缴费金额", "经办机构全称", "经办机构统一社会信用代码", "缴纳日期", "信息源头部门全称",
        "提供单位全称", "提供日期", "信息使用范围",
    ),
    "natural_utility_payment": (
        "姓名", "证件类型", "证件号码", "缴费类型名称", "计量开始月或日", "计量截止月或日",
        "是否预缴费", "使用量", "使用单位", "缴费金额", "经办机构全称",
        "经办机构统一社会信用代码", "缴纳日期", "信息源头部门全称", "提供单位全称", "提供日期",
        "信息使用范围",
    ),
    "legal_arrears": (
        "机构全称", "统一社会信用代码", "组织机构代码", "所属单位工商注册号", "账号",
        "欠缴类型名称", "欠缴统计开始日期", "欠缴统计截止日期", "欠缴账期", "拖欠天数", "欠费量",
        "欠费金额", "失信严重程度", "失信行为有效期", "信息来源部门全称", "提供单位全称",
        "信息使用范围", "提供日期", "账户名称",
    ),
    "natural_arrears": (
        "姓名", "证件类型", "证件号码", "账号", "欠缴类型名称", "欠缴开始日期", "欠缴截止日期",
        "欠缴账期", "拖欠天数", "欠费量", "欠费金额(元)", "失信严重程度", "失信行为有效期",
        "信息来源部门全称", "提供单位全称", "信息使用范围", "提供日期",
    ),
    "legal_social_insurance": (
        "机构全称", "统一社会信用代码", "组织机构代码", "所属单位工商注册号", "缴费年月", "类别",
        "单位缴费基数", "参保人数", "本月应缴金额合计(元)", "本月实缴金额合计(元)",
        "经办机构全称", "缴纳日期", "信息源部门全称", "提供单位全称", "信息使用范围", "提供日期",
    ),
    "natural_social_insurance": (
        "姓名", "证件类型", "证件号码", "缴费年月", "类别", "缴费基数",
        "本月个人缴费金额合计(元)", "本月单位缴费金额合计(元)", "缴纳单位名称",
        "缴纳单位统一社会信用代码", "缴纳单位统一社会信用代码", "注册号", "统一社会信用代码",
        "统一社会信用代码", "缴纳日期", "经办机构全称", "信息源部门全称", "提供单位全称",
        "信息使用范围", "提供日期",
    ),
    "logistics_freight": (
        "资质证书名称", "资质证书编号", "资质等级", "有效期限", "许可内容", "法人名称",
        "行政相对人代码 (统一社会信用代码)", "审批统一社会信用代码", "扩展字段", "审批日期",
        "有效期至", "审批机关全称", "信息来源 部门全称", "提供单位 全称", "提供日期",
        "统一社会信用代码",
    ),
}  # fmt: skip

# Seed 004 annex: every resource with a field list, by number (34 is two tables). Not entered:
# 56, 57 (no field list: generic.yaml) and 39, 40 (natural persons' real estate, seed 003).
SEED004_CLASSES: dict[str, str] = {
    "1": "ent_business_licence", "2": "ent_registration_change", "3": "ent_industry",
    "4": "ent_shareholder", "5": "ent_branch", "6": "ent_equity_pledge",
    "7": "ent_annual_report", "8": "ent_abnormal_operation", "9": "ent_serious_violation_list",
    "10": "ent_spot_check", "11": "ent_simple_deregistration", "12": "ent_suspension",
    "13": "ent_court_judgment", "14": "ent_terminated_enforcement",
    "15": "ent_dishonest_debtor", "16": "ent_bankruptcy", "17": "ent_court_hearing",
    "18": "person_consumption_restriction", "19": "ent_ip_litigation",
    "20": "ent_court_enforcement", "21": "ent_case_filing", "22": "ent_case_closing",
    "23": "ent_tax_credit_rating", "24": "ent_abnormal_taxpayer", "25": "ent_tax_arrears",
    "26": "ent_tax_payment", "27": "ent_housing_fund", "28": "ent_social_insurance",
    "29": "ent_social_insurance_arrears", "30": "ent_labour_inspection", "31": "ent_env_credit",
    "32": "ent_customs_registration", "33": "ent_customs_credit", "34a": "ent_trademark",
    "34b": "ent_patent", "35": "ent_software_copyright", "36": "ent_ip_pledge",
    "37": "ent_real_estate", "38": "ent_property_mortgage", "41": "ent_property_seizure",
    "42": "ent_admin_licence", "43": "ent_admin_penalty", "44": "ent_admin_enforcement",
    "45": "ent_bid_filing", "46": "ent_water_payment", "47": "ent_water_arrears",
    "48": "ent_power_payment", "49": "ent_power_arrears", "50": "ent_gas_payment",
    "51": "ent_gas_arrears", "52": "ent_rnd", "53": "ent_high_tech",
    "54": "ent_new_agri_entity", "55": "ent_specialized_sme", "58": "ent_demonstration",
    "59": "ent_credit_commitment", "60": "ent_commitment_fulfilment",
    "61": "ent_punishment_list", "62": "person_punishment_list", "63": "ent_other_bad_conduct",
    "64": "ent_commendation", "65": "ent_incentive_list", "66": "ent_contract",
    "67": "ent_contract_performance", "68": "ent_construction_qualification",
    "69": "ent_construction_contract", "70": "ent_credit_grade", "71": "ent_tax_credit_grade",
}  # fmt: skip

N_SEED004 = 68
N_GENERIC = 40
N_DEPARTMENTS = {"000": 51, "001": 69, "002": 8, "004": 1}  # 004: 接入金融机构 (措施 9)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return default_catalog()


def _raw_classes(name: str) -> list[dict[str, object]]:
    data = yaml.safe_load(Path(CATALOG_DIR, name).read_text(encoding="utf-8"))
    return list(data["classes"])


# --- seed 002: the tables as printed --------------------------------------------------------


@pytest.mark.parametrize("code", sorted(SEED002_HEADERS))
def test_seed002_class_has_exactly_the_seeds_columns_in_order(catalog: Catalog, code: str) -> None:
    seed_columns = list(dict.fromkeys(normalize_label(h) for h in SEED002_HEADERS[code]))
    cls = catalog.get(code)
    assert cls.seed == "002"
    assert [normalize_label(f.label) for f in cls.fields if not f.added] == seed_columns


def test_seed002_has_exactly_nine_classes(catalog: Catalog) -> None:
    assert sorted(c.code for c in catalog if c.seed == "002") == sorted(SEED002_HEADERS)


# --- every class --------------------------------------------------------------------------


def test_every_class_carries_the_four_provenance_fields(catalog: Catalog) -> None:
    for cls in catalog:
        for name, _label, ftype in PROVENANCE_FIELDS:
            assert name in cls.by_name, f"{cls.code} lacks {name}"
            assert cls.by_name[name].type == ftype, f"{cls.code}.{name}"


def test_codes_are_unique_across_the_class_files() -> None:
    codes = [raw["code"] for name in CLASS_FILES for raw in _raw_classes(name)]
    assert [c for c, n in Counter(codes).items() if n > 1] == []


def test_chinese_names_are_unique(catalog: Catalog) -> None:
    names = Counter(c.name for c in catalog)
    assert [n for n, k in names.items() if k > 1] == []


def test_labels_and_field_names_are_unique_within_each_class(catalog: Catalog) -> None:
    for cls in catalog:
        labels = [normalize_label(f.label) for f in cls.fields]
        names = [f.name for f in cls.fields]
        assert len(set(labels)) == len(labels), cls.code
        assert len(set(names)) == len(names), cls.code


def test_uscc_labelled_fields_are_checked(catalog: Catalog) -> None:
    # "身份证号码/统一社会信用代码" columns hold either code and cannot carry one check.
    for cls in catalog:
        for f in cls.fields:
            label = normalize_label(f.label)
            if label.endswith("统一社会信用代码") and "/" not in label:
                assert f.check == "uscc", f"{cls.code}.{f.name}"


def test_subject_fields_are_required(catalog: Catalog) -> None:
    # With alternative codes (组织机构代码, 工商注册号) any one of them identifies the subject.
    for cls in catalog:
        assert cls.by_name[cls.subject.name].required, cls.code
        if not cls.subject.alt_codes:
            assert cls.by_name[cls.subject.code].required, cls.code


def test_no_class_collects_banned_personal_data(catalog: Catalog) -> None:
    for cls in catalog:
        for f in cls.fields:
            for key in (f.name, f.label):
                assert banned_attribute(key, cls.subject_kind) is None, f"{cls.code}: {key}"


def test_negative_classes_about_persons_are_kept_five_years(catalog: Catalog) -> None:
    for cls in catalog:
        if cls.negative and cls.subject_kind == "natural":
            assert cls.retention_years == 5, cls.code


def test_every_negative_class_carries_its_publication_periods_by_severity(
    catalog: Catalog,
) -> None:
    """NDRC rules: 一般 3 months to 1 year, 严重 1 to 3 years; serious-dishonesty lists are
    严重 whatever the row says; the courts' lists run 2 years and are not repaired here."""
    for cls in catalog:
        rule = cls.publication
        assert (rule is not None) == cls.negative, cls.code
        if rule is None or rule.repair == "court":
            continue
        general, serious = rule.period("一般"), rule.period("严重")
        assert (general.min_months, general.max_months) == (3, 12), cls.code
        assert (serious.min_months, serious.max_months) == (12, 36), cls.code
    assert catalog.get("ent_admin_penalty").publication.severity_field == "severity"  # type: ignore[union-attr]
    assert catalog.get("ent_punishment_list").publication.default_severity == "严重"  # type: ignore[union-attr]
    court = catalog.get("person_dishonest_debtor").publication
    assert court is not None and court.repair == "court" and court.period(None).max_months == 24


def test_enum_fields_name_a_known_enum(catalog: Catalog) -> None:
    for cls in catalog:
        for f in cls.fields:
            if f.type == "enum":
                assert f.enum in catalog.enums, f"{cls.code}.{f.name}"


# --- seed 004 -----------------------------------------------------------------------------


def test_every_seed004_resource_entered_is_present(catalog: Catalog) -> None:
    for resource, code in SEED004_CLASSES.items():
        cls = catalog.get(code)
        assert cls.seed == "004", resource
        assert cls.note and f"resource {resource.rstrip('ab')}" in cls.note, code


def test_seed004_class_count(catalog: Catalog) -> None:
    assert len(SEED004_CLASSES) == N_SEED004
    assert sum(1 for c in catalog if c.seed == "004") >= N_SEED004


def test_seed004_keeps_the_providers_derived_utility_fields(catalog: Catalog) -> None:
    water = catalog.get("法人用水缴费信息").by_label
    for label in ("近3个月月均用水量", "近6个月月均用水量", "当前是否欠费"):
        assert label in water
    fund = catalog.get("ent_housing_fund").by_label
    for label in ("近一年连续正常缴纳周期（月）", "最近一次正常缴费日期"):
        assert normalize_label(label) in fund


# --- generic classes ----------------------------------------------------------------------


def test_generic_class_count(catalog: Catalog) -> None:
    assert sum(1 for c in catalog if c.seed == "generic") >= N_GENERIC


def test_generic_classes_share_one_field_set(catalog: Catalog) -> None:
    def labels(cls_code: str) -> list[str]:
        return [f.label for f in catalog.get(cls_code).fields if f.name != "severity"]

    generic = [c for c in catalog if c.seed == "generic"]
    by_kind = {kind: {tuple(labels(c.code)) for c in generic if c.subject_kind == kind}
               for kind in ("legal", "natural")}  # fmt: skip
    assert all(len(sets) == 1 for sets in by_kind.values()), by_kind
    for cls in generic:
        assert ("severity" in cls.by_name) == cls.negative, cls.code


def test_generic_classes_do_not_duplicate_seed004_ones(catalog: Catalog) -> None:
    generic_names = {c.name for c in catalog if c.seed == "generic"}
    assert not generic_names & {"行政许可信息", "行政处罚信息", "社会法人表彰信息", "示范信息"}


# --- departments --------------------------------------------------------------------------


def test_every_department_class_code_resolves(catalog: Catalog) -> None:
    for dept in catalog.departments:
        for code in dept.classes:
            assert code in catalog.classes, f"{dept.name} ({dept.seed}): {code}"


def test_departments_per_seed(catalog: Catalog) -> None:
    assert Counter(d.seed for d in catalog.departments) == N_DEPARTMENTS


def test_seed001_departments_are_realtime_with_connection_status(catalog: Catalog) -> None:
    seed001 = [d for d in catalog.departments if d.seed == "001"]
    assert all(d.cycle is not None and d.cycle.kind == "realtime" for d in seed001)
    assert all(d.connected is not None for d in seed001)
    connected = {d.name for d in seed001 if d.connected}
    assert {"市民政局", "市安监局", "市科学技术局", "市政法委", "市政务服务中心"} <= connected


def test_a_department_named_by_two_seeds_has_one_entry_per_seed(catalog: Catalog) -> None:
    seeds = {d.seed for d in catalog.departments if d.name == "市人社局"}
    assert seeds == {"000", "001"}
    pairs = Counter((d.name, d.seed) for d in catalog.departments)
    assert [p for p, n in pairs.items() if n > 1] == []


def test_seed002_utility_providers_map_to_the_seed002_classes(catalog: Catalog) -> None:
    water = next(d for d in catalog.departments if d.seed == "002" and d.name == "供水公司")
    assert set(water.classes) == {
        "legal_utility_payment", "natural_utility_payment", "legal_arrears", "natural_arrears"
    }  # fmt: skip


def test_every_class_but_seed004_only_ones_has_a_department(catalog: Catalog) -> None:
    provided = {code for d in catalog.departments for code in d.classes}
    missing = [c.code for c in catalog if c.seed != "004" and c.code not in provided]
    assert missing == []


# --- look-up ------------------------------------------------------------------------------


def test_get_by_code_and_by_chinese_name(catalog: Catalog) -> None:
    assert catalog.get("ent_admin_penalty").name == "行政处罚信息"
    assert catalog.get("行政处罚信息").code == "ent_admin_penalty"
    assert catalog.get(" 自然人欠缴费用信息 ").code == "natural_arrears"


def test_a_misspelt_name_gets_a_suggestion(catalog: Catalog) -> None:
    with pytest.raises(UnknownClassError, match="did you mean '自然人欠缴费用信息'"):
        catalog.get("自然人欠费信息")
    with pytest.raises(UnknownClassError, match="did you mean 'ent_water_arrears'"):
        catalog.get("ent_water_arrear")


# --- facts by field name (checks.yaml) and enum codes ------------------------------------


def test_every_utility_has_one_figures_kind(catalog: Catalog) -> None:
    utility = catalog.enums["utility_type"]
    assert set(utility.codes) == set(utility.values)
    assert len(set(utility.codes.values())) == len(utility.codes)


def test_codes_for_values_an_enum_lacks_are_refused() -> None:
    with pytest.raises(ValidationError, match="codes for values the enum lacks"):
        EnumSpec.model_validate({"values": ["水费"], "codes": {"物业费": "property"}})


def test_the_checks_name_fields_and_types_the_classes_have(catalog: Catalog) -> None:
    names = {f.name for c in catalog for f in c.fields}
    types = {f.type for c in catalog for f in c.fields}
    checks = catalog.checks
    assert set(checks.past_date_fields) <= names
    assert {n for pair in checks.date_pairs for n in pair} <= names
    assert set(checks.max_decimals) <= types
    assert checks.citizen_id_type in catalog.enums["id_type"].values


def test_a_catalog_without_its_checks_names_the_file(tmp_path: Path) -> None:
    shutil.copytree(CATALOG_DIR, tmp_path / "catalog")
    (tmp_path / "catalog" / CHECKS_FILE).unlink()
    with pytest.raises(CatalogError, match=CHECKS_FILE):
        load_catalog(tmp_path / "catalog")


def test_lists_and_attributes_are_marked_in_the_catalog(catalog: Catalog) -> None:
    black = {c.code for c in catalog if c.list_kind == "black"}
    red = {c.code for c in catalog if c.list_kind == "red"}
    assert {"ent_dishonest_debtor", "person_punishment_list"} <= black
    assert red == {"ent_incentive_list", "person_red_list"}
    assert all(c.negative for c in catalog if c.code in black)
    assert attribute_class(catalog, "industry") == "ent_industry"


def test_an_attribute_no_class_gives_is_a_catalog_error(catalog: Catalog) -> None:
    with pytest.raises(CatalogError, match="one class must give the subjects' wealth"):
        attribute_class(catalog, "wealth")
