"""Borrower monitoring (seed 004 #8: 获贷企业信用状况的动态监测…及时推送接入机构).

A financial institution watches subjects it holds an active authorization of. `scan` finds the
records stored since a moment that concern a watched subject — any negative class (arrears,
penalties, black lists …) and any red or black list — and makes one alert per record version,
its `alert_id` derived from the watch and the record version, so a scan repeated after a
restart makes the same ids and the institution can drop repeats. A watch whose authorization
ended, or that was removed, alerts no more.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from typing import Any

from schemas.catalog import Catalog, InfoClass
from sinks.exceptions import ForbiddenError, GovernanceError
from sinks.read.governance import (
    IN_FORCE,
    active_authorization,
    end_row,
    latest_by_id,
    save_version,
)
from sinks.store import Store

_WATCH_COLUMNS = ("watch_id", "institution", "subject_id", "webhook", "created_by",
                  "created_at", "removed_at", "version")  # fmt: skip
_ALERT_COLUMNS = (
    "alert_id", "watch_id", "institution", "subject_id", "class_code", "record_key",
    "record_version", "kind", "event_date", "detected_at", "delivered_at", "attempts",
    "last_error", "version",
)  # fmt: skip


def watched_classes(catalog: Catalog) -> list[InfoClass]:
    """What a bank is alerted of: negative classes (arrears among them) and the lists."""
    return [c for c in catalog if c.negative or c.list_kind]


def add_watch(store: Store, institution: str, subject: str, webhook: str, by: str,
              today: dt.date) -> dict[str, Any]:  # fmt: skip
    subject = subject.strip().upper()
    if not subject:
        raise GovernanceError("give the subject to watch (subject)")
    if webhook and not webhook.startswith(("http://", "https://")):
        raise GovernanceError(f"webhook must be an http(s) URL, not {webhook!r}")
    if active_authorization(store, institution, subject, today) is None:
        raise ForbiddenError(f"{institution} holds no authorization of {subject} in force "
                             "today: a bank watches its authorized borrowers only (须经授权)")  # fmt: skip
    now = dt.datetime.now(dt.UTC)
    row = {"watch_id": "watch-" + uuid.uuid4().hex[:12], "institution": institution,
           "subject_id": subject, "webhook": webhook, "created_by": by, "created_at": now,
           "removed_at": None}  # fmt: skip
    return save_version(store, "watchlist", _WATCH_COLUMNS, row)


def get_watch(store: Store, watch_id: str) -> dict[str, Any]:
    return latest_by_id(store, "watchlist", "watch_id", watch_id, f"no watch '{watch_id}'")


def remove_watch(store: Store, watch_id: str) -> dict[str, Any]:
    return end_row(store, "watchlist", _WATCH_COLUMNS, get_watch(store, watch_id))


def list_watches(store: Store, institution: str | None) -> list[dict[str, Any]]:
    where = "WHERE institution = {i:String}" if institution else ""
    return store.query(
        f"SELECT * FROM {store.database}.watchlist FINAL {where} ORDER BY created_at",
        {"i": institution or ""},
    )


def _active_watches(store: Store, today: dt.date) -> list[dict[str, Any]]:
    """The watches not removed whose authorization is in force today (one query a round)."""
    db = store.database
    return store.query(
        f"SELECT * FROM {db}.watchlist FINAL WHERE removed_at IS NULL AND (institution, "
        f"subject_id) IN (SELECT institution, subject_id FROM {db}.authorizations FINAL "
        f"WHERE {IN_FORCE})",
        {"d": today},
    )


def _new_records(store: Store, catalog: Catalog, subjects: list[str],
                 since: dt.datetime) -> list[dict[str, Any]]:  # fmt: skip
    db = store.database
    parts = [
        f"SELECT '{c.code}' AS class_code, '{'list' if c.list_kind else 'negative'}' AS kind, "
        "record_key, version, subject_id, event_date, stored_at "
        f"FROM {db}.{c.table} WHERE subject_id IN {{s:Array(String)}} AND stored_at > {{t:DateTime64(3)}}"
        for c in watched_classes(catalog)
    ]
    return store.query(" UNION ALL ".join(parts), {"s": subjects, "t": since})


def alert_id(watch_id: str, class_code: str, record_key: str, version: int) -> str:
    digest = hashlib.sha256(f"{watch_id}|{class_code}|{record_key}|{version}".encode())
    return "alert-" + digest.hexdigest()[:20]


def scan(
    store: Store, catalog: Catalog, since: dt.datetime, today: dt.date
) -> list[dict[str, Any]]:
    """Alerts for the watched subjects' records stored after `since` (those already made are
    not made again); returns the new ones."""
    watches = _active_watches(store, today)
    if not watches:
        return []
    by_subject: dict[str, list[dict[str, Any]]] = {}
    for w in watches:
        by_subject.setdefault(str(w["subject_id"]), []).append(w)
    found = _new_records(store, catalog, sorted(by_subject), since)
    now, out = dt.datetime.now(dt.UTC), []
    for rec in found:
        for w in by_subject[str(rec["subject_id"])]:
            if rec["stored_at"] <= w["created_at"]:  # stored before the watch began: not news
                continue
            out.append({"alert_id": alert_id(w["watch_id"], rec["class_code"], rec["record_key"],
                                             int(rec["version"])),
                        "watch_id": w["watch_id"], "institution": w["institution"],
                        "subject_id": rec["subject_id"], "class_code": rec["class_code"],
                        "record_key": rec["record_key"], "record_version": int(rec["version"]),
                        "kind": rec["kind"], "event_date": rec["event_date"], "detected_at": now,
                        "delivered_at": None, "attempts": 0, "last_error": ""})  # fmt: skip
    known = _known(store, [a["alert_id"] for a in out])
    fresh = [a for a in out if a["alert_id"] not in known]
    for a in fresh:
        save_alert(store, a)
    return fresh


def _known(store: Store, ids: list[str]) -> set[str]:
    if not ids:
        return set()
    rows = store.query(f"SELECT alert_id FROM {store.database}.alerts WHERE alert_id IN "
                       "{ids:Array(String)}", {"ids": ids})  # fmt: skip
    return {str(r["alert_id"]) for r in rows}


def save_alert(store: Store, alert: dict[str, Any]) -> dict[str, Any]:
    return save_version(store, "alerts", _ALERT_COLUMNS, alert)


def undelivered(store: Store, max_attempts: int) -> list[dict[str, Any]]:
    """Alerts not yet taken by the institution's endpoint, oldest first, with the webhook."""
    return store.query(
        f"SELECT a.*, w.webhook AS webhook FROM {store.database}.alerts AS a FINAL "
        f"INNER JOIN (SELECT watch_id, webhook FROM {store.database}.watchlist FINAL) AS w "
        "ON w.watch_id = a.watch_id WHERE a.delivered_at IS NULL AND w.webhook != '' "
        "AND a.attempts < {m:UInt32} ORDER BY a.detected_at",
        {"m": max_attempts},
    )


def alerts_of(store: Store, institution: str | None, since: dt.datetime | None,
              limit: int = 1000) -> list[dict[str, Any]]:  # fmt: skip
    """An institution's alerts (all for the office), newest first."""
    conds = (["institution = {i:String}"] if institution else []) + (
        ["detected_at > {t:DateTime64(3)}"] if since else [])  # fmt: skip
    where = f"WHERE {' AND '.join(conds)}" if conds else ""
    return store.query(
        f"SELECT * FROM {store.database}.alerts FINAL {where} ORDER BY detected_at DESC "
        "LIMIT {n:UInt32}",
        {"i": institution or "", "t": since or dt.datetime(1970, 1, 1), "n": limit},
    )
