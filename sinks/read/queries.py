"""Read-side queries over the store (upload fate, collection counts, subjects, figures).

Every query reads class tables with FINAL so re-sent and corrected records count once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from schemas.catalog import Catalog, InfoClass
from schemas.codes import mask_id
from sinks.store import Store
from streams.core.aggregate_figures import HISTORY_MONTHS, month_of


def upload_fate(store: Store, upload_id: str) -> dict[str, Any]:
    """received / stored / rejected / pending of one upload; pending = not yet decided."""
    db = store.database
    ledger = store.query(
        f"SELECT class_code, provider, channel, received, sent, rejected FROM {db}.uploads FINAL "
        "WHERE upload_id = {u:String}",
        {"u": upload_id},
    )
    counts = store.query(
        f"SELECT outcome, count() AS n FROM {db}.outcomes FINAL WHERE upload_id = {{u:String}} "
        "GROUP BY outcome",
        {"u": upload_id},
    )
    by = {str(r["outcome"]): int(r["n"]) for r in counts}
    stored, rejected = by.get("stored", 0), by.get("rejected", 0)
    received = int(ledger[0]["received"]) if ledger else stored + rejected
    pending = max(received - stored - rejected, 0)
    return {
        "upload_id": upload_id,
        "known": bool(ledger) or bool(by),
        # the ledger entry comes after the last row: without it the count may still grow
        "complete": bool(ledger) and pending == 0,
        "class_code": ledger[0]["class_code"] if ledger else None,
        "provider": ledger[0]["provider"] if ledger else None,
        "received": received,
        "stored": stored,
        "rejected": rejected,
        "pending": pending,
    }


def class_summary(store: Store, catalog: Catalog) -> list[dict[str, Any]]:
    """Per class: received (ledger), stored, rejected, and the top rejection reasons."""
    db = store.database
    received = {
        r["class_code"]: int(r["n"])
        for r in store.query(
            f"SELECT class_code, sum(received) AS n FROM {db}.uploads FINAL GROUP BY class_code"
        )
    }
    decided: dict[str, dict[str, int]] = {}
    for r in store.query(
        f"SELECT class_code, outcome, count() AS n FROM {db}.outcomes FINAL GROUP BY class_code, outcome"
    ):
        decided.setdefault(r["class_code"], {})[str(r["outcome"])] = int(r["n"])
    reasons: dict[str, list[dict[str, Any]]] = {}
    for r in store.query(
        f"SELECT class_code, arrayJoin(reason_codes) AS reason, count() AS n FROM {db}.outcomes FINAL "
        "WHERE outcome = 'rejected' GROUP BY class_code, reason ORDER BY n DESC"
    ):
        reasons.setdefault(r["class_code"], []).append(
            {"reason": r["reason"], "count": int(r["n"])}
        )
    out = []
    for code in sorted(set(received) | set(decided)):
        cls = catalog.classes.get(code)
        d = decided.get(code, {})
        stored, rejected = d.get("stored", 0), d.get("rejected", 0)
        got = received.get(code, stored + rejected)
        out.append({
            "class_code": code, "name": cls.name if cls else code, "received": got,
            "stored": stored, "rejected": rejected, "pending": max(got - stored - rejected, 0),
            "top_reasons": reasons.get(code, [])[:5],
        })  # fmt: skip
    return out


def table_counts(store: Store, catalog: Catalog) -> dict[str, int]:
    """Stored records per class (deduplicated), plus dead letters."""
    db = store.database
    counts = {}
    for cls in catalog:
        counts[cls.code] = int(
            store.query(f"SELECT count() AS n FROM {db}.{cls.table} FINAL")[0]["n"]
        )
    counts["dead_letters"] = int(
        store.query(f"SELECT count() AS n FROM {db}.dead_letters FINAL")[0]["n"]
    )
    return counts


def dead_letters(store: Store, upload_id: str, limit: int = 1000) -> list[dict[str, Any]]:
    """The upload's rows that are rejected now: a row whose later version was stored (a
    replay of the corrected row) is no longer listed (`outcomes` holds each row's latest
    fate under `r<row>`)."""
    db = store.database
    return store.query(
        f"SELECT row, class_code, stage, reason_codes, reasons, payload FROM {db}.dead_letters FINAL "
        "WHERE upload_id = {u:String} AND (row IS NULL OR concat('r', toString(row)) IN ("
        f"SELECT row_key FROM {db}.outcomes FINAL WHERE upload_id = {{u:String}} "
        "AND outcome = 'rejected')) ORDER BY row LIMIT {n:UInt32}",
        {"u": upload_id, "n": limit},
    )


def records_of(
    store: Store,
    cls: InfoClass,
    subject_id: str,
    limit: int = 1000,
    *,
    masked: bool = True,
    include_withheld: bool = False,
) -> list[dict[str, Any]]:
    """A subject's current records of one class (corrections applied, duplicates collapsed).

    Records under objection are left out (seed 003 art. 21: withheld while disputed) unless
    `include_withheld` (the applicant, admins); the subject's ID is masked unless `masked=False`.
    """
    from sinks.read.governance import withheld_record_keys

    withheld = [] if include_withheld else sorted(withheld_record_keys(store))
    rows = store.query(
        f"SELECT * FROM {store.database}.{cls.table} FINAL WHERE subject_id = {{s:String}} "
        "AND NOT has({w:Array(String)}, record_key) ORDER BY event_date DESC LIMIT {n:UInt32}",
        {"s": subject_id, "w": withheld, "n": limit},
    )
    if masked and cls.subject_kind == "natural":
        for row in rows:
            row["subject_id"] = mask_id(row["subject_id"])
            if row.get(cls.subject.code):
                row[cls.subject.code] = mask_id(str(row[cls.subject.code]))
    return rows


def rows_by_provider(store: Store) -> list[dict[str, Any]]:
    """received (ledger) / stored / rejected (row outcomes) per class and provider."""
    db = store.database
    received = store.query(
        f"SELECT class_code, provider, sum(received) AS n FROM {db}.uploads FINAL "
        "GROUP BY class_code, provider"
    )
    decided = store.query(
        f"SELECT class_code, provider, countIf(outcome = 'stored') AS stored, "
        f"countIf(outcome = 'rejected') AS rejected FROM {db}.outcomes FINAL "
        "GROUP BY class_code, provider"
    )
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for r in received:
        out[(r["class_code"], r["provider"])] = {"class_code": r["class_code"],
            "provider": r["provider"], "received": int(r["n"]), "stored": 0, "rejected": 0}  # fmt: skip
    for r in decided:
        entry = out.setdefault((r["class_code"], r["provider"]), {"class_code": r["class_code"],
            "provider": r["provider"], "received": 0})  # fmt: skip
        entry["stored"], entry["rejected"] = int(r["stored"]), int(r["rejected"])
    return list(out.values())


def aggregates_of(store: Store, subject_id: str) -> list[dict[str, Any]]:
    """The latest rolling figures of a subject, one row per utility / fund, each with its
    monthly history (`history`, oldest month first)."""
    rows = store.query(
        f"SELECT * EXCEPT (monthly) FROM {store.database}.aggregates FINAL "
        "WHERE subject_id = {s:String} AND facts > 0 ORDER BY kind",
        {"s": subject_id},
    )
    history = monthly_history(store, subject_id, current_figures(rows))
    for row in rows:
        row["history"] = history.get(row["kind"], [])
        if row["subject_kind"] == "natural":
            row["subject_id"] = mask_id(row["subject_id"])
    return rows


def current_figures(rows: Iterable[Mapping[str, Any]]) -> dict[str, tuple[int, dt.date]]:
    """kind → (version, as_of) of a subject's `aggregates` rows (with facts)."""
    return {str(r["kind"]): (int(r["version"]), r["as_of"]) for r in rows}


def monthly_history(
    store: Store, subject_id: str, current: Mapping[str, tuple[int, dt.date]] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """kind → the subject's months in `aggregates_monthly`: those of the current figures, and
    before their 24-month window the last value each month had (the long history).

    A month the current figures lack inside their window is a month whose facts went away
    (withheld, deleted, expired), so an older row of it is not shown. `current`: the
    subject's figures as the caller has just read them (`current_figures`), else read here.
    """
    db = store.database
    if current is None:
        current = current_figures(store.query(
            f"SELECT kind, version, as_of FROM {db}.aggregates FINAL "
            "WHERE subject_id = {s:String} AND facts > 0",
            {"s": subject_id},
        ))  # fmt: skip
    rows = store.query(
        "SELECT * EXCEPT (subject_id, subject_kind, updated_at) "
        f"FROM {db}.aggregates_monthly FINAL WHERE subject_id = {{s:String}} "
        "ORDER BY kind, month",
        {"s": subject_id},
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        kind, version = row.pop("kind"), int(row.pop("version"))
        if kind not in current:
            continue
        now, as_of = current[kind]
        window = month_of(as_of) - HISTORY_MONTHS
        if version == now or month_of(row["month"]) < window:
            out.setdefault(kind, []).append(row)
    return out
