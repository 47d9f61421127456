"""The subject index: every record's fields again, ordered by subject, for credit reports.

A credit report needs one subject's records from ~120 class tables. Asking each table costs
per table whether or not it holds anything, and a point lookup in a class table reads a
whole granule per monthly part: at a million records that is hundreds of ms per report.
The index turns the report into one primary-key lookup. It is filled by one materialized
view per class (the sink needs no change) with the class's fields as a Map of text, and is
a ReplacingMergeTree on the class table's key plus the class, so re-sends and corrections
collapse the same way. Each entry expires with its record: the class tables' TTL (negative
information about a natural person, 5 years after the behaviour ended; `sinks.ddl.tables`) is
repeated here, so the copy never outlives the original.

`index_statements` come after the class tables in `sinks.ddl.tables.all_statements`; a store created
before them gets them at its next start, and `Store.apply_ddl` then fills the index once with
`backfill_index`. Without the index (`drop_index`), `subject_records` asks the class tables
instead (slower, same answer).
"""

from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from schemas.catalog import Catalog, FieldSpec, InfoClass
from sinks.ddl.retention import expiry_sql
from sinks.store import Store

INDEX_TABLE = "subject_index"
# Inserts per table whose deduplication tokens are remembered (`sinks.ddl.tables` uses it for every
# table): a crashed batch is re-inserted right after the restart, well within it.
DEDUP_WINDOW = 1000
NEVER = "2149-06-01"  # the Date type's last month: entries of classes without a TTL
_INDEXED: weakref.WeakKeyDictionary[Store, bool] = weakref.WeakKeyDictionary()


def view_name(cls: InfoClass) -> str:
    return f"idx_{cls.code}"


def _expires(cls: InfoClass) -> str:
    # the class table's TTL (`sinks.ddl.retention`)
    return expiry_sql(cls) or f"toDate('{NEVER}')"


def _select(cls: InfoClass, db: str) -> str:
    fields = ", ".join(f"'{f.name}', toString(`{f.name}`)" for f in cls.fields)
    return (
        f"SELECT subject_id, '{cls.code}' AS class_code, record_key, version, event_date, "
        f"subject_name, district, {_expires(cls)} AS expires, map({fields}) AS fields "
        f"FROM {db}.{cls.table}"
    )


def index_statements(catalog: Catalog, db: str) -> list[str]:
    """The index table and one materialized view per class feeding it (IF NOT EXISTS)."""
    table = (
        f"CREATE TABLE IF NOT EXISTS {db}.{INDEX_TABLE}\n(\n"
        "    subject_id    String,\n    class_code    LowCardinality(String),\n"
        "    record_key    String,\n    version       UInt64,\n    event_date    Date32,\n"
        "    subject_name  String,\n    district      LowCardinality(String),\n"
        "    expires       Date,\n    fields        Map(String, Nullable(String))\n)\n"
        "ENGINE = ReplacingMergeTree(version)\n"
        "ORDER BY (subject_id, class_code, record_key)\n"
        "TTL expires DELETE\n"
        # the class tables' inserts are deduplicated into their views' target too
        f"SETTINGS index_granularity = 1024, non_replicated_deduplication_window = {DEDUP_WINDOW}\n"
        "COMMENT 'every record by subject, for credit reports'"
    )
    views = [
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{view_name(cls)} TO {db}.{INDEX_TABLE}\n"
        f"AS {_select(cls, db)}"
        for cls in catalog
    ]
    return [table, *views]


def has_index(store: Store) -> bool:
    """Does the store's database have the index? (A yes is remembered per Store.)"""
    if _INDEXED.get(store):
        return True
    rows = store.query(
        "SELECT count() AS n FROM system.tables WHERE database = {d:String} AND name = {t:String}",
        {"d": store.database, "t": INDEX_TABLE},
    )
    found = bool(rows[0]["n"])
    if found:
        _INDEXED[store] = True
    return found


def drop_index(store: Store, catalog: Catalog) -> None:
    """Remove the index and its views (class tables untouched); reports fall back to them."""
    for cls in catalog:
        store.command(f"DROP VIEW IF EXISTS {store.database}.{view_name(cls)}")
    store.command(f"DROP TABLE IF EXISTS {store.database}.{INDEX_TABLE}")
    _INDEXED.pop(store, None)


def backfill_index(store: Store, catalog: Catalog) -> int:
    """Index the records already stored, once: only while the index is still empty."""
    db = store.database
    if store.query(f"SELECT count() AS n FROM {db}.{INDEX_TABLE}")[0]["n"]:
        return 0
    for cls in catalog:
        store.command(f"INSERT INTO {db}.{INDEX_TABLE} {_select(cls, db)}")
    return len(catalog)


def _typed(spec: FieldSpec, text: str | None) -> Any:
    """A field's value back from the index's text, typed as the class table types it."""
    if text is None:
        return None
    if spec.type == "int":
        return int(text)
    if spec.type == "amount":
        return Decimal(text)
    if spec.type in ("quantity", "ratio"):
        return float(text)
    if spec.type == "bool":
        return text == "true"
    if spec.type in ("date", "period_start", "period_end"):
        return dt.date.fromisoformat(text)
    return text


def _latest(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Highest version per record key (FINAL's rule, applied after a point lookup, where
    FINAL would merge the key ranges of every part), newest event first."""
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:
        seen = latest.get(row["record_key"])
        if seen is None or row["version"] >= seen["version"]:
            latest[row["record_key"]] = row
    return sorted(latest.values(), key=lambda r: (-r["event_date"].toordinal(), r["record_key"]))


def subject_records(
    store: Store, subject_id: str, classes: Sequence[InfoClass]
) -> dict[str, list[dict[str, Any]]]:
    """Latest records of the subject per class code, among `classes` (only those holding any).

    Each row has record_key, version, event_date, subject_name, district and the class's
    fields, typed as in the class table.
    """
    db, by_code = store.database, {c.code: c for c in classes}
    if not by_code:
        return {}
    grouped: dict[str, list[dict[str, Any]]] = {}
    if has_index(store):
        for row in store.query(
            "SELECT class_code, record_key, version, event_date, subject_name, district, fields "
            f"FROM {db}.{INDEX_TABLE} WHERE subject_id = {{s:String}} "
            "AND class_code IN {codes:Array(String)}",
            {"s": subject_id, "codes": list(by_code)},
        ):
            cls, fields = by_code[row.pop("class_code")], row.pop("fields")
            row |= {f.name: _typed(f, fields.get(f.name)) for f in cls.fields}
            grouped.setdefault(cls.code, []).append(row)
    else:
        for cls in _classes_holding(store, subject_id, classes):
            names = ", ".join(f"`{f.name}`" for f in cls.fields)
            grouped[cls.code] = store.query(
                f"SELECT record_key, version, event_date, subject_name, district, {names} "
                f"FROM {db}.{cls.table} WHERE subject_id = {{s:String}}",
                {"s": subject_id},
            )
    return {code: _latest(grouped[code]) for code in sorted(grouped)}


def _classes_holding(
    store: Store, subject_id: str, classes: Sequence[InfoClass]
) -> list[InfoClass]:
    """Without the index: one pass over every class table with `merge()`."""
    regex = "^(" + "|".join(c.table for c in classes) + ")$"
    rows = store.query(
        f"SELECT DISTINCT substring(_table, 5) AS c FROM merge('{store.database}', '{regex}') "
        "WHERE subject_id = {s:String}",
        {"s": subject_id},
    )
    by_code = {c.code: c for c in classes}
    return [by_code[str(r["c"])] for r in rows]
