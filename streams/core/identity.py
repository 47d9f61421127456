"""Subject identity: which enterprise or person a record is about, resolved against the registry.

The registry is two mappings the stream keeps (Faust tables in the worker, dicts in tests):
`subjects` (subject id → profile) and `aliases` (organization code / registration number →
USCC). Records that carry only an old code are resolved through `aliases`.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from schemas.catalog import InfoClass, default_catalog, normalize_label
from schemas.codes import (
    check_citizen_id,
    check_uscc,
    district_of_id,
    district_of_uscc,
    normalize_code,
)
from schemas.violations import Violation

# the id_type whose numbers follow GB 11643 (catalog/checks.yaml); rules and enrichment use it
CITIZEN_ID_TYPE = default_catalog().checks.citizen_id_type
# Set on an accepted record whose USCC fails the check but is known from registration records
# (codes issued in early pilot regions, e.g. 91350100M0001TGQXM).
PILOT_CODE_FLAG = "uscc.pilot_registered"


@dataclass
class Resolution:
    """Who a record is about, or why that cannot be said."""

    subject_id: str = ""
    subject_name: str = ""
    district: str = ""
    name_mismatch: bool = False
    code_flag: str = ""
    violations: list[Violation] = field(default_factory=list)


def alias_key(code: str) -> str:
    """An organization code or registration number as the registry keys it: normalized, and
    without the hyphen of the printed form `XXXXXXXX-X`."""
    return normalize_code(code).replace("-", "")


def _text(record: Mapping[str, Any], name: str | None) -> str:
    value = record.get(name) if name else None
    return str(value).strip() if value is not None else ""


def _folded_differ(known: str, given: str) -> bool:
    return normalize_label(known) != normalize_label(given)


def _unresolved(code_field: str) -> Violation:
    return Violation(
        "subject.unresolved",
        code_field,
        "无统一社会信用代码，且组织机构代码/注册号在主体库中未找到",
        "no USCC, and the organization code / registration number is not in the subject registry",
    )


def resolve_legal(
    cls: InfoClass,
    record: Mapping[str, Any],
    subjects: Mapping[str, Any],
    aliases: Mapping[str, Any],
) -> Resolution:
    spec = cls.subject
    name = _text(record, spec.name)
    uscc = normalize_code(_text(record, spec.code))
    res = Resolution(subject_name=name)
    if uscc:
        problems = check_uscc(uscc)
        known = subjects.get(uscc)
        only_check_digit = [v.code for v in problems] == ["uscc.check_digit"]
        if problems and not (only_check_digit and known and known.get("registered")):
            res.violations = problems
            return res
        if problems:
            res.code_flag = PILOT_CODE_FLAG
        res.subject_id = uscc
    else:
        for alt in spec.alt_codes:
            code = alias_key(_text(record, alt))
            if code and code in aliases:
                res.subject_id = str(aliases[code])
                break
        if not res.subject_id:
            res.violations = [_unresolved(spec.alt_codes[0] if spec.alt_codes else spec.code)]
            return res
    res.district = district_of_uscc(res.subject_id)
    profile = subjects.get(res.subject_id)
    # equal text needs no folding: the usual case, and NFKC over both names is not free
    if profile and name and profile["name"] != name and _folded_differ(profile["name"], name):
        res.name_mismatch = True
    if profile:
        res.subject_name = profile["name"]
    return res


def resolve_natural(
    cls: InfoClass, record: Mapping[str, Any], today: date | None = None
) -> Resolution:
    """`today` bounds the birth date (default: the clock's day)."""
    spec = cls.subject
    id_type = _text(record, spec.id_type) or CITIZEN_ID_TYPE
    id_no = normalize_code(_text(record, spec.code))
    res = Resolution(subject_name=_text(record, spec.name))
    if id_type == CITIZEN_ID_TYPE:
        res.violations = check_citizen_id(id_no, today)
        res.subject_id = id_no
        res.district = district_of_id(id_no) if not res.violations else ""
    else:
        res.subject_id = f"{id_type}:{id_no}"
    return res


def resolve(
    cls: InfoClass,
    record: Mapping[str, Any],
    subjects: Mapping[str, Any],
    aliases: Mapping[str, Any],
    today: date | None = None,
) -> Resolution:
    """Who `record` is about. The stream passes the day its rules judged by (`today`), so a
    birth date is held to the same day in both places and the clock is not read per record."""
    if cls.subject_kind == "legal":
        return resolve_legal(cls, record, subjects, aliases)
    return resolve_natural(cls, record, today)


def learn(
    cls: InfoClass,
    record: Mapping[str, Any],
    res: Resolution,
    subjects: MutableMapping[str, Any],
    aliases: MutableMapping[str, Any],
) -> bool:
    """Feed the registry from a valid legal-person record; returns True if anything changed.

    Registration records (`cls.registry_source`) set the canonical name and mark the subject
    as known to market regulation; other classes only add subjects not seen before.
    """
    if cls.subject_kind != "legal" or not res.subject_id:
        return False
    changed = False
    current = subjects.get(res.subject_id)
    name = _text(record, cls.subject.name)
    if current is None or (cls.registry_source and current.get("name") != name):
        subjects[res.subject_id] = {
            "name": name or (current or {}).get("name", ""),
            "district": res.district,
            "registered": bool(cls.registry_source or (current or {}).get("registered")),
        }
        changed = True
        # GB 32100: characters 9-17 of a USCC are the subject's organization code, so a
        # later record that carries only that code resolves without an earlier pairing
        embedded = res.subject_id[8:17] if len(res.subject_id) == 18 else ""
        if embedded and embedded not in aliases:
            aliases[embedded] = res.subject_id
    for alt in cls.subject.alt_codes:
        code = alias_key(_text(record, alt))
        if code and aliases.get(code) != res.subject_id:
            aliases[code] = res.subject_id
            changed = True
    return changed
