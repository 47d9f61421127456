"""Bring a store created by an earlier version up to the current DDL, once.

`CREATE … IF NOT EXISTS` adds what is missing but never changes what exists. Two changes
need more than that, and both are done only when they are still missing, so a second start
does nothing:

* the subject index arrived after stores already held records: when `apply_ddl` has just
  created it next to existing class tables, the records already stored are indexed
  (`backfill_index`). Rows a sink in another process inserts meanwhile may be indexed twice;
  the index is a ReplacingMergeTree on the record key and readers keep the latest version.
* insert deduplication needs `non_replicated_deduplication_window` on every table the sink
  writes; older tables get it with `ALTER TABLE … MODIFY SETTING` (metadata only).
* the upload ledger names the catalog department a provider reported as, its district unit
  and the period its data covers: an older `uploads` gets the `department`, `district`,
  `period_start` and `period_end` columns (older uploads read as '' and NULL);
* the figures are recomputed from the stored facts (`sinks.write.figures`): an older
  `aggregates` gets `as_of` and `facts` (its rows read as of their update, with facts);
* the sink's intents name their whole batch (`sinks.write.batches`): an older `sink_batches` gets
  the `batch` column (`ADD COLUMN`, metadata only; its rows read as older intents).
"""

from __future__ import annotations

import logging

from schemas.catalog import Catalog
from sinks.ddl.subject_index import DEDUP_WINDOW, INDEX_TABLE, backfill_index
from sinks.ddl.tables import INTENT_TABLE, all_statements
from sinks.store import Store

DEDUP_SETTING = "non_replicated_deduplication_window"
# columns the upload ledger gained, in table order (an ADD COLUMN appends)
UPLOAD_COLUMNS_ADDED = (
    ("department", "LowCardinality(String) DEFAULT ''"),
    ("district", "LowCardinality(String) DEFAULT ''"),
    ("period_start", "Nullable(Date32)"),
    ("period_end", "Nullable(Date32)"),
)
# columns `aggregates` gained when the figures moved into the store (issue 20)
AGGREGATE_COLUMNS_ADDED = (
    ("as_of", "Date DEFAULT toDate(updated_at)"),
    ("facts", "UInt32 DEFAULT 1"),
)
SINK_TABLES = ("dead_letters", "outcomes", "uploads", "subjects", "aggregates", INDEX_TABLE)


log = logging.getLogger("credit.store")


def existing_tables(store: Store) -> dict[str, str]:
    """Table name → CREATE statement, for the store's database."""
    rows = store.query(
        "SELECT name, create_table_query AS q FROM system.tables WHERE database = {d:String}",
        {"d": store.database},
    )
    return {str(r["name"]): str(r["q"]) for r in rows}


def upgrade(store: Store, catalog: Catalog, before: dict[str, str]) -> list[str]:
    """Upgrade steps for a store whose tables were `before` this start's DDL; what was done."""
    done = []
    if INDEX_TABLE not in before and any(cls.table in before for cls in catalog):
        backfill_index(store, catalog)
        done.append(f"{INDEX_TABLE}: backfilled from the class tables")
    for table in (*SINK_TABLES, *(cls.table for cls in catalog)):
        query = before.get(table)
        if query is not None and DEDUP_SETTING not in query:
            store.command(
                f"ALTER TABLE {store.database}.{table} MODIFY SETTING {DEDUP_SETTING} = {DEDUP_WINDOW}"
            )
            done.append(f"{table}: {DEDUP_SETTING} = {DEDUP_WINDOW}")
    done += _add_columns(store, "uploads", before.get("uploads"), UPLOAD_COLUMNS_ADDED)
    done += _add_columns(store, "aggregates", before.get("aggregates"), AGGREGATE_COLUMNS_ADDED)
    intents = before.get(INTENT_TABLE)
    if intents is not None and "`batch`" not in intents and " batch " not in intents:
        store.command(
            f"ALTER TABLE {store.database}.{INTENT_TABLE} ADD COLUMN IF NOT EXISTS "
            "batch String DEFAULT ''"
        )
        done.append(f"{INTENT_TABLE}: batch column")
    return done


def _add_columns(
    store: Store, table: str, query: str | None, columns: tuple[tuple[str, str], ...]
) -> list[str]:
    """`ADD COLUMN` (metadata only) for each column an existing table lacks."""
    done = []
    for column, ddl in columns:
        if query is not None and f"`{column}`" not in query and f" {column} " not in query:
            store.command(
                f"ALTER TABLE {store.database}.{table} ADD COLUMN IF NOT EXISTS {column} {ddl}"
            )
            done.append(f"{table}: {column} column")
    return done


def apply_ddl(store: Store, catalog: Catalog) -> int:
    """Create what is missing (a no-op the second time), then upgrade an older store once
    (backfill the subject index, add insert deduplication); how many statements ran."""
    statements = all_statements(catalog, store.database)
    store.forget_types()
    before = existing_tables(store)
    for sql in statements:
        store.command(sql)
    for step in upgrade(store, catalog, before):
        log.info("store %s upgraded: %s", store.database, step)
    return len(statements)
