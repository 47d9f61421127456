"""A store from before the figures moved into the store (issue 20): its `aggregates` rows,
written by the worker, gain `as_of` and `facts` at the next start, and the daily pass
recomputes them from the facts the store holds."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest

from schemas.catalog import Catalog
from sinks.ddl.subject_index import DEDUP_WINDOW
from sinks.ddl.tables import DDL_DIR
from sinks.ddl.upgrade import apply_ddl
from sinks.store import open_embedded
from sinks.write.figures import FigureKeeper

pytestmark = pytest.mark.integration


def test_worker_written_figures_are_upgraded_then_recomputed(
    chdb_path: Path, catalog: Catalog
) -> None:
    db = f"t_up_{uuid.uuid4().hex[:8]}"
    store = open_embedded(chdb_path, db)
    try:
        store.command(f"CREATE DATABASE IF NOT EXISTS {db}")
        ddl = (DDL_DIR / "050_aggregates.sql").read_text(encoding="utf-8")
        old = (
            ddl.split("    updated_at        DateTime64(3),")[0] + "    updated_at DateTime64(3)\n)"
        )
        old += "\nENGINE = ReplacingMergeTree(version)\nORDER BY (subject_id, kind)"
        store.command(old.format(db=db, dedup_window=DEDUP_WINDOW))
        store.command(
            f"INSERT INTO {db}.aggregates (subject_id, subject_kind, kind, arrears_flag, "
            "arrears_amount, extra, version, updated_at) "
            "VALUES ('S1', 'legal', 'water', 1, 150977.0, '{}', 1, '2026-10-01 08:00:00')"
        )
        apply_ddl(store, catalog)
        (row,) = store.query(f"SELECT as_of, facts FROM {db}.aggregates FINAL")
        assert (row["as_of"], row["facts"]) == (dt.date(2026, 10, 1), 1)
        assert apply_ddl(store, catalog)  # a second start changes nothing
        keeper = FigureKeeper(store, catalog, today=lambda: dt.date(2026, 12, 7))
        assert keeper.refresh_stale() == 1 and keeper.refresh_stale() == 0
        (row,) = store.query(
            f"SELECT as_of, facts, arrears_flag, arrears_amount FROM {db}.aggregates FINAL"
        )  # S1 has no facts in the store: its old figures are withdrawn, not kept
        assert row == {"as_of": dt.date(2026, 12, 7), "facts": 0, "arrears_flag": 0,
                       "arrears_amount": 0.0}  # fmt: skip
    finally:
        store.command(f"DROP DATABASE IF EXISTS {db}")
