"""Governance over the store: objections (异议), authorizations (授权), the usage log (使用记录)
and publication periods. Plain functions over a `Store`; the HTTP routes and the CLI call them.

Sources:
- seed 003 (Liaoning) art. 20: the credit office checks an objection within 3 working days,
  the providing department answers within 10 working days of being notified, the applicant
  is told the result within 2 working days of the answer; art. 21: the record is withheld
  while the objection is handled, and a record that cannot be verified is deleted with the
  reason recorded.
- seed 003 art. 18 / seed 004 item 12: every use of a subject's data is logged and the log is
  kept at least 5 years (`sinks/ddl/080_audit_log.sql`).
- seed 004 items 11-13: authorized-only data of an enterprise reaches a financial institution
  only under the enterprise's active authorization.
- NDRC credit-repair rules: a penalty leaves public reports after its publication period.

Working days follow the Chinese calendar with its statutory holidays and make-up working
weekends (`sinks.read.workdays`, overridable by the credit office's file).
"""

from __future__ import annotations

import calendar
import datetime as dt
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from schemas.catalog import InfoClass
from sinks.ddl.subject_index import INDEX_TABLE, has_index
from sinks.exceptions import ForbiddenError, GovernanceError, NotFoundError, StageError
from sinks.read.workdays import DEFAULT_CALENDAR, WorkCalendar
from sinks.store import Store

Resolution = Literal["correct", "confirm", "delete"]
RESOLUTIONS: tuple[str, ...] = ("correct", "confirm", "delete")
OPEN_STAGES = ("filed", "accepted")
# stage an objection is in → (name of the late step, working days allowed, date column it runs from)
DEADLINES: dict[str, tuple[str, int, str]] = {
    "filed": ("check", 3, "filed_on"),  # seed 003 art. 20: 3 个工作日内进行核查
    "accepted": ("answer", 10, "accepted_on"),  # 10 个工作日内回复
    "resolved": ("inform", 2, "resolved_on"),  # 2 个工作日内告知申请人
}


@dataclass(frozen=True)
class Reader:
    """Who reads, as the usage log records it (credit.api.access.Identity satisfies this)."""

    role: str
    name: str
    org: str = ""


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# -- working days and publication periods (pure) -----------------------------------------------
def add_working_days(
    start: dt.date, days: int, calendar: WorkCalendar = DEFAULT_CALENDAR
) -> dt.date:
    """The date `days` working days after `start` (the day of receipt itself does not count)."""
    return calendar.add_working_days(start, days)


def add_months(day: dt.date, months: int) -> dt.date:
    """Same day `months` later, clamped to the month's end (31 Jan + 1 → 28/29 Feb)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def publication_window(
    cls: InfoClass, row: Mapping[str, Any]
) -> tuple[dt.date, dt.date, str] | None:
    """(first day a repair may be applied for, last public day, severity) of a negative
    record, by its severity (publication.yaml); None for classes without a period."""
    rule = cls.publication
    if rule is None or row.get("event_date") is None:
        return None
    severity = rule.severity(row.get(rule.severity_field) if rule.severity_field else None)
    period = rule.period(severity)
    event = row["event_date"]
    return add_months(event, period.min_months), add_months(event, period.max_months), severity


def publicly_visible(cls: InfoClass, row: Mapping[str, Any], today: dt.date) -> bool:
    """Whether a record still belongs in public and bank views: a negative record leaves them
    after its maximum publication period from the decision date (the last day still counts;
    it stays for the credit office, the usage log and retention). Others stay public."""
    window = publication_window(cls, row)
    return window is None or today <= window[1]


# -- objections -----------------------------------------------------------------------------------
_OBJ_COLUMNS = (
    "objection_id", "class_code", "record_key", "record_version", "subject_id", "subject_kind",
    "provider", "applicant", "applicant_role", "grounds", "stage", "resolution", "reason",
    "resolved_by", "filed_on", "accepted_on", "resolved_on", "informed_on", "updated_at",
    "version",
)  # fmt: skip


def save_version(
    store: Store, table: str, columns: tuple[str, ...], row: Mapping[str, Any]
) -> dict[str, Any]:
    """Write the next version of a workflow row (objection, repair): the ReplacingMergeTree
    keeps the highest `version`, which grows even within one millisecond."""
    out = {**row, "updated_at": _now(),
           "version": _now_ms() * 1000 + int(row.get("version", 0)) % 1000 + 1}  # fmt: skip
    store.insert(table, [[out[c] for c in columns]], columns)
    return out


def end_row(
    store: Store, table: str, columns: tuple[str, ...], row: Mapping[str, Any]
) -> dict[str, Any]:
    """A row ended (`removed_at` now) in its next version; one ended already stays as it is."""
    if row["removed_at"] is not None:
        return dict(row)
    return save_version(store, table, columns, {**row, "removed_at": _now()})


def latest_by_id(store: Store, table: str, column: str, value: str, missing: str) -> dict[str, Any]:
    """The current version of one workflow row, or NotFoundError(`missing`)."""
    rows = store.query(
        f"SELECT * FROM {store.database}.{table} FINAL WHERE {column} = {{v:String}}",
        {"v": value},
    )
    if not rows:
        raise NotFoundError(missing)
    return rows[0]


def _save_objection(store: Store, row: Mapping[str, Any]) -> dict[str, Any]:
    return save_version(store, "objections", _OBJ_COLUMNS, row)


def get_objection(store: Store, objection_id: str) -> dict[str, Any]:
    return latest_by_id(store, "objections", "objection_id", objection_id,
                        f"no objection '{objection_id}' (异议不存在)")  # fmt: skip


def file_objection(
    store: Store, cls: InfoClass, record_key: str, applicant: Reader, grounds: str,
    today: dt.date, only_subject: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Record an objection against one stored record; from now on the record is withheld.
    `only_subject`: the applicant may dispute records about this subject only (itself)."""
    if not grounds.strip():
        raise GovernanceError("an objection needs its grounds (异议理由不能为空)")
    found = store.query(
        f"SELECT record_key, version, subject_id, subject_kind, ingest_provider "
        f"FROM {store.database}.{cls.table} FINAL WHERE record_key = {{k:String}}",
        {"k": record_key},
    )
    if not found:
        raise NotFoundError(f"no record '{record_key}' in {cls.code} (异议所指记录不存在)")
    rec = found[0]
    pending = store.query(
        f"SELECT objection_id FROM {store.database}.objections FINAL WHERE record_key = "
        "{k:String} AND stage IN ('filed', 'accepted')",
        {"k": record_key},
    )
    if pending:
        raise StageError(f"record '{record_key}' is already under objection "
                         f"{pending[0]['objection_id']} (该信息已在异议处理中)")  # fmt: skip
    if only_subject is not None and rec["subject_id"] != only_subject:
        raise ForbiddenError(
            f"record '{record_key}' is not about {only_subject} (只能对本主体信息提出异议)"
        )
    row = {
        "objection_id": "obj-" + uuid.uuid4().hex[:12], "class_code": cls.code,
        "record_key": record_key, "record_version": int(rec["version"]),
        "subject_id": rec["subject_id"], "subject_kind": rec["subject_kind"],
        "provider": rec["ingest_provider"], "applicant": applicant.name,
        "applicant_role": applicant.role, "grounds": grounds.strip(), "stage": "filed",
        "resolution": "", "reason": "", "resolved_by": "", "filed_on": today,
        "accepted_on": None, "resolved_on": None, "informed_on": None, "version": 0,
    }  # fmt: skip
    return _save_objection(store, row)


def accept_objection(store: Store, objection_id: str, today: dt.date) -> dict[str, Any]:
    """The office has checked the objection and refers it to the providing department."""
    obj = get_objection(store, objection_id)
    if obj["stage"] != "filed":
        raise StageError(f"objection {objection_id} is {obj['stage']}, not filed")
    return _save_objection(store, {**obj, "stage": "accepted", "accepted_on": today})


def resolve_objection(
    store: Store, cls: InfoClass, objection_id: str, resolution: str, reason: str,
    by: str, today: dt.date,
) -> dict[str, Any]:  # fmt: skip
    """Close the dispute, keeping the reason (seed 003 art. 21).

    - `confirm`: the record stands; the hold is released.
    - `correct`: the record stays withheld until the provider re-sends a newer version.
    - `delete`: the record leaves the class table (synchronous mutation).
    A filed objection may be resolved at once (an error of the office itself, art. 20).
    """
    if resolution not in RESOLUTIONS:
        raise GovernanceError(f"resolution must be one of {list(RESOLUTIONS)}, not '{resolution}'")
    if not reason.strip():
        raise GovernanceError("a resolution needs its reason (处理理由不能为空)")
    obj = get_objection(store, objection_id)
    if obj["stage"] not in OPEN_STAGES:
        raise StageError(f"objection {objection_id} is already {obj['stage']}")
    if obj["class_code"] != cls.code:
        raise GovernanceError(f"objection {objection_id} is about {obj['class_code']}")
    if resolution == "delete":
        _delete_record(store, cls, str(obj["record_key"]))
    return _save_objection(store, {**obj, "stage": "resolved", "resolution": resolution,
                                   "reason": reason.strip(), "resolved_by": by,
                                   "resolved_on": today})  # fmt: skip


def _delete_record(store: Store, cls: InfoClass, record_key: str) -> None:
    """The record out of its class table and out of the subject index the credit reports
    read (without the second, a deleted record stayed in every report)."""
    where = "record_key = {k:String}"
    store.command(f"ALTER TABLE {store.database}.{cls.table} DELETE WHERE {where} "
                  "SETTINGS mutations_sync = 2", {"k": record_key})  # fmt: skip
    if has_index(store):
        store.command(f"ALTER TABLE {store.database}.{INDEX_TABLE} DELETE WHERE {where} "
                      "AND class_code = {c:String} SETTINGS mutations_sync = 2",
                      {"k": record_key, "c": cls.code})  # fmt: skip


def inform_objection(store: Store, objection_id: str, today: dt.date) -> dict[str, Any]:
    """The applicant has been told the result in writing; the objection is closed."""
    obj = get_objection(store, objection_id)
    if obj["stage"] != "resolved":
        raise StageError(f"objection {objection_id} is {obj['stage']}, not resolved")
    return _save_objection(store, {**obj, "stage": "informed", "informed_on": today})


def list_objections(
    store: Store, *, provider: str | None = None, applicant: str | None = None,
    subject_id: str | None = None, stage: str | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    conds, params = [], {}
    for col, value in (("provider", provider), ("applicant", applicant),
                       ("subject_id", subject_id), ("stage", stage)):  # fmt: skip
        if value is not None:
            conds.append(f"{col} = {{{col}:String}}")
            params[col] = value
    where = f"WHERE {' AND '.join(conds)}" if conds else ""
    return store.query(
        f"SELECT * FROM {store.database}.objections FINAL {where} ORDER BY filed_on, objection_id",
        params,
    )


def due_date(obj: Mapping[str, Any], calendar: WorkCalendar = DEFAULT_CALENDAR) -> dt.date | None:
    """When the current stage must be left by, or None once the objection is closed."""
    rule = DEADLINES.get(str(obj["stage"]))
    if rule is None or obj[rule[2]] is None:
        return None
    return calendar.add_working_days(obj[rule[2]], rule[1])


def overdue(
    store: Store, today: dt.date, calendar: WorkCalendar = DEFAULT_CALENDAR
) -> list[dict[str, Any]]:
    """Objections past the deadline of their current stage: check / answer / inform; days
    late are working days."""
    late = []
    for obj in store.query(
        f"SELECT * FROM {store.database}.objections FINAL WHERE stage IN ('filed', 'accepted', "
        "'resolved') ORDER BY filed_on, objection_id"
    ):
        due = due_date(obj, calendar)
        if due is not None and today > due:
            late.append({**obj, "late_stage": DEADLINES[obj["stage"]][0], "due": due,
                         "days_late": calendar.working_days_between(due, today)})  # fmt: skip
    return sorted(late, key=lambda o: (o["due"], o["objection_id"]))


def withheld_record_keys(store: Store) -> frozenset[str]:
    """Record keys no report or query may show to other readers: under an open objection, or
    resolved `correct` and not yet re-sent by the provider (no newer version stored)."""
    db = store.database
    rows = store.query(
        f"SELECT class_code, record_key, record_version, stage FROM {db}.objections FINAL "
        "WHERE stage IN ('filed', 'accepted') OR resolution = 'correct'"
    )
    held = {r["record_key"] for r in rows if r["stage"] in OPEN_STAGES}
    awaiting: dict[str, dict[str, int]] = {}
    for r in rows:
        if r["stage"] not in OPEN_STAGES:
            awaiting.setdefault(r["class_code"], {})[r["record_key"]] = int(r["record_version"])
    for code, keys in awaiting.items():
        current = {
            r["record_key"]: int(r["version"])
            for r in store.query(
                f"SELECT record_key, version FROM {db}.cls_{code} FINAL "
                "WHERE has({k:Array(String)}, record_key)",
                {"k": list(keys)},
            )
        }
        held.update(k for k, v in keys.items() if k in current and current[k] <= v)
    return frozenset(held)


# -- authorizations --------------------------------------------------------------------------------
_AUTH_COLUMNS = (
    "auth_id", "subject_id", "institution", "purpose", "valid_from", "valid_to", "granted_by",
    "granted_at", "revoked_at", "revoked_by", "version",
)  # fmt: skip


def grant_authorization(
    store: Store, subject_id: str, institution: str, purpose: str,
    valid_from: dt.date, valid_to: dt.date, granted_by: str,
) -> dict[str, Any]:  # fmt: skip
    """An enterprise authorizes one financial institution, for a purpose, over a period."""
    if valid_to < valid_from:
        raise GovernanceError(f"valid_to {valid_to} is before valid_from {valid_from}")
    if not (subject_id.strip() and institution.strip() and purpose.strip()):
        raise GovernanceError("an authorization needs subject, institution and purpose")
    row = {
        "auth_id": "auth-" + uuid.uuid4().hex[:12], "subject_id": subject_id.strip().upper(),
        "institution": institution.strip(), "purpose": purpose.strip(),
        "valid_from": valid_from, "valid_to": valid_to, "granted_by": granted_by,
        "granted_at": _now(), "revoked_at": None, "revoked_by": "", "version": _now_ms(),
    }  # fmt: skip
    store.insert("authorizations", [[row[c] for c in _AUTH_COLUMNS]], _AUTH_COLUMNS)
    return row


def get_authorization(store: Store, auth_id: str) -> dict[str, Any]:
    return latest_by_id(store, "authorizations", "auth_id", auth_id,
                        f"no authorization '{auth_id}' (授权不存在)")  # fmt: skip


def revoke_authorization(store: Store, auth_id: str, by: str) -> dict[str, Any]:
    """Revocation takes effect at once and for good; the row is kept as evidence."""
    row = get_authorization(store, auth_id)
    if row["revoked_at"] is not None:
        return row
    row = {**row, "revoked_at": _now(), "revoked_by": by,
           "version": max(_now_ms(), int(row["version"]) + 1)}  # fmt: skip
    store.insert("authorizations", [[row[c] for c in _AUTH_COLUMNS]], _AUTH_COLUMNS)
    return row


def list_authorizations(
    store: Store, subject_id: str | None = None, institution: str | None = None
) -> list[dict[str, Any]]:
    conds, params = [], {}
    if subject_id:
        conds.append("subject_id = {s:String}")
        params["s"] = subject_id
    if institution:
        conds.append("institution = {i:String}")
        params["i"] = institution
    where = f"WHERE {' AND '.join(conds)}" if conds else ""
    return store.query(
        f"SELECT * FROM {store.database}.authorizations FINAL {where} ORDER BY granted_at", params
    )


# an authorization in force on the day `{d:Date32}` (not revoked, within its dates)
IN_FORCE = "revoked_at IS NULL AND valid_from <= {d:Date32} AND valid_to >= {d:Date32}"


def active_authorization(
    store: Store, institution: str, subject_id: str, today: dt.date
) -> dict[str, Any] | None:
    """The institution's authorization by this subject in force today, if any."""
    rows = store.query(
        f"SELECT * FROM {store.database}.authorizations FINAL WHERE subject_id = {{s:String}} "
        f"AND institution = {{i:String}} AND {IN_FORCE} ORDER BY valid_to DESC LIMIT 1",
        {"s": subject_id, "i": institution, "d": today},
    )
    return rows[0] if rows else None


def is_authorized(store: Store, institution: str, uscc: str, today: dt.date) -> bool:
    return active_authorization(store, institution, uscc, today) is not None


# -- the usage log ---------------------------------------------------------------------------------
_AUDIT_COLUMNS = (
    "at", "subject_id", "reader_role", "reader", "organization", "what", "purpose", "auth_id",
    "outcome", "detail",
)  # fmt: skip


def record_read(
    store: Store, identity: Reader, subject: str, what: str, purpose: str, *,
    outcome: str = "shown", auth_id: str = "", detail: str = "", at: dt.datetime | None = None,
) -> None:  # fmt: skip
    """One line of the usage log: who read which subject's what, why, and whether it was shown."""
    row = [at or _now(), subject, identity.role, identity.name, identity.org, what, purpose,
           auth_id, outcome, detail]  # fmt: skip
    store.insert("audit_log", [row], _AUDIT_COLUMNS)


def reads_by(store: Store, reader: str, limit: int = 1000) -> list[dict[str, Any]]:
    """What one reader read (subjects, SQL), newest first."""
    return store.query(
        f"SELECT * FROM {store.database}.audit_log WHERE reader = {{r:String}} "
        "ORDER BY at DESC LIMIT {n:UInt32}",
        {"r": reader, "n": limit},
    )


def reads_of(store: Store, subject: str, limit: int = 1000) -> list[dict[str, Any]]:
    """Who looked at this subject, newest first ("who looked at me")."""
    return store.query(
        f"SELECT * FROM {store.database}.audit_log WHERE subject_id = {{s:String}} "
        "ORDER BY at DESC LIMIT {n:UInt32}",
        {"s": subject, "n": limit},
    )
