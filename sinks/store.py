"""The ClickHouse store: one client factory for a server URL or the embedded chDB path.

chDB lets one process own a data path; every reader of the embedded store therefore goes
through the process that opened it (the `credit up` process serves queries over HTTP).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from schemas.catalog import Catalog
from sinks.ddl import all_statements
from sinks.exceptions import StoreError
from sinks.upgrade import existing_tables, upgrade

log = logging.getLogger("credit.store")


class Store:
    """A clickhouse-connect client behind a lock (chDB handles are not shared across threads)."""

    def __init__(self, client: Client, database: str, embedded: bool) -> None:
        self.client = client
        self.database = database
        self.embedded = embedded
        self._lock = threading.RLock()

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        with self._lock:
            try:
                return self.client.command(sql, parameters=parameters)
            except Exception as exc:
                raise StoreError(f"{exc}") from exc

    def query(
        self,
        sql: str,
        parameters: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Rows as dicts (column name → value)."""
        with self._lock:
            try:
                result = self.client.query(sql, parameters=parameters, settings=settings)
            except Exception as exc:
                raise StoreError(f"{exc}") from exc
        names = result.column_names
        return [dict(zip(names, row, strict=True)) for row in result.result_rows]

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> None:
        if not rows:
            return
        with self._lock:
            try:
                self.client.insert(table, rows, column_names=list(columns), database=self.database)
            except Exception as exc:
                raise StoreError(f"insert into {table}: {exc}") from exc

    def apply_ddl(self, catalog: Catalog) -> int:
        """Create what is missing (a no-op the second time), then upgrade an older store once
        (`sinks.upgrade`: backfill the subject index, add insert deduplication)."""
        statements = all_statements(catalog, self.database)
        before = existing_tables(self)
        for sql in statements:
            self.command(sql)
        for step in upgrade(self, catalog, before):
            log.info("store %s upgraded: %s", self.database, step)
        return len(statements)

    def close(self) -> None:
        with self._lock:
            self.client.close()


def open_embedded(path: Path, database: str) -> Store:
    path.mkdir(parents=True, exist_ok=True)
    try:
        client = clickhouse_connect.get_client(interface="chdb", path=str(path))
    except Exception as exc:
        raise StoreError(f"cannot open the embedded store at {path}: {exc}") from exc
    return Store(client, database, embedded=True)


def open_server(url: str, database: str) -> Store:
    parsed = urlparse(url)
    try:
        client = clickhouse_connect.get_client(dsn=url)
    except Exception as exc:
        raise StoreError(
            f"cannot reach ClickHouse at {parsed.hostname}:{parsed.port}: {exc}"
        ) from exc
    return Store(client, database, embedded=False)
