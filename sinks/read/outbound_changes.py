"""What a target has not been sent yet: the changes one outbound round queues.

No cursor on `stored_at`: a row's stamp is set before its insert is visible, and a store that
refuses writes for a while makes the gap arbitrary, so a cursor can step over rows. Each
round instead asks, per class whose parts changed since the last round, for the current
record versions the target's ledger does not hold (an anti-join, `pending`), oldest first
and at most `limit` at a time — exact whatever the order rows became visible in, and after
any restart. The target's own 回流 provider is left out (a record it sent us is not sent back).

Withdrawals: a record whose latest change for the target is an upsert and that is now out of
public use — withheld under an objection or awaiting correction, repaired, or deleted by an
objection's resolution — gets a withdraw. Restorations: a record withdrawn or held that is in
use again (an objection resolved `confirm`) is sent again as it is now.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from schemas.catalog import Catalog, InfoClass
from sinks.read.outbound import delivery_id, last_changes, subject_filter, target_classes
from sinks.store import Store

Change = dict[str, Any]  # the ledger columns, plus "record" (the stored row) for an upsert
Signature = tuple[int, int, str]


def part_signatures(store: Store) -> dict[str, Signature]:
    """Table → (rows, parts, last part's time): changes whenever an insert, merge or delete
    lands, so a class whose signature did not move has nothing new."""
    rows = store.query(
        "SELECT table, sum(rows) AS n, count() AS parts, toString(max(modification_time)) AS at "
        "FROM system.parts WHERE database = {d:String} AND active GROUP BY table",
        {"d": store.database},
    )
    return {str(r["table"]): (int(r["n"]), int(r["parts"]), str(r["at"])) for r in rows}


def pending(store: Store, catalog: Catalog, cls: InfoClass, target: Mapping[str, Any],
            limit: int) -> list[dict[str, Any]]:  # fmt: skip
    """Current versions of `cls` records the target's ledger lacks (of its districts and
    industries, if it names any), oldest stored first."""
    db = store.database
    only, params = subject_filter(catalog, target, db)
    return store.query(
        f"SELECT * FROM {db}.{cls.table} FINAL WHERE ingest_provider != {{p:String}} "
        f"AND (record_key, version) NOT IN (SELECT record_key, record_version FROM "
        f"{db}.outbound_ledger WHERE target = {{t:String}} AND class_code = {{c:String}})"
        f"{only} ORDER BY stored_at, record_key LIMIT {{n:UInt32}}",
        {"p": target["returns_as"], "t": target["name"], "c": cls.code, "n": limit, **params},
    )  # fmt: skip


def _change(target: str, code: str, key: str, version: int, subject: str, action: str,
            seq: int, now: dt.datetime) -> Change:  # fmt: skip
    return {"target": target, "delivery_id": delivery_id(target, code, key, version, action, seq),
            "class_code": code, "record_key": key, "record_version": version,
            "subject_id": subject, "action": action, "seq": seq,
            "state": "skipped" if action == "held" else "queued", "attempts": 0,
            "last_error": "", "queued_at": now, "acked_at": None}  # fmt: skip


def upserts(store: Store, cls: InfoClass, target: Mapping[str, Any], rows: list[dict[str, Any]],
            hidden: frozenset[str]) -> list[Change]:  # fmt: skip
    """One change per pending row: an upsert, or a hold when the record is withheld now."""
    last = last_changes(store, target["name"], [str(r["record_key"]) for r in rows])
    now, out = dt.datetime.now(dt.UTC), []
    for row in rows:
        key = str(row["record_key"])
        prev = last.get(key)
        action = "held" if key in hidden else "upsert"
        change = _change(target["name"], cls.code, key, int(row["version"]),
                         str(row["subject_id"]), action, int(prev["seq"]) + 1 if prev else 0, now)  # fmt: skip
        out.append({**change, "record": row})
    return out


def deleted_record_keys(store: Store) -> frozenset[str]:
    """The records an objection's resolution deleted."""
    rows = store.query(
        f"SELECT DISTINCT record_key FROM {store.database}.objections FINAL "
        "WHERE resolution = 'delete'"
    )
    return frozenset(str(r["record_key"]) for r in rows)


def present_rows(
    store: Store, catalog: Catalog, by_class: Mapping[str, list[str]]
) -> dict[str, dict[str, Any]]:
    """Record key → its current stored row, for the keys of each class that are stored."""
    out: dict[str, dict[str, Any]] = {}
    for code, keys in by_class.items():
        table = catalog.get(code).table
        for row in store.query_keyed(
            f"SELECT * FROM {store.database}.{table} FINAL WHERE record_key IN {{k:Keys}}",
            {"k": keys},
        ):
            out[str(row["record_key"])] = row
    return out


def withdrawals(store: Store, catalog: Catalog, target: Mapping[str, Any],
                hidden: frozenset[str]) -> list[Change]:  # fmt: skip
    """A withdraw for each record last sent as an upsert that is out of public use now."""
    deleted = deleted_record_keys(store)
    last = last_changes(store, target["name"], sorted(hidden | deleted))
    sent = {k: c for k, c in last.items() if c["action"] == "upsert"}
    gone: dict[str, list[str]] = {}
    for key, c in sent.items():
        if key not in hidden:
            gone.setdefault(str(c["class_code"]), []).append(key)
    present = present_rows(store, catalog, gone)
    now = dt.datetime.now(dt.UTC)
    return [
        _change(target["name"], str(c["class_code"]), key, int(c["record_version"]),
                str(c["subject_id"]), "withdraw", int(c["seq"]) + 1, now)
        for key, c in sorted(sent.items())
        if key in hidden or key not in present  # deleted, and no newer version re-sent
    ]  # fmt: skip


def restorations(store: Store, catalog: Catalog, target: Mapping[str, Any],
                 hidden: frozenset[str]) -> list[Change]:  # fmt: skip
    """An upsert of the current version for each record withdrawn or held that is in public
    use again (a re-sent version comes as a pending row instead)."""
    wanted = {c.code for c in target_classes(catalog, target)}
    last = {k: c for k, c in last_changes(store, target["name"], None).items()
            if k not in hidden and c["class_code"] in wanted}  # fmt: skip
    by_class: dict[str, list[str]] = {}
    for key, c in last.items():
        by_class.setdefault(str(c["class_code"]), []).append(key)
    present = present_rows(store, catalog, by_class)
    now, out = dt.datetime.now(dt.UTC), []
    for key, c in sorted(last.items()):
        row = present.get(key)
        if row is None or int(row["version"]) < int(c["record_version"]):
            continue
        change = _change(target["name"], str(c["class_code"]), key, int(row["version"]),
                         str(row["subject_id"]), "upsert", int(c["seq"]) + 1, now)  # fmt: skip
        out.append({**change, "record": row})
    return out
