"""DDL for the store: static tables from `sinks/ddl/*.sql`, class tables from the catalog.

One source for chDB and a ClickHouse server; every statement is `IF NOT EXISTS`, so applying
the DDL twice is a no-op. The subject index (`sinks.ddl.subject_index`) comes after the class
tables its views read. Every table the sink writes keeps the hashes of its last
`DEDUP_WINDOW` inserts (`non_replicated_deduplication_window`), so a batch re-inserted with
the same `insert_deduplication_token` after a crash is dropped (`sinks.write.writer`); a replicated
table deduplicates the same way by default.
"""

from __future__ import annotations

from pathlib import Path

from schemas.catalog import Catalog, FieldSpec, InfoClass
from sinks.ddl.retention import expiry_sql
from sinks.ddl.subject_index import DEDUP_WINDOW, index_statements

DDL_DIR = Path(__file__).parent  # the .sql files sit beside this module
INTENT_TABLE = "sink_batches"  # the sink's offset intents (095_sink_batches.sql)

_CH_TYPES = {
    "string": "String",
    "month": "String",
    "int": "Int64",
    "amount": "Decimal(18, 2)",
    "quantity": "Float64",
    "ratio": "Float64",
    "bool": "Bool",
    "date": "Date32",
    "period_start": "Date32",
    "period_end": "Date32",
}

# Columns every class table has besides the catalog fields, in insert order.
META_COLUMNS: tuple[tuple[str, str], ...] = (
    ("record_key", "String"),
    ("version", "UInt64"),
    ("subject_id", "String"),
    ("subject_kind", "LowCardinality(String)"),
    ("subject_name", "String"),
    ("district", "LowCardinality(String)"),
    ("name_mismatch", "UInt8"),
    ("code_flag", "LowCardinality(String)"),
    ("event_date", "Date32"),
    ("behaviour_end", "Date32"),
    ("ingest_provider", "LowCardinality(String)"),
    ("ingest_channel", "LowCardinality(String)"),
    ("ingest_upload_id", "String"),
    ("ingest_row", "Nullable(Int64)"),
    ("ingest_source_key", "String"),
    ("ingest_received_at", "DateTime64(3)"),
    ("stored_at", "DateTime64(3)"),
)


def column_type(spec: FieldSpec) -> str:
    if spec.type == "enum":
        return "LowCardinality(Nullable(String))"
    return f"Nullable({_CH_TYPES[spec.type]})"


def class_columns(cls: InfoClass) -> list[tuple[str, str]]:
    """(name, ClickHouse type) of a class table, meta columns first."""
    return list(META_COLUMNS) + [(f.name, column_type(f)) for f in cls.fields]


def class_table_sql(cls: InfoClass, db: str) -> str:
    cols = ",\n    ".join(f"`{name}` {ctype}" for name, ctype in class_columns(cls))
    expires = expiry_sql(cls)
    ttl = f"\nTTL {expires} DELETE" if expires else ""
    return (
        f"CREATE TABLE IF NOT EXISTS {db}.{cls.table}\n(\n    {cols}\n)\n"
        f"ENGINE = ReplacingMergeTree(version)\n"
        f"PARTITION BY toYear(event_date)\n"
        f"ORDER BY (subject_id, record_key){ttl}\n"
        f"SETTINGS non_replicated_deduplication_window = {DEDUP_WINDOW}\n"
        f"COMMENT '{cls.name}'"
    )


def static_statements(db: str) -> list[str]:
    return [
        p.read_text(encoding="utf-8").format(db=db, dedup_window=DEDUP_WINDOW)
        for p in sorted(DDL_DIR.glob("[0-9]*.sql"))
    ]


def all_statements(catalog: Catalog, db: str) -> list[str]:
    """Static tables, class tables, then the subject index and its views (which read them)."""
    classes = [class_table_sql(cls, db) for cls in catalog]
    return static_statements(db) + classes + index_statements(catalog, db)
