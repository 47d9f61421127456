"""Personal data the platform must never collect, recognised by column header or JSON key.

Which data is banned is configuration (`schemas/catalog/banned.yaml`, `schemas.banned_rules`):
by default seed 003's list (辽宁省公共信用信息管理条例 第十一条, quoted in the Chaoyang
notice as "第十五条"): no marriage status, religion, genes, fingerprints, blood type, disease
or medical history of a person; no income, deposits, securities, commercial insurance,
real-estate holdings or tax amounts. A platform elsewhere picks its jurisdiction's list with
`CREDIT_BANNED_JURISDICTION`; each process applies it once at its start (`configure`).
Matching is by name, before validation, so a banned value is dropped before it can reach a
topic, the store or the dead-letter queue.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from schemas.banned_rules import DEFAULT_JURISDICTION, BannedConfig, default_banned
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


def rules_for(jurisdiction: str, config: BannedConfig | None = None) -> tuple[_Rule, ...]:
    """The rules a jurisdiction applies (BannedConfigError for an unknown one)."""
    config = config or default_banned()
    cats = config.categories
    return tuple(_Rule(code, cats[code].label, cats[code].personal, re.compile(cats[code].zh),
                       _en(*cats[code].en)) for code in config.banned_in(jurisdiction))  # fmt: skip


RULES: tuple[_Rule, ...] = rules_for(DEFAULT_JURISDICTION)
_jurisdiction = DEFAULT_JURISDICTION


def configure(jurisdiction: str) -> None:
    """Apply a jurisdiction's list in this process from now on (the CLI's entry point calls
    it with `Settings.banned_jurisdiction`); the cached verdicts are dropped."""
    global RULES, _jurisdiction
    if jurisdiction == _jurisdiction:
        return
    RULES = rules_for(jurisdiction)
    _jurisdiction = jurisdiction
    banned_attribute.cache_clear()
    _names_banned.cache_clear()


def active_jurisdiction() -> str:
    return _jurisdiction


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
