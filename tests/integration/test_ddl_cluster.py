"""The DDL: applying it twice is a no-op; the replicated-cluster variant is valid SQL."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from credit.cli import main as credit_main
from schemas.catalog import Catalog
from sinks.ddl.cluster import cluster_statements, cluster_variant, render
from sinks.ddl.subject_index import DEDUP_WINDOW, index_statements
from sinks.ddl.tables import all_statements
from sinks.ddl.upgrade import DEDUP_SETTING, SINK_TABLES, apply_ddl, existing_tables, upgrade
from sinks.store import Store

pytestmark = pytest.mark.integration


def _tables(store: Store) -> list[tuple[str, str]]:
    rows = store.query(
        "SELECT name, engine_full FROM system.tables WHERE database = {d:String} ORDER BY name",
        {"d": store.database},
    )
    return [(r["name"], r["engine_full"]) for r in rows]


def test_applying_the_ddl_twice_changes_nothing(store: Store, catalog: Catalog) -> None:
    row = ["u1", "legal_arrears", "供水公司", "file", "a.xlsx", 3, 3, 0, "2025-01-01", "2025-01-01",
           "供水公司", "", "2024-12-01", "2024-12-31"]  # fmt: skip
    store.command(
        f"INSERT INTO {store.database}.uploads VALUES ({', '.join(repr(v) for v in row)})"
    )
    before = _tables(store)
    counts = store.query(f"SELECT count() AS n FROM {store.database}.uploads")

    assert apply_ddl(store, catalog) == len(all_statements(catalog, store.database))
    assert _tables(store) == before
    assert store.query(f"SELECT count() AS n FROM {store.database}.uploads") == counts
    assert len(before) == len(all_statements(catalog, store.database)) - 1  # minus CREATE DATABASE


def test_cluster_variant_replicates_every_table(store: Store, catalog: Catalog) -> None:
    plain = all_statements(catalog, "credit")
    tables = sum("CREATE TABLE" in s for s in plain)
    statements = cluster_statements(catalog, "credit", "main")
    assert len(statements) == len(plain) + tables
    assert all(" ON CLUSTER main" in s for s in statements)
    engines = [m.group(1) for s in statements for m in [re.search(r"ENGINE = (\w+)\(", s)] if m]
    assert len(engines) == 2 * tables
    assert all(e.startswith("Replicated") or e == "Distributed" for e in engines)
    assert engines.count("Distributed") == tables
    local = next(s for s in statements if "cls_legal_arrears_local ON CLUSTER" in s)
    assert (
        "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/credit/cls_legal_arrears', "
        "'{replica}', version)" in local
    )
    assert "ORDER BY (subject_id, record_key)" in local
    natural = next(s for s in statements if "cls_natural_arrears_local ON CLUSTER" in s)
    assert "TTL toDate(behaviour_end) + INTERVAL 5 YEAR DELETE" in natural
    audit = next(s for s in statements if "audit_log_local ON CLUSTER" in s)
    assert (
        "ReplicatedMergeTree('/clickhouse/tables/{shard}/credit/audit_log', '{replica}')" in audit
    )
    assert render(statements).count(";\n") == len(statements)


def test_index_views_read_and_write_local_tables_on_a_cluster(catalog: Catalog) -> None:
    statements = cluster_variant(index_statements(catalog, "credit"), "credit", "main")
    view = next(s for s in statements if "idx_legal_arrears" in s)
    assert view.startswith(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS credit.idx_legal_arrears ON CLUSTER main "
        "TO credit.subject_index_local"
    )
    assert view.endswith("FROM credit.cls_legal_arrears_local")


def test_cluster_variant_parses_in_clickhouse(store: Store, catalog: Catalog) -> None:
    """chDB has no cluster to run it on, but its parser is the server's: formatQuery each."""
    index = cluster_variant(index_statements(catalog, "credit"), "credit", "main")
    for sql in cluster_statements(catalog, "credit", "main") + index:
        formatted = store.query("SELECT formatQuery({q:String}) AS f", {"q": sql})[0]["f"]
        assert "ON CLUSTER main" in formatted


def test_cluster_names_must_be_identifiers(catalog: Catalog) -> None:
    with pytest.raises(ValueError, match="cluster"):
        cluster_statements(catalog, "credit", "main; DROP")


def test_credit_ddl_prints_or_writes_the_sql(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDIT_CLICKHOUSE_DATABASE", "credit_prod")
    assert credit_main(["ddl"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("CREATE DATABASE IF NOT EXISTS credit_prod;\n")
    out = tmp_path / "cluster.sql"
    assert credit_main(["ddl", "--cluster", "main", "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8").count(" ON CLUSTER main") == out.read_text().count(";\n")
    assert credit_main(["ddl", "--cluster", "main;drop"]) == 2


def test_an_older_store_gets_insert_deduplication_once(store: Store, catalog: Catalog) -> None:
    """Tables created before the dedup window get it at the next start, and only then."""
    for table in ("outcomes", "cls_legal_arrears"):
        store.command(f"ALTER TABLE {store.database}.{table} RESET SETTING {DEDUP_SETTING}")
    before = existing_tables(store)
    assert DEDUP_SETTING not in before["outcomes"]
    assert upgrade(store, catalog, before) == [
        f"outcomes: {DEDUP_SETTING} = {DEDUP_WINDOW}",
        f"cls_legal_arrears: {DEDUP_SETTING} = {DEDUP_WINDOW}",
    ]
    assert upgrade(store, catalog, existing_tables(store)) == []


def test_every_table_the_sink_writes_deduplicates_inserts(store: Store, catalog: Catalog) -> None:
    tables = existing_tables(store)
    for table in (*SINK_TABLES, *(cls.table for cls in catalog)):
        assert f"{DEDUP_SETTING} = {DEDUP_WINDOW}" in tables[table], table


def test_an_older_upload_ledger_gets_its_department_district_and_period_columns_once(
    store: Store, catalog: Catalog
) -> None:
    """Ledgers from before uploads named their department, district and period read as ''
    and NULL after the upgrade, and the columns come back in the current order."""
    from sinks.write.rows import UPLOAD_COLUMNS

    db = store.database
    added = ("department", "district", "period_start", "period_end")
    for column in added:
        store.command(f"ALTER TABLE {db}.uploads DROP COLUMN {column}")
    old = [c for c in UPLOAD_COLUMNS if c not in added]
    at = dt.datetime(2025, 1, 1)
    store.insert("uploads", [["u-old", "legal_arrears", "水务", "file", "a.xlsx", 1, 1, 0, at, at]],
                 old)  # fmt: skip
    assert upgrade(store, catalog, existing_tables(store)) == [
        f"uploads: {c} column" for c in added
    ]
    assert upgrade(store, catalog, existing_tables(store)) == []
    row = store.query(f"SELECT {', '.join(added)} FROM {db}.uploads WHERE upload_id = 'u-old'")
    assert row == [{"department": "", "district": "", "period_start": None, "period_end": None}]
    names = [r["name"] for r in store.query(f"DESCRIBE TABLE {db}.uploads")]
    assert names == list(UPLOAD_COLUMNS)
