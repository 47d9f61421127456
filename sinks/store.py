"""The ClickHouse store: one client factory for a server URL or the embedded chDB path.

chDB lets one process own a data path; every reader of the embedded store therefore goes
through the process that opened it (the `credit up` process serves queries over HTTP).
"""

from __future__ import annotations

import logging
import re
import struct
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import clickhouse_connect
import pyarrow as pa
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DataError

from sinks.exceptions import StoreError, StoreRejectedError

log = logging.getLogger("credit.store")


# ClickHouse error codes that mean "this data", not "this store": parse and type errors,
# values out of a type's range, NULL into a non-Nullable column, violated constraints.
DATA_ERROR_CODES = frozenset({6, 26, 27, 32, 38, 41, 53, 69, 70, 72, 117, 131, 321, 349, 407, 469})
_CODE = re.compile(r"Code: (\d+)")


def refuses_data(exc: BaseException) -> bool:
    """Did ClickHouse (or the client serializing for it) refuse the data itself?

    clickhouse-connect checks values against the column types before sending: its DataError
    and the ValueError/TypeError/ArithmeticError/struct.error its converters raise. From the
    server, the error codes in DATA_ERROR_CODES. Anything else (connection refused, timeouts,
    unknown database, too many parts) is the store's state: worth retrying.
    """
    if isinstance(exc, DataError | ValueError | TypeError | ArithmeticError | struct.error):
        return True
    found = _CODE.search(str(exc))
    return found is not None and int(found.group(1)) in DATA_ERROR_CODES


def _explain(exc: BaseException) -> str:
    """The error with its root cause (the client's DataError says only which column)."""
    root = exc
    while root.__cause__ is not None:
        root = root.__cause__
    return f"{exc} ({root})" if root is not exc and str(root) not in str(exc) else str(exc)


def _insert_settings(dedup_token: str | None) -> dict[str, Any]:
    """Settings of every insert. Why no partition limit: ClickHouse refuses an insert whose
    rows fall in more than 100 partitions with TOO_MANY_PARTS, which reads as the store's
    state and was retried forever — a department's backlog of 10 years of penalties stalled
    the sink. Class tables are partitioned by year now (`sinks.ddl.tables`); stores made before
    keep their monthly partitions and take such a batch as one part per month."""
    settings: dict[str, Any] = {"max_partitions_per_insert_block": 0}
    if dedup_token:
        settings["insert_deduplication_token"] = dedup_token
    return settings


class Store:
    """A clickhouse-connect client behind a lock (chDB handles are not shared across threads)."""

    def __init__(self, client: Client, database: str, embedded: bool) -> None:
        self.client = client
        self.database = database
        self.embedded = embedded
        # told the operation of every failed call (the owning process counts them as
        # `credit_store_errors_total`); the store itself knows nothing of metrics
        self.on_error: Callable[[str], None] | None = None
        self._lock = threading.RLock()
        # column → type per table: without them clickhouse-connect asks `DESCRIBE TABLE`
        # before every insert (a second query each time); forgotten when the DDL is applied
        self._types: dict[str, dict[str, str]] = {}
        self._probes: set[str] = set()  # Memory tables of `query_keyed`, made at first use
        self._loaded: dict[str, tuple[str, ...]] = {}  # what each of them holds now

    def _failed(self, operation: str) -> None:
        if self.on_error is not None:
            self.on_error(operation)

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        with self._lock:
            try:
                return self.client.command(sql, parameters=parameters)
            except Exception as exc:
                self._failed("command")
                statement = " ".join(sql.split())[:100]
                raise StoreError(f"{exc} (in: {statement})") from exc

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
                self._failed("query")
                raise StoreError(f"{exc}") from exc
        names = result.column_names
        return [dict(zip(names, row, strict=True)) for row in result.result_rows]

    def query_keyed(
        self,
        sql: str,
        keys: Mapping[str, Sequence[str]],
        parameters: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """`query` with sets of string keys: `{name:Keys}` in `sql` stands for the set
        `keys[name]` (`subject_id IN {s:Keys}`, `record_key NOT IN {h:Keys}`).

        Why: chDB spends ~4 µs per element parsing an `Array(String)` parameter, and the
        sink's look-ups name thousands of subjects and record keys per batch (a third of its
        time). The embedded store therefore loads each set into a Memory table and reads it
        as a subquery, under the store's lock; a server gets the usual array parameter.
        """
        params = dict(parameters or {})
        with self._lock:
            for name, values in keys.items():
                marker = "{" + name + ":Keys}"
                if not self.embedded:
                    sql = sql.replace(marker, "{" + name + ":Array(String)}")
                    params[name] = list(values)
                    continue
                probe = self._probe(name)
                wanted = tuple(values)
                if self._loaded.get(probe) != wanted:  # the figures ask for one set 8 times
                    self._loaded.pop(probe, None)
                    self.command(f"TRUNCATE TABLE {probe}")
                    if wanted:
                        self.insert_arrow(probe.split(".", 1)[1], pa.table({"k": list(wanted)}))
                    self._loaded[probe] = wanted
                sql = sql.replace(marker, f"(SELECT k FROM {probe})")
            return self.query(sql, params)

    def _probe(self, name: str) -> str:
        """The Memory table that holds key set `name` during a keyed query."""
        table = f"{self.database}._keys_{name}"
        if table not in self._probes:
            self.command(f"CREATE TABLE IF NOT EXISTS {table} (k String) ENGINE = Memory")
            self._probes.add(table)
            self._loaded.pop(table, None)
        return table

    def insert(
        self,
        table: str,
        rows: Sequence[Sequence[Any]],
        columns: Sequence[str],
        dedup_token: str | None = None,
    ) -> None:
        """Insert rows (sent column by column: a transpose in C beats the client's per-value
        one). With `dedup_token`, a second insert with the same token into a table with a
        deduplication window is dropped by ClickHouse (`sinks.ddl.tables`).

        Raises StoreRejectedError when ClickHouse refuses the data, StoreError otherwise.
        """
        if not rows:
            return
        data = list(zip(*rows, strict=True))
        settings = _insert_settings(dedup_token)
        with self._lock:
            try:
                types = self._column_types(table)
                self.client.insert(table, data, column_names=list(columns), database=self.database,
                                   column_type_names=[types[c] for c in columns],
                                   column_oriented=True, settings=settings)  # fmt: skip
            except Exception as exc:
                self._failed("insert")
                kind = StoreRejectedError if refuses_data(exc) else StoreError
                raise kind(f"insert into {table}: {_explain(exc)}") from exc

    def insert_arrow(self, table: str, data: pa.Table, dedup_token: str | None = None) -> None:
        """Insert an Arrow table as it is (ClickHouse converts its columns to the table's
        types); `dedup_token` and errors as for `insert`."""
        settings = _insert_settings(dedup_token)
        with self._lock:
            try:
                self.client.insert_arrow(table, data, database=self.database, settings=settings)
            except Exception as exc:
                self._failed("insert")
                kind = StoreRejectedError if refuses_data(exc) else StoreError
                raise kind(f"insert into {table}: {_explain(exc)}") from exc

    def _column_types(self, table: str) -> dict[str, str]:
        """The table's column types, asked once (a KeyError names a column it lacks)."""
        if table not in self._types:
            described = self.client.query(f"DESCRIBE TABLE {self.database}.{table}")
            self._types[table] = {str(r[0]): str(r[1]) for r in described.result_rows}
        return self._types[table]

    def forget_types(self) -> None:
        """Ask the column types again (after DDL changed a table)."""
        self._types.clear()

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
