"""The analysts' schema: what analyst SQL can read, with personal data removed at the source.

Analysts query tables that never held a citizen ID, a natural person's name or a phone
number, so no expression over them can rebuild one (filtering the results of queries over
raw tables could not stop `substring`, `hex` or `concat` from doing so). Per class table
(restricted classes, 不予公开, are left out):

* columns of personal identifiers (`citizen_id` / `id_by_type` checks, `…id_no`, phones,
  姓名 labels, a natural person's own name) are dropped; a natural person's subject id and
  record key become pseudonyms (`P-` + a keyed SipHash128), so analysts can still count
  persons and join their records across classes without knowing who they are;
* code columns that may hold either a USCC or a citizen ID keep a USCC and replace an ID by
  its pseudonym; name columns that may hold a person's name (被告姓名/名称 …) keep names
  that end like an organization's (公司, 局, 院 …) and hide the rest;
* every other text column has ID- and mobile-shaped runs replaced (`[证件号已隐去]`).

The upload ledger, the decided rows and the per-subject figures come along (subject ids
pseudonymized); the audit log, authorizations, objections, the subject index, dead-letter
payloads and the registry do not. `analyst_sources` gives each as a SELECT over the store:
the embedded platform copies their results into the analysts' own engine
(`sinks.read.analyst_engine`); against a ClickHouse server `view_statements` makes them views in
`<db>_analyst` for a read-only user granted that database only.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.catalog import Catalog, FieldSpec, InfoClass

PERSONAL_CHECKS = frozenset({"citizen_id", "id_by_type", "phone"})
PUBLIC_CODE_CHECKS = frozenset({"uscc", "org_code", "reg_no"})
PERSON_LABELS = ("姓名", "电话", "手机", "联系方式", "住址", "出生")
MIXED_CODE_LABELS = ("身份证", "证件号")
# an 18-digit ID (or a 15-digit one of before 1999), and a mainland mobile number
ID_PATTERN = (
    r"\b[1-9][0-9]{5}(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}"
    r"[0-9Xx]\b|\b[1-9][0-9]{7}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}\b"
)
MOBILE_PATTERN = r"\b1[3-9][0-9]{9}\b"
ORG_SUFFIX = r"(公司|厂|局|院|会|社|店|中心|部|所|站|队|行|委|办|处|室|馆|场|园|校|团|组|厅|司|署|中学|小学)$"
HIDDEN_NAME = "[姓名已隐去]"
HIDDEN_ID = "[证件号已隐去]"
HIDDEN_PHONE = "[电话已隐去]"
DROPPED_META = frozenset({"ingest_source_key"})  # the provider's key fields, IDs among them


@dataclass(frozen=True)
class Source:
    """One analyst table: its name, the SELECT that fills it, and a cheap fingerprint query
    (changes whenever the table's content may have changed)."""

    name: str
    select: str
    fingerprint: str


def _lit(text: str) -> str:
    """A ClickHouse string literal (backslashes and quotes escaped)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def pseudonym(expr: str, key: tuple[int, int]) -> str:
    """A stable, keyed pseudonym: the same ID gives the same value, and without the key
    (kept in the data dir, never in the analysts' engine) no ID can be tried against it."""
    return f"concat('P-', lower(hex(sipHash128Keyed(({key[0]}, {key[1]}), {expr}))))"


def _scrub(expr: str) -> str:
    """Free text with ID- and mobile-shaped runs replaced."""
    inner = f"replaceRegexpAll({expr}, {_lit(ID_PATTERN)}, '{HIDDEN_ID}')"
    return f"replaceRegexpAll({inner}, {_lit(MOBILE_PATTERN)}, '{HIDDEN_PHONE}')"


def _looks_like_id(expr: str) -> str:
    whole = "^(?:" + ID_PATTERN.replace("\\b", "") + ")$"
    return f"match(ifNull({expr}, ''), {_lit(whole)})"


def personal(cls: InfoClass, spec: FieldSpec) -> bool:
    """A column that identifies a natural person by itself: dropped from the analysts' view."""
    if spec.check in PERSONAL_CHECKS or spec.name.endswith("id_no"):
        return True
    if cls.subject_kind == "natural" and spec.name == cls.subject.name:
        return True
    return any(word in spec.label for word in PERSON_LABELS) and "名称" not in spec.label


def _field_expr(cls: InfoClass, spec: FieldSpec, key: tuple[int, int]) -> str | None:
    """The analysts' expression for one catalog field, or None to drop it."""
    col = f"`{spec.name}`"
    if personal(cls, spec):
        return None
    if spec.type not in ("string",) or spec.check in PUBLIC_CODE_CHECKS:
        return col
    if any(word in spec.label for word in MIXED_CODE_LABELS) or spec.name.endswith("_code"):
        return f"if({_looks_like_id(col)}, {pseudonym(col, key)}, {col}) AS {col}"
    if "姓名" in spec.label:  # 姓名/名称: a person's name or an organization's
        keep = f"match(ifNull({col}, ''), '{ORG_SUFFIX}')"
        return f"if({keep}, {col}, if({col} IS NULL, NULL, '{HIDDEN_NAME}')) AS {col}"
    return f"{_scrub(col)} AS {col}"


def class_select(cls: InfoClass, db: str, key: tuple[int, int]) -> str:
    """The analysts' rows of one class table: the latest version of each record."""
    natural = cls.subject_kind == "natural"
    cols: list[str] = []
    for name in ("record_key", "subject_id"):
        cols.append(f"{pseudonym(name, key)} AS {name}" if natural else name)
    cols += ["subject_kind"]
    if not natural:
        cols.append("subject_name")
    cols += ["district", "name_mismatch", "code_flag", "event_date", "behaviour_end",
             "ingest_provider", "ingest_channel", "ingest_upload_id", "ingest_row",
             "ingest_received_at", "stored_at"]  # fmt: skip
    for spec in cls.fields:
        expr = _field_expr(cls, spec, key)
        if expr is not None:
            cols.append(expr)
    return f"SELECT {', '.join(cols)} FROM {db}.{cls.table} FINAL"


def _subject_pseudonym(key: tuple[int, int]) -> str:
    return f"if(subject_kind = 'natural', {pseudonym('subject_id', key)}, subject_id) AS subject_id"


def analyst_sources(catalog: Catalog, db: str, key: tuple[int, int]) -> list[Source]:
    """Every analyst table with its SELECT over the store `db` and its fingerprint."""
    out = [
        Source(cls.table, class_select(cls, db, key),
               f"SELECT count(), max(stored_at) FROM {db}.{cls.table}")
        for cls in catalog
        if cls.disclosure != "restricted"
    ]  # fmt: skip
    out.append(Source("uploads", f"SELECT * FROM {db}.uploads FINAL",
                      f"SELECT count(), max(finished_at) FROM {db}.uploads"))  # fmt: skip
    outcome_cols = ("upload_id, class_code, provider, subject_kind, outcome, reason_codes, "
                    "received_at, decided_at")  # fmt: skip
    out.append(Source("outcomes", f"SELECT {outcome_cols} FROM {db}.outcomes FINAL",
                      f"SELECT count(), max(decided_at) FROM {db}.outcomes"))  # fmt: skip
    aggregates = (
        f"SELECT * EXCEPT (subject_id), {_subject_pseudonym(key)} FROM {db}.aggregates FINAL"
    )
    out.append(Source("aggregates", aggregates,
                      f"SELECT count(), max(updated_at) FROM {db}.aggregates"))  # fmt: skip
    letters = ("SELECT dl_key, class_code, provider, channel, upload_id, `row`, stage, "
               f"reason_codes, received_at, rejected_at FROM {db}.dead_letters FINAL")  # fmt: skip
    out.append(Source("dead_letters", letters,
                      f"SELECT count(), max(rejected_at) FROM {db}.dead_letters"))  # fmt: skip
    return out


def analyst_database(db: str) -> str:
    return f"{db}_analyst"


def view_statements(catalog: Catalog, db: str, key: tuple[int, int]) -> list[str]:
    """For a ClickHouse server: the analysts' views, a read-only role granted them only, with
    limits the role cannot lift (an admin runs these; `credit analyst-ddl` prints them)."""
    adb = analyst_database(db)
    out = [f"CREATE DATABASE IF NOT EXISTS {adb}"]
    # DEFINER: the role reads the views, never the tables under them
    out += [f"CREATE OR REPLACE VIEW {adb}.{s.name} DEFINER = CURRENT_USER SQL SECURITY DEFINER "
            f"AS {s.select}" for s in analyst_sources(catalog, db, key)]  # fmt: skip
    out += [
        "CREATE SETTINGS PROFILE IF NOT EXISTS credit_analyst SETTINGS readonly = 1 CONST, "
        "max_memory_usage = 2000000000 CONST, max_execution_time = 30 CONST, "
        "max_result_rows = 100000 CONST, max_result_bytes = 100000000 CONST",
        "CREATE ROLE IF NOT EXISTS credit_analyst SETTINGS PROFILE 'credit_analyst'",
        f"GRANT SELECT ON {adb}.* TO credit_analyst",
        "-- then: CREATE USER analyst IDENTIFIED BY '…' DEFAULT ROLE credit_analyst "
        "SETTINGS PROFILE 'credit_analyst'",
    ]
    return out
