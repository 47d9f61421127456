"""The catalog of information classes: data in `schemas/catalog/*.yaml`, read into typed models.

Everything downstream (topics, Avro schemas, Excel templates, DDL, validation, disclosure,
retention) is derived from these models, so adding a class is a data change, never code.
"""

from __future__ import annotations

import difflib
import functools
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from schemas.exceptions import CatalogError, UnknownClassError

CATALOG_DIR = Path(__file__).parent / "catalog"
# Explicit list, no globbing: a stray file in the folder must not change the catalog.
CLASS_FILES = ("seed002.yaml", "seed004.yaml", "generic.yaml")
ENUM_FILE = "enums.yaml"
DEPARTMENT_FILE = "departments.yaml"
PUBLICATION_FILE = "publication.yaml"
CHECKS_FILE = "checks.yaml"

FieldType = Literal[
    "string", "int", "amount", "quantity", "ratio", "date", "month",
    "period_start", "period_end", "bool", "enum",
]  # fmt: skip
Check = Literal["uscc", "org_code", "reg_no", "citizen_id", "id_by_type", "phone"]
SubjectKind = Literal["legal", "natural"]
Disclosure = Literal["public", "authorized", "restricted"]
Method = Literal["excel_upload", "db_link", "api_call"]
CycleKind = Literal["realtime", "weekly", "monthly", "quarterly", "yearly"]

# Column names the platform adds to every class table and record; no catalog field may use one.
RESERVED_FIELD_NAMES = frozenset({
    "record_key", "version", "subject_id", "subject_kind", "subject_name", "district",
    "name_mismatch", "code_flag", "event_date", "behaviour_end", "stored_at", "class_code",
})  # fmt: skip

# Every record carries these (DESIGN: provenance fields the seeds require).
PROVENANCE_FIELDS: tuple[tuple[str, str, FieldType], ...] = (
    ("source_dept", "信息来源部门全称", "string"),
    ("provider_org", "提供单位全称", "string"),
    ("provide_date", "提供日期", "date"),
    ("usage_scope", "信息使用范围", "string"),
)


def normalize_label(label: str) -> str:
    """Fold a header the way providers' spreadsheets vary it: width, spaces, full-width brackets."""
    folded = unicodedata.normalize("NFKC", label)
    return "".join(folded.split())


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldSpec(_Model):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    type: FieldType
    required: bool = False
    check: Check | None = None
    enum: str | None = None
    doc: str | None = None
    added: bool = False  # provenance field the platform adds where the seed's table lacks it

    @model_validator(mode="after")
    def _enum_named(self) -> FieldSpec:
        if (self.type == "enum") != (self.enum is not None):
            raise ValueError(f"field {self.name}: type enum and `enum:` go together")
        return self


class Cycle(_Model):
    kind: CycleKind
    due_day: int | None = Field(default=None, ge=1, le=31)


class SubjectSpec(_Model):
    name: str
    code: str
    alt_codes: tuple[str, ...] = ()
    id_type: str | None = None


class PublicationPeriod(_Model):
    min_months: int = Field(ge=0)
    max_months: int = Field(ge=1)


class PublicationRule(_Model):
    """How long a negative class's records stay public, by severity, and who may end that
    early (`publication.yaml`): the credit office by repair (信用修复), or only the court."""

    # (severity, period) pairs: a tuple, as a class must stay hashable (it keys caches)
    periods: tuple[tuple[str, PublicationPeriod], ...]
    default_severity: str
    severity_field: str | None = None  # the record's 失信严重程度, when the class has one
    repair: Literal["office", "court"] = "office"
    decision_days: int = 5  # working days the office has to decide a repair

    def severity(self, value: object) -> str:
        """A record's severity as the rule knows it (the default when empty or unknown)."""
        known = dict(self.periods)
        return str(value) if value is not None and str(value) in known else self.default_severity

    def period(self, severity: object) -> PublicationPeriod:
        """The period for a record's severity (its default when empty or unknown)."""
        return dict(self.periods)[self.severity(severity)]


class PublicationSettings(_Model):
    severities: dict[str, PublicationPeriod]
    default_severity: str
    serious_classes: tuple[str, ...] = ()
    court_classes: tuple[str, ...] = ()
    court_months: int = Field(24, ge=1)
    repair_decision_days: int = Field(5, ge=1)

    def rule_for(self, cls: InfoClass) -> PublicationRule | None:
        """The rule of a negative class; None for the others (public while retained)."""
        if not cls.negative:
            return None
        if cls.code in self.court_classes:
            court = PublicationPeriod(min_months=self.court_months, max_months=self.court_months)
            return PublicationRule(periods=(("法院", court),), default_severity="法院",
                                   repair="court")  # fmt: skip
        serious = cls.code in self.serious_classes
        field = (
            None if serious else next((f.name for f in cls.fields if f.name == "severity"), None)
        )
        return PublicationRule(periods=tuple(self.severities.items()),
                               default_severity="严重" if serious else self.default_severity,
                               severity_field=field, decision_days=self.repair_decision_days)  # fmt: skip


class InfoClass(_Model):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    seed: str
    subject_kind: SubjectKind
    subject: SubjectSpec
    key_fields: tuple[str, ...]
    event_date_field: str | None = None
    cycle: Cycle
    providers: tuple[str, ...]
    methods: tuple[Method, ...]
    disclosure: Disclosure
    negative: bool
    retention_years: int | None = None
    # set from publication.yaml when the catalog loads (negative classes only)
    publication: PublicationRule | None = None
    aggregate: str | None = None
    list_kind: Literal["red", "black"] | None = None  # a red or black list (名单)
    subject_attribute: Literal["industry"] | None = None  # gives the subject this attribute
    registry_source: bool = False  # registration records: canonical names for the registry
    note: str | None = None
    fields: tuple[FieldSpec, ...]

    @property
    def topic(self) -> str:
        return f"credit.in.{self.code}"

    @property
    def table(self) -> str:
        return f"cls_{self.code}"

    @functools.cached_property
    def by_name(self) -> dict[str, FieldSpec]:
        return {f.name: f for f in self.fields}

    @functools.cached_property
    def by_label(self) -> dict[str, FieldSpec]:
        return {normalize_label(f.label): f for f in self.fields}

    @model_validator(mode="after")
    def _consistent(self) -> InfoClass:
        names = [f.name for f in self.fields]
        reserved = [n for n in names if n in RESERVED_FIELD_NAMES or n.startswith("ingest_")]
        if reserved:
            raise ValueError(f"class {self.code}: field names {reserved} are reserved")
        labels = [normalize_label(f.label) for f in self.fields]
        for what, seq in (("field name", names), ("label", labels)):
            dupes = {x for x in seq if seq.count(x) > 1}
            if dupes:
                raise ValueError(f"class {self.code}: duplicate {what} {sorted(dupes)}")
        refs = [*self.key_fields, self.subject.name, self.subject.code, *self.subject.alt_codes]
        refs += [r for r in (self.event_date_field, self.subject.id_type) if r]
        missing = [r for r in refs if r not in names]
        if missing:
            raise ValueError(f"class {self.code}: fields {missing} are referenced but not defined")
        return self


class EnumSpec(_Model):
    values: tuple[str, ...]
    synonyms: dict[str, str] = {}
    codes: dict[str, str] = {}  # a stable ASCII code per value, where code needs one

    @model_validator(mode="after")
    def _codes_name_values(self) -> EnumSpec:
        unknown = sorted(set(self.codes) - set(self.values))
        if unknown:
            raise ValueError(f"codes for values the enum lacks: {unknown}")
        return self

    def canonical(self, raw: str) -> str | None:
        """The catalog value a provider's spelling stands for, or None if unknown."""
        value = normalize_label(raw)
        if value in self.values:
            return value
        return self.synonyms.get(value)


class FieldChecks(_Model):
    """Checks by field name or type across every class (checks.yaml)."""

    citizen_id_type: str
    past_date_fields: tuple[str, ...]
    date_pairs: tuple[tuple[str, str], ...]
    max_decimals: dict[str, int]


class Department(_Model):
    name: str
    classes: tuple[str, ...]
    cycle: Cycle | None = None
    methods: tuple[Method, ...] = ()
    # 所辖市（区）级部门报送 (seed 000's column): the 6-digit district codes whose units of this
    # department report for themselves, next to the city-level unit; empty: city level only
    districts: tuple[str, ...] = ()
    connected: bool | None = None
    seed: str

    @model_validator(mode="after")
    def _district_codes(self) -> Department:
        bad = [d for d in self.districts if not (len(d) == 6 and d.isdigit())]
        if bad:
            raise ValueError(f"department {self.name}: districts {bad} are not 6-digit codes")
        return self

    def reports_for(self, district: str) -> bool:
        """Whether a unit of this department in `district` ('' = city level) reports."""
        return not district or district in self.districts


class Catalog:
    """All classes, enums and departments; look classes up by code or Chinese name."""

    def __init__(
        self,
        classes: list[InfoClass],
        enums: dict[str, EnumSpec],
        departments: list[Department],
        checks: FieldChecks | None = None,
    ) -> None:
        self.classes: dict[str, InfoClass] = {c.code: c for c in classes}
        self.by_name = {c.name: c for c in classes}
        self.enums = enums
        self.departments = departments
        self.checks = checks or _default_checks()
        self._check_references()

    def _check_references(self) -> None:
        for cls in self.classes.values():
            for f in cls.fields:
                if f.enum and f.enum not in self.enums:
                    raise CatalogError(f"class {cls.code} field {f.name}: no enum '{f.enum}'")
        for dept in self.departments:
            unknown = [c for c in dept.classes if c not in self.classes]
            if unknown:
                raise CatalogError(f"department {dept.name}: unknown classes {unknown}")

    def get(self, code_or_name: str) -> InfoClass:
        key = code_or_name.strip()
        found = self.classes.get(key) or self.by_name.get(key)
        if found is not None:
            return found
        choices = [*self.classes, *self.by_name]
        near = difflib.get_close_matches(key, choices, n=1, cutoff=0.5)
        hint = f"; did you mean '{near[0]}'?" if near else "; `credit catalog` lists them"
        raise UnknownClassError(f"no class '{key}'{hint}")

    def by_topic(self, topic: str) -> InfoClass:
        return self.get(topic.removeprefix("credit.in."))

    def __iter__(self) -> Iterator[InfoClass]:
        return iter(self.classes.values())

    def __len__(self) -> int:
        return len(self.classes)


def _with_provenance(raw: dict[str, Any]) -> dict[str, Any]:
    fields = list(raw.get("fields") or [])
    present = {f["name"] for f in fields}
    for name, label, ftype in PROVENANCE_FIELDS:
        if name not in present:
            fields.append({"name": name, "label": label, "type": ftype, "added": True})
    return {**raw, "fields": fields}


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogError(f"{path.name}: cannot read catalog data: {exc}") from exc
    if not isinstance(data, dict):
        raise CatalogError(f"{path.name}: expected a mapping at the top")
    return data


def _section(path: Path, key: str, kind: type) -> Any:
    """One top-level section of a catalog file, checked to be a list or mapping."""
    value = _read_yaml(path).get(key) or kind()
    if not isinstance(value, kind):
        raise CatalogError(f"{path.name}: `{key}` must be a {kind.__name__}")
    return value


def load_catalog(directory: Path = CATALOG_DIR) -> Catalog:
    """Read and validate the catalog; any inconsistency names the file and the class."""
    classes: list[InfoClass] = []
    for name in CLASS_FILES:
        for raw in _section(directory / name, "classes", list):
            try:
                classes.append(InfoClass.model_validate(_with_provenance(raw)))
            except ValidationError as exc:
                code = raw.get("code", "?") if isinstance(raw, dict) else "?"
                raise CatalogError(f"{name}: class {code}: {exc}") from exc
    enums_raw = _section(directory / ENUM_FILE, "enums", dict)
    enums = {k: EnumSpec.model_validate(v) for k, v in enums_raw.items()}
    dept_path = directory / DEPARTMENT_FILE
    depts_raw = _section(dept_path, "departments", list) if dept_path.exists() else []
    departments = [Department.model_validate(d) for d in depts_raw]
    seen: set[str] = set()
    for cls in classes:
        if cls.code in seen:
            raise CatalogError(f"class code '{cls.code}' is defined twice")
        seen.add(cls.code)
    rules = _publication(directory / PUBLICATION_FILE, seen)
    classes = [c.model_copy(update={"publication": rules.rule_for(c)}) for c in classes]
    return Catalog(classes, enums, departments, _checks(directory / CHECKS_FILE))


def _checks(path: Path) -> FieldChecks:
    try:
        return FieldChecks.model_validate(_section(path, "checks", dict))
    except ValidationError as exc:
        raise CatalogError(f"{path.name}: {exc}") from exc


@functools.cache
def _default_checks() -> FieldChecks:
    """The repo's checks, for a catalog built in code (tests) without its own."""
    return _checks(CATALOG_DIR / CHECKS_FILE)


def attribute_class(catalog: Catalog, attribute: str) -> str:
    """The code of the class that gives subjects `attribute` (`subject_attribute:`)."""
    found = [c.code for c in catalog if c.subject_attribute == attribute]
    if len(found) != 1:
        raise CatalogError(f"one class must give the subjects' {attribute}, not {found}")
    return found[0]


def class_roles(catalog: Catalog) -> dict[str, str]:
    """Class code → its `aggregate:` role, for the classes that feed figures."""
    return {c.code: c.aggregate for c in catalog if c.aggregate}


def _publication(path: Path, codes: set[str]) -> PublicationSettings:
    try:
        rules = PublicationSettings.model_validate(_section(path, "publication", dict))
    except ValidationError as exc:
        raise CatalogError(f"{path.name}: {exc}") from exc
    unknown = sorted((set(rules.serious_classes) | set(rules.court_classes)) - codes)
    if unknown:
        raise CatalogError(f"{path.name}: unknown classes {unknown}")
    if rules.default_severity not in rules.severities or "严重" not in rules.severities:
        raise CatalogError(f"{path.name}: severities must include 严重 and the default")
    return rules


@functools.cache
def default_catalog() -> Catalog:
    """The repo's catalog, read once per process."""
    return load_catalog()
