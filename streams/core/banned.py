"""Personal data the platform must never collect, recognised by column header or JSON key.

Seed 003 (辽宁省公共信用信息管理条例 第十一条, quoted in the Chaoyang notice as "第十五条"):
no marriage status, religion, genes, fingerprints, blood type, disease or medical history of
a person; no income, deposits, securities, commercial insurance, real-estate holdings or
tax amounts. Matching is by name, before validation, so a banned value is dropped before
it can reach a topic, the store or the dead-letter queue.

The rules are deliberately narrow where the seeds collect look-alikes: 缴存基数/缴费基数
(contribution bases), 欠费金额, 当前余额 (provident-fund balance), 医疗保险 (a social
insurance category), 纳税人识别号/税务登记号 (identifiers) and tax_credit_rating are allowed.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from schemas.catalog import SubjectKind
from schemas.violations import Violation


@dataclass(frozen=True, slots=True)
class _Rule:
    category: str
    label_zh: str
    # True: about the person's body or private life, banned even inside a legal-person record
    # (e.g. a legal representative's blood type). False: assets and income, banned for
    # natural persons only; an enterprise's real estate or tax paid is ordinary credit data.
    personal: bool
    zh: re.Pattern[str]
    en: re.Pattern[str]


def _en(*alternatives: str) -> re.Pattern[str]:
    """Whole-token match on the `_`-joined lower-case form of an English key."""
    return re.compile(r"(?:^|_)(?:" + "|".join(alternatives) + r")(?:_|$)")


RULES: tuple[_Rule, ...] = (
    _Rule(
        "marriage", "婚姻状况", True, re.compile(r"婚姻|婚否|婚况"), _en(r"marri\w*?", "marital")
    ),
    _Rule("religion", "宗教信仰", True, re.compile(r"宗教|信仰"), _en(r"religio\w*?", "faith")),
    _Rule("genetic", "基因", True, re.compile(r"基因"), _en("genes?", r"genetic\w*?", "dna")),
    _Rule("fingerprint", "指纹", True, re.compile(r"指纹"), _en(r"fingerprints?", "finger_?print")),
    _Rule("blood_type", "血型", True, re.compile(r"血型"), _en(r"blood_?(?:type|group)")),
    _Rule(
        "medical",
        "疾病和病史",
        True,
        # 医疗保险 is a social-insurance category the seeds collect; 医疗机构/医疗器械 name
        # licences of enterprises: neither is a health record.
        re.compile(r"疾病|病史|病历|病情|诊断|就诊|健康状况|医疗(?!保险|保障|机构|器械|废物)"),
        _en(
            r"diseases?",
            r"illness(?:es)?",
            "diagnosis",
            "health_(?:status|condition|record)s?",
            r"medical(?!_insurance)",
        ),
    ),
    _Rule(
        "income",
        "收入",
        False,
        # 缴费工资 is what some offices call the contribution base (缴费基数): allowed.
        re.compile(r"收入|所得额|(?<!缴费)(?<!缴存)工资|薪金|薪资|薪酬|年薪|月薪"),
        _en(r"incomes?", r"salar(?:y|ies)", r"wages?", r"earnings?"),
    ),
    _Rule(
        "deposit",
        "存款",
        False,
        # 缴存 (housing-fund contribution) is not a bank deposit: 缴存单位 is the employer.
        re.compile(r"(?<!缴)存款|储蓄|(?<!缴)存单"),
        _en(r"savings?", r"(?<!fund_)(?<!provident_)deposits?(?!_base|_ratio)"),
    ),
    _Rule(
        "securities",
        "有价证券",
        False,
        re.compile(r"证券(?!从业|资格|公司|机构)|股票"),
        _en("securities", r"stocks?", r"shareholdings?"),
    ),
    _Rule(
        "commercial_insurance",
        "商业保险",
        False,
        re.compile(r"商业保险|商业险|寿险"),
        _en("commercial_insurance", "life_insurance", "private_insurance"),
    ),
    _Rule(
        "real_estate",
        "不动产",
        False,
        re.compile(r"不动产|房产|房屋产权"),
        _en("real_?estate", "realty", r"propert(?:y|ies)_(?:holdings?|owned|ownership)"),
    ),
    _Rule(
        "tax_amount",
        "纳税数额",
        False,
        # An amount of tax paid; 纳税人识别号, 税务登记号 and 纳税信用等级 carry no amount.
        re.compile(r"(?:纳税|缴税|完税|个税|所得税|税款)(?:金|数|总)?额"),
        _en(r"tax(?:es)?_(?:amount|paid|payment|sum|total)", "income_tax", "tax_payable"),
    ),
)
_PERSONAL = frozenset(r.category for r in RULES if r.personal)


def _english_form(name: str) -> str:
    """`maritalStatus`, `Marital-Status`, `marital status` → `marital_status`."""
    split = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return "_".join(t for t in re.split(r"[^a-z0-9]+", split.lower()) if t)


@functools.lru_cache(maxsize=8192)
def banned_attribute(name: str, subject_kind: SubjectKind = "natural") -> str | None:
    """The banned category a header or key names (`marriage`, `income`, …), else None.

    For a legal-person record only the personal categories count (`subject_kind="legal"`):
    an enterprise's 不动产登记证明号 or tax figures are ordinary credit information.
    Cached: a stream sees the same few hundred schema field names over and over, and the
    dozen regexes per name were the worker's largest per-record cost.
    """
    folded = "".join(unicodedata.normalize("NFKC", name).split())
    english = _english_form(folded)
    for rule in RULES:
        if subject_kind == "legal" and not rule.personal:
            continue
        if rule.zh.search(folded) or rule.en.search(english):
            return rule.category
    return None


def _violation(path: str, category: str) -> Violation:
    rule = next(r for r in RULES if r.category == category)
    return Violation(
        "banned.personal_data",
        path,
        f"「{path}」属于禁止归集的个人信息（{rule.label_zh}），该项已删除、未保存",
        f"{path} is personal data the platform may not collect ({category}); "
        "it was dropped and not stored",
    )


def strip_banned(
    record: Mapping[str, object], subject_kind: SubjectKind = "natural"
) -> tuple[dict[str, object], list[Violation]]:
    """The record without banned keys, and one `banned.personal_data` violation per key.

    Nested JSON objects (and lists of them) are searched too, so a banned value cannot ride
    along inside a sub-document; the violation names the key path and category, never the
    value. The caller decides whether the rest of the record is still accepted.
    """
    if not _names_banned(tuple(record), subject_kind) and _SCALARS.issuperset(
        map(type, record.values())
    ):
        return dict(record), []  # the usual record: flat, and no banned name among its keys
    found: list[Violation] = []
    kept = _strip(record, subject_kind, "", found)
    return kept, found


# Values that cannot hide a sub-document: skipped without the (slow) ABC isinstance checks.
_SCALARS = frozenset({str, int, float, bool, type(None), bytes, Decimal, date, datetime})


@functools.lru_cache(maxsize=1024)
def _names_banned(names: tuple[object, ...], subject_kind: SubjectKind) -> bool:
    """Whether any of a record's keys is banned. Cached per key set: every record of a
    schema has the same keys, so one look-up replaces a `banned_attribute` call per key."""
    return any(banned_attribute(str(name), subject_kind) is not None for name in names)


def _strip(
    record: Mapping[str, object], kind: SubjectKind, prefix: str, found: list[Violation]
) -> dict[str, object]:
    kept: dict[str, object] = {}
    for key, value in record.items():
        category = banned_attribute(str(key), kind)
        if category is not None:
            found.append(_violation(f"{prefix}{key}", category))
        elif type(value) in _SCALARS:
            kept[key] = value
        else:
            kept[key] = _strip_value(value, kind, f"{prefix}{key}", found)
    return kept


def _strip_value(value: object, kind: SubjectKind, path: str, found: list[Violation]) -> object:
    if isinstance(value, Mapping):
        return _strip(value, kind, f"{path}.", found)
    if isinstance(value, list | tuple):
        items = [_strip_value(v, kind, f"{path}[{i}]", found) for i, v in enumerate(value)]
        return tuple(items) if isinstance(value, tuple) else items
    return value
