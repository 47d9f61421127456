"""Credit repair (信用修复): ending a negative record's publication early.

NDRC 《失信行为纠正后的信用信息修复管理办法（试行）》(2023): once a record's minimum publication
period has passed (by its severity, `schemas/catalog/publication.yaml`), the subject that
has corrected its conduct may apply; the credit office decides within
`repair_decision_days` working days (`sinks.read.workdays`). An approved repair takes the record
out of public and bank views at once (`repaired_record_keys`); the record stays in its
class table for the credit office, the usage log and the retention rules. Lists the courts
keep (失信被执行人) are ended by the court, not here.

Statuses: applied → approved | rejected.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from schemas.catalog import InfoClass
from sinks.exceptions import ForbiddenError, GovernanceError, NotFoundError, StageError
from sinks.read.governance import (
    Reader,
    latest_by_id,
    publication_window,
    save_version,
    withheld_record_keys,
)
from sinks.read.workdays import DEFAULT_CALENDAR, WorkCalendar
from sinks.store import Store

_COLUMNS = (
    "repair_id", "class_code", "record_key", "subject_id", "subject_kind", "severity",
    "applicant", "applicant_role", "grounds", "status", "reason", "decided_by", "applied_on",
    "due_on", "decided_on", "updated_at", "version",
)  # fmt: skip
DECISIONS = ("approve", "reject")


def _save(store: Store, row: Mapping[str, Any]) -> dict[str, Any]:
    return save_version(store, "repairs", _COLUMNS, row)


def _record(store: Store, cls: InfoClass, record_key: str) -> dict[str, Any]:
    severity = cls.publication.severity_field if cls.publication else None
    extra = f", `{severity}` AS severity" if severity else ", '' AS severity"
    rows = store.query(
        f"SELECT record_key, subject_id, subject_kind, event_date{extra} "
        f"FROM {store.database}.{cls.table} FINAL WHERE record_key = {{k:String}}",
        {"k": record_key},
    )
    if not rows:
        raise NotFoundError(f"no record '{record_key}' in {cls.code} (所指记录不存在)")
    return rows[0]


def apply_repair(
    store: Store, cls: InfoClass, record_key: str, applicant: Reader, grounds: str,
    today: dt.date, calendar: WorkCalendar = DEFAULT_CALENDAR, only_subject: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """A subject's application to repair one negative record; refused, with the day it may
    apply, before the minimum period; refused for the courts' lists and open applications."""
    rule = cls.publication
    if rule is None:
        raise GovernanceError(f"{cls.code} is not negative information: nothing to repair")
    if rule.repair == "court":
        raise GovernanceError(f"{cls.name} is ended by the court once the obligation is met, "
                              "not by credit repair (由法院依法删除，不适用信用修复)")  # fmt: skip
    if not grounds.strip():
        raise GovernanceError("an application needs its grounds: how the conduct was corrected "
                              "(修复理由不能为空)")  # fmt: skip
    rec = _record(store, cls, record_key)
    if only_subject is not None and rec["subject_id"] != only_subject:
        raise ForbiddenError(f"record '{record_key}' is not about {only_subject} (只能申请本主体)")
    window = publication_window(cls, rec)
    assert window is not None
    repair_from, public_until, severity = window
    if today < repair_from:
        raise GovernanceError(
            f"the minimum publication period ({severity}) has not passed: apply from "
            f"{repair_from.isoformat()} (最短公示期未满，{repair_from.isoformat()} 起可申请)"
        )
    if today > public_until:
        raise GovernanceError(f"record '{record_key}' left public use on {public_until}: "
                              "nothing to repair (已超过最长公示期)")  # fmt: skip
    open_ = _by_record(store, record_key, ("applied", "approved"))
    if open_:
        raise StageError(f"record '{record_key}' already has repair {open_[0]['repair_id']} "
                         f"({open_[0]['status']})")  # fmt: skip
    row = {
        "repair_id": "rep-" + uuid.uuid4().hex[:12], "class_code": cls.code,
        "record_key": record_key, "subject_id": rec["subject_id"],
        "subject_kind": rec["subject_kind"], "severity": severity, "applicant": applicant.name,
        "applicant_role": applicant.role, "grounds": grounds.strip(), "status": "applied",
        "reason": "", "decided_by": "", "applied_on": today,
        "due_on": calendar.add_working_days(today, rule.decision_days), "decided_on": None,
        "version": 0,
    }  # fmt: skip
    return _save(store, row)


def decide_repair(
    store: Store, repair_id: str, decision: str, reason: str, by: str, today: dt.date
) -> dict[str, Any]:
    """The credit office approves (the record leaves public views now) or rejects, with the
    reason kept."""
    if decision not in DECISIONS:
        raise GovernanceError(f"decision must be one of {list(DECISIONS)}, not '{decision}'")
    if not reason.strip():
        raise GovernanceError("a decision needs its reason (决定理由不能为空)")
    row = get_repair(store, repair_id)
    if row["status"] != "applied":
        raise StageError(f"repair {repair_id} is already {row['status']}")
    status = "approved" if decision == "approve" else "rejected"
    return _save(store, {**row, "status": status, "reason": reason.strip(), "decided_by": by,
                         "decided_on": today})  # fmt: skip


def get_repair(store: Store, repair_id: str) -> dict[str, Any]:
    return latest_by_id(store, "repairs", "repair_id", repair_id,
                        f"no repair '{repair_id}' (修复申请不存在)")  # fmt: skip


def _by_record(store: Store, record_key: str, statuses: tuple[str, ...]) -> list[dict[str, Any]]:
    return store.query(
        f"SELECT * FROM {store.database}.repairs FINAL WHERE record_key = {{k:String}} "
        "AND has({s:Array(String)}, status)",
        {"k": record_key, "s": list(statuses)},
    )


def list_repairs(
    store: Store, subject_id: str | None = None, status: str | None = None
) -> list[dict[str, Any]]:
    conds, params = [], {}
    for col, value in (("subject_id", subject_id), ("status", status)):
        if value:
            conds.append(f"{col} = {{{col}:String}}")
            params[col] = value
    where = f"WHERE {' AND '.join(conds)}" if conds else ""
    return store.query(
        f"SELECT * FROM {store.database}.repairs FINAL {where} ORDER BY applied_on, repair_id",
        params,
    )


def repaired_record_keys(store: Store) -> frozenset[str]:
    """Records whose repair was approved: out of public and bank views."""
    rows = store.query(
        f"SELECT record_key FROM {store.database}.repairs FINAL WHERE status = 'approved'"
    )
    return frozenset(str(r["record_key"]) for r in rows)


def hidden_record_keys(store: Store) -> frozenset[str]:
    """Records out of every public use — figures, the lists' notice, verification: withheld
    under an objection (or awaiting correction) and repaired (the credit office still sees
    them)."""
    return withheld_record_keys(store) | repaired_record_keys(store)
