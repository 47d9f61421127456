"""Outbound targets and their ledger (issue 23: 向省级信用信息共享平台全量推送; 互联网+监管).

The store side of the outbound connectors (`credit.outbound`): which targets exist, and the
per-target ledger of every change queued on a target's `credit.out.<target>` topic, with its
state — queued, acked (the target took it), failed (the last attempt did not get through; it
is tried again) — and, for versions found while withheld, held (not sent).

Each change of one record for one target has a sequence number: how many changes of that
record the ledger held for the target before it. Its delivery id is a digest of target,
class, record key, version, action and that number, so a change found again after a crash,
a restart or a lost broker gets the same id, and the target can drop a repeat.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from schemas.catalog import Catalog, InfoClass, attribute_class
from sinks.exceptions import GovernanceError, NotFoundError
from sinks.read.governance import end_row, latest_by_id, save_version
from sinks.store import Store

KINDS = ("http", "directory")
FORMATS = ("platform", "province")
TOPIC_PREFIX = "credit.out."
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
TARGET_COLUMNS = ("name", "kind", "address", "format", "classes", "returns_as", "districts",
                  "industries", "public_only", "created_by", "created_at", "removed_at",
                  "updated_at", "version")  # fmt: skip
LEDGER_COLUMNS = (
    "target", "delivery_id", "class_code", "record_key", "record_version", "subject_id",
    "action", "seq", "state", "attempts", "last_error", "queued_at", "acked_at", "updated_at",
    "version",
)  # fmt: skip


def topic_of(target: str) -> str:
    """The topic a target's changes wait on for its connector."""
    return TOPIC_PREFIX + target


def delivery_id(target: str, class_code: str, record_key: str, version: int, action: str,
                seq: int) -> str:  # fmt: skip
    text = f"{target}|{class_code}|{record_key}|{version}|{action}|{seq}"
    return "dlv-" + hashlib.sha256(text.encode()).hexdigest()[:24]


# -- targets --------------------------------------------------------------------------------


def save_target(store: Store, catalog: Catalog, spec: Mapping[str, Any], by: str) -> dict[str, Any]:
    """Add a target, or change one (same name); the change applies at the connector's next
    round. Raises GovernanceError naming the field that is wrong."""
    name = str(spec.get("name") or "").strip()
    if not _NAME.match(name):
        raise GovernanceError(f"name {name!r}: lower-case letters, digits, '-' or '_', starting "
                              "with a letter, at most 40 (it names the topic credit.out.<name>)")  # fmt: skip
    kind, address = str(spec.get("kind") or "http"), str(spec.get("address") or "").strip()
    if kind not in KINDS:
        raise GovernanceError(f"kind {kind!r}: one of {', '.join(KINDS)}")
    if kind == "http" and not address.startswith(("http://", "https://")):
        raise GovernanceError(f"address {address!r}: an http(s) URL for an http target")
    if kind == "directory" and not Path(address).is_absolute():
        raise GovernanceError(f"address {address!r}: an absolute directory for a file drop")
    fmt = str(spec.get("format") or "platform")
    if fmt not in FORMATS:
        raise GovernanceError(f"format {fmt!r}: one of {', '.join(FORMATS)}")
    classes = sorted({catalog.get(c).code for c in _texts(spec, "classes")})
    now = dt.datetime.now(dt.UTC)
    try:
        old = get_target(store, name)
    except NotFoundError:
        old = {"created_by": by, "created_at": now, "version": 0}
    row = {**old, "name": name, "kind": kind, "address": address, "format": fmt,
           "classes": classes, "returns_as": str(spec.get("returns_as") or "").strip(),
           "districts": _texts(spec, "districts", r"^\d{2,6}$"),
           "industries": _texts(spec, "industries", r"^\S{1,40}$"),
           "public_only": int(bool(spec.get("public_only"))), "removed_at": None}  # fmt: skip
    return save_version(store, "outbound_targets", TARGET_COLUMNS, row)


def _texts(spec: Mapping[str, Any], field: str, pattern: str = "") -> list[str]:
    """A list field given as a list or as comma-separated text, each item checked."""
    raw = spec.get(field) or []
    if not isinstance(raw, str | list | tuple):
        raise GovernanceError(f"{field}: a list, or comma-separated text")
    items = raw.replace("，", ",").split(",") if isinstance(raw, str) else list(raw)
    out = sorted({str(i).strip() for i in items if str(i).strip()})
    bad = [i for i in out if not re.match(pattern, i)]
    if bad:
        raise GovernanceError(f"{field}: {bad} (districts: 2-6 digit code prefixes such as 3202; "
                              "industries: 国民经济行业分类 names or codes)")  # fmt: skip
    return out


def get_target(store: Store, name: str) -> dict[str, Any]:
    return latest_by_id(store, "outbound_targets", "name", name,
                        f"no outbound target '{name}' (`credit targets list`)")  # fmt: skip


def remove_target(store: Store, name: str) -> dict[str, Any]:
    """Stop sending to a target; its ledger stays (what reached it, what did not)."""
    return end_row(store, "outbound_targets", TARGET_COLUMNS, get_target(store, name))


def list_targets(store: Store, with_removed: bool = False) -> list[dict[str, Any]]:
    where = "" if with_removed else "WHERE removed_at IS NULL"
    return store.query(
        f"SELECT * FROM {store.database}.outbound_targets FINAL {where} ORDER BY name"
    )


def target_classes(catalog: Catalog, target: Mapping[str, Any]) -> list[InfoClass]:
    """The classes a target gets: those it names (every class if none), only the public ones
    for a bulk push to an institution."""
    wanted = set(target["classes"])
    return [c for c in catalog if (not wanted or c.code in wanted)
            and (c.disclosure == "public" or not target.get("public_only"))]  # fmt: skip


def subject_filter(
    catalog: Catalog, target: Mapping[str, Any], db: str
) -> tuple[str, dict[str, Any]]:
    """SQL conditions on a class table's rows for a target's districts and industries ('' for
    none), and their parameters."""
    conds = []
    if target.get("districts"):
        conds.append("arrayExists(p -> startsWith(district, p), {ds:Array(String)})")
    if target.get("industries"):
        industry = attribute_class(catalog, "industry")
        conds.append(f"subject_id IN (SELECT subject_id FROM {db}.cls_{industry} FINAL WHERE "
                     "arrayExists(i -> positionUTF8(ifNull(industry, ''), i) > 0, {is:Array(String)}))")  # fmt: skip
    params = {"ds": list(target.get("districts") or []),
              "is": list(target.get("industries") or [])}  # fmt: skip
    return "".join(f" AND {c}" for c in conds), params


# -- the ledger -----------------------------------------------------------------------------


def last_changes(
    store: Store, target: str, keys: Sequence[str] | None
) -> dict[str, dict[str, Any]]:
    """Record key → its latest change for the target (action, seq, class, version, subject),
    for `keys` (None: every record whose latest change is a withdrawal or a hold)."""
    where = "record_key IN {k:Keys}" if keys is not None else "1"
    having = "" if keys is not None else "HAVING last_action IN ('withdraw', 'held')"
    rows = store.query_keyed(
        "SELECT record_key, argMax(action, seq) AS last_action, max(seq) AS last_seq, "
        "argMax(class_code, seq) AS last_class, argMax(record_version, seq) AS last_version, "
        f"argMax(subject_id, seq) AS last_subject FROM {store.database}.outbound_ledger FINAL "
        f"WHERE target = {{t:String}} AND {where} GROUP BY record_key {having}",
        {"k": list(keys or [])} if keys is not None else {}, {"t": target},
    )  # fmt: skip
    return {str(r["record_key"]): {"action": r["last_action"], "seq": r["last_seq"],
                                   "class_code": r["last_class"],
                                   "record_version": r["last_version"],
                                   "subject_id": r["last_subject"]} for r in rows}  # fmt: skip


def save_ledger(store: Store, rows: Iterable[Mapping[str, Any]]) -> None:
    """The next version of each ledger row (one insert)."""
    now = dt.datetime.now(dt.UTC)
    stamp = int(now.timestamp() * 1_000_000)
    out = [[{**r, "updated_at": now, "version": stamp}[c] for c in LEDGER_COLUMNS] for r in rows]
    if out:
        store.insert("outbound_ledger", out, LEDGER_COLUMNS)


def deliveries(store: Store, target: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Delivery id → its ledger row, for `ids`."""
    rows = store.query_keyed(
        f"SELECT * FROM {store.database}.outbound_ledger FINAL WHERE target = {{t:String}} "
        "AND delivery_id IN {d:Keys}", {"d": list(ids)}, {"t": target})  # fmt: skip
    return {str(r["delivery_id"]): r for r in rows}


def unacked(store: Store, target: str, limit: int = 100_000) -> list[dict[str, Any]]:
    """Changes queued and not yet taken by the target, oldest first (to queue again when the
    topic lost them: a broker restart)."""
    return store.query(
        f"SELECT * FROM {store.database}.outbound_ledger FINAL WHERE target = {{t:String}} "
        "AND state IN ('queued', 'failed') ORDER BY queued_at, record_key, seq LIMIT {n:UInt32}",
        {"t": target, "n": limit},
    )


def ledger_summary(store: Store, catalog: Catalog) -> list[dict[str, Any]]:
    """Per target: changes sent (queued on its topic), acknowledged, failing now, lag (not
    yet acknowledged) and its age, held, and the records that reached it against those it
    should have (its share ratio: only what reached the target counts)."""
    targets = list_targets(store)
    if not targets:
        return []
    rows = store.query(
        "SELECT target, countIf(action != 'held') AS sent, countIf(state = 'acked') AS "
        "acknowledged, countIf(state = 'failed') AS failing, countIf(state IN ('queued', "
        "'failed')) AS lag, countIf(action = 'held') AS held, "
        "min(if(state IN ('queued', 'failed'), queued_at, NULL)) AS oldest_unacked, "
        "max(acked_at) AS last_acked "
        f"FROM {store.database}.outbound_ledger FINAL GROUP BY target"
    )
    held_now: dict[str, int] = {}
    for (name, _), n in records_held(store).items():
        held_now[name] = held_now.get(name, 0) + n
    by_name = {str(r["target"]): r for r in rows}
    out = []
    for target in targets:
        row = by_name.get(target["name"], {"sent": 0, "acknowledged": 0, "failing": 0, "lag": 0,
                                           "held": 0, "oldest_unacked": None, "last_acked": None})  # fmt: skip
        row = {**row, "records_acked": held_now.get(target["name"], 0)}
        due = due_records(store, catalog, target)
        out.append({**target, **{k: v for k, v in row.items() if k != "target"},
                    "records_due": due,
                    "share_ratio": round(int(row["records_acked"]) / due, 4) if due else None})  # fmt: skip
    return out


def records_held(store: Store, target: str | None = None,
                 until: dt.datetime | None = None) -> dict[tuple[str, str], int]:  # fmt: skip
    """(target, class) → records the target holds (by `until`): the last change of the
    record it acknowledged is an upsert. The one definition behind the ledger's share ratio
    and the monthly report's 归集比例."""
    rows = store.query(
        "SELECT target, class_code, countIf(a = 'upsert') AS n FROM (SELECT target, "
        "class_code, record_key, argMax(action, seq) AS a FROM "
        f"{store.database}.outbound_ledger FINAL WHERE state = 'acked' "
        "AND (target = {t:String} OR {t:String} = '') AND acked_at < {e:DateTime64(3)} "
        "GROUP BY target, class_code, record_key) GROUP BY target, class_code",
        {"t": target or "", "e": (until or dt.datetime(2300, 1, 1)).replace(tzinfo=None)},
    )
    return {(str(r["target"]), str(r["class_code"])): int(r["n"]) for r in rows}


def due_records(store: Store, catalog: Catalog, target: Mapping[str, Any]) -> int:
    """Records the target should hold: every stored record of its classes (of its districts
    and industries) but its own 回流."""
    db = store.database
    only, params = subject_filter(catalog, target, db)
    parts = [f"SELECT uniqExact(record_key) AS n FROM {db}.{c.table} "
             f"WHERE ingest_provider != {{p:String}}{only}" for c in target_classes(catalog, target)]  # fmt: skip
    if not parts:
        return 0
    rows = store.query(f"SELECT sum(n) AS n FROM ({' UNION ALL '.join(parts)})",
                       {"p": target["returns_as"], **params})  # fmt: skip
    return int(rows[0]["n"] or 0)


def unacked_by_target(store: Store) -> dict[str, tuple[int, dt.datetime]]:
    """Target → (changes not yet acknowledged, the oldest one's queue time), for the gauges."""
    rows = store.query(
        "SELECT target, count() AS n, min(queued_at) AS oldest FROM "
        f"{store.database}.outbound_ledger FINAL WHERE state IN ('queued', 'failed') "
        "GROUP BY target"
    )
    return {str(r["target"]): (int(r["n"]), r["oldest"]) for r in rows}


def ledger_rows(
    store: Store, target: str, state: str = "", limit: int = 200
) -> list[dict[str, Any]]:
    """A target's latest changes, newest first (optionally of one state: failed, queued …)."""
    where = "AND state = {s:String}" if state else ""
    return store.query(
        f"SELECT * FROM {store.database}.outbound_ledger FINAL WHERE target = {{t:String}} "
        f"{where} ORDER BY updated_at DESC, record_key LIMIT {{n:UInt32}}",
        {"t": target, "s": state, "n": limit},
    )
