"""Spot checks of a department's data (抽查, seed 003: 虚报、误报、漏报).

The credit office draws a random sample of the records one department stored of one class
(`new_check`); a reviewer compares each with the department's source and records a verdict —
准确 (correct), 误报 (wrong values), 虚报 (the fact did not happen) — with a note (`judge`);
closing the check records the records found missing from the platform (漏报) and gives the
accuracy (`close_check`). The sample is drawn by a hash of the record key with the check's
seed, so the same check names the same records on every read.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Mapping
from typing import Any

from schemas.catalog import Catalog
from sinks.exceptions import GovernanceError, NotFoundError, StageError
from sinks.read.governance import save_version
from sinks.store import Store

VERDICTS = ("准确", "误报", "虚报")
_COLUMNS = (
    "check_id", "record_key", "department", "class_code", "subject_id", "seed", "verdict",
    "note", "omissions", "reviewer", "created_by", "created_at", "reviewed_at", "updated_at",
    "version",
)  # fmt: skip
HEAD = ""  # the record_key of the check's own row
MAX_SAMPLE = 500


def _save(store: Store, row: Mapping[str, Any]) -> dict[str, Any]:
    return save_version(store, "spot_checks", _COLUMNS, row)


def new_check(store: Store, catalog: Catalog, department: str, class_code: str, size: int,
              by: str) -> dict[str, Any]:  # fmt: skip
    """Draw `size` of the department's stored records of the class (all, if fewer)."""
    cls = catalog.get(class_code)
    if not 1 <= size <= MAX_SAMPLE:
        raise GovernanceError(f"size: 1 to {MAX_SAMPLE} records, not {size}")
    seed = random.SystemRandom().randrange(1, 2**63)
    db = store.database
    rows = store.query(
        f"SELECT record_key, subject_id FROM {db}.{cls.table} FINAL WHERE ingest_upload_id IN "
        f"(SELECT upload_id FROM {db}.uploads FINAL WHERE department = {{d:String}}) "
        "ORDER BY cityHash64(record_key, {s:UInt64}) LIMIT {n:UInt32}",
        {"d": department, "s": seed, "n": size},
    )
    if not rows:
        raise NotFoundError(f"{department} has no stored {cls.code} record to check")
    now, check_id = dt.datetime.now(dt.UTC), "chk-" + uuid.uuid4().hex[:12]
    base = {"check_id": check_id, "department": department,
            "class_code": cls.code, "seed": seed, "verdict": "", "note": "", "omissions": 0,
            "reviewer": "", "created_by": by, "created_at": now, "reviewed_at": None,
            "version": 0}  # fmt: skip
    store.insert("spot_checks", [[{**base, "record_key": r["record_key"], "subject_id":
                                   r["subject_id"], "updated_at": now}[c] for c in _COLUMNS]
                                 for r in rows], _COLUMNS)  # fmt: skip
    _save(store, {**base, "record_key": HEAD, "subject_id": ""})
    return get_check(store, check_id)


def _rows(store: Store, check_id: str) -> list[dict[str, Any]]:
    rows = store.query(f"SELECT * FROM {store.database}.spot_checks FINAL WHERE check_id = "
                       "{c:String} ORDER BY record_key", {"c": check_id})  # fmt: skip
    if not rows:
        raise NotFoundError(f"no spot check '{check_id}'")
    return rows


def summary(head: Mapping[str, Any], items: list[dict[str, Any]]) -> dict[str, Any]:
    judged = [i for i in items if i["verdict"]]
    counts = {v: sum(1 for i in judged if i["verdict"] == v) for v in VERDICTS}
    return {**{k: head[k] for k in ("check_id", "department", "class_code", "created_by",
                                     "created_at", "omissions", "note", "reviewed_at")},
            "closed": head["reviewed_at"] is not None, "sampled": len(items),
            "judged": len(judged), "verdicts": counts,
            "accuracy": round(counts["准确"] / len(judged), 4) if judged else None}  # fmt: skip


def _split(rows: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A check's rows: its own row, and its sampled records."""
    head = next(r for r in rows if r["record_key"] == HEAD)
    return head, [r for r in rows if r["record_key"] != HEAD]


def get_check(store: Store, check_id: str) -> dict[str, Any]:
    """The check's summary and its sampled records with their verdicts."""
    head, items = _split(_rows(store, check_id))
    return {**summary(head, items), "items": items}


def judge(store: Store, check_id: str, record_key: str, verdict: str, note: str,
          reviewer: str) -> dict[str, Any]:  # fmt: skip
    if verdict not in VERDICTS:
        raise GovernanceError(f"verdict: one of {', '.join(VERDICTS)}, not {verdict!r}")
    if verdict != "准确" and not note.strip():
        raise GovernanceError("a 误报 or 虚报 verdict needs a note: what the source says")
    rows = {r["record_key"]: r for r in _rows(store, check_id)}
    if rows[HEAD]["reviewed_at"] is not None:
        raise StageError(f"spot check {check_id} is closed")
    if record_key == HEAD or record_key not in rows:
        raise NotFoundError(f"record '{record_key}' is not in spot check {check_id}")
    return _save(store, {**rows[record_key], "verdict": verdict, "note": note.strip(),
                         "reviewer": reviewer, "reviewed_at": dt.datetime.now(dt.UTC)})  # fmt: skip


def close_check(
    store: Store, check_id: str, omissions: int, note: str, reviewer: str
) -> dict[str, Any]:
    """Close a check whose every record is judged, with the 漏报 found (records the source
    has that the platform lacks)."""
    head, items = _split(_rows(store, check_id))
    check = summary(head, items)
    if check["closed"]:
        raise StageError(f"spot check {check_id} is closed already")
    if check["judged"] < check["sampled"]:
        raise StageError(f"{check['sampled'] - check['judged']} sampled records are not judged yet")
    if omissions < 0:
        raise GovernanceError("omissions: the number of records missing (0 or more)")
    _save(store, {**head, "omissions": omissions, "note": note.strip(), "reviewer": reviewer,
                  "reviewed_at": dt.datetime.now(dt.UTC)})  # fmt: skip
    return get_check(store, check_id)


def list_checks(store: Store, department: str | None = None) -> list[dict[str, Any]]:
    """Every check (of one department), newest first, as summaries."""
    where = " AND department = {d:String}" if department else ""
    rows = store.query(f"SELECT * FROM {store.database}.spot_checks FINAL WHERE 1{where} "
                       "ORDER BY created_at DESC, check_id, record_key", {"d": department or ""})  # fmt: skip
    by: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by.setdefault(str(r["check_id"]), []).append(r)
    return [summary(*_split(group)) for group in by.values()]
