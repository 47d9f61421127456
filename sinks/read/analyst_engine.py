"""The analysts' engine: their own chDB (or a read-only ClickHouse user), and their queries.

What makes leaking impossible is what the engine holds and allows, not a check on the SQL
text: the embedded engine holds only the analyst tables (`sinks.read.analyst_views`, copied in by
`load_new`), and every analyst statement runs with `readonly = 1` and its limits in the
query's own SETTINGS — ClickHouse then refuses writes, table functions (`file`, `url`, …)
and any attempt to change a setting, `readonly` itself included, at any depth of the query.
A runaway query fails on its memory or time limit inside this process, never in the
platform's.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from sinks.exceptions import QueryError

ANALYST_DB = "analyst"
READ_ONLY_HEADS = frozenset({"SELECT", "WITH", "DESCRIBE", "DESC", "SHOW", "EXISTS", "EXPLAIN"})


@dataclass(frozen=True)
class Limits:
    """Per query: rows returned, seconds, memory and result bytes."""

    max_rows: int = 1000
    max_seconds: float = 10.0
    max_memory_bytes: int = 1_000_000_000
    max_result_bytes: int = 50_000_000

    def settings(self) -> str:
        return (
            f"SETTINGS readonly = 1, max_execution_time = {float(self.max_seconds)}, "
            f"max_memory_usage = {int(self.max_memory_bytes)}, "
            f"max_result_rows = {int(self.max_rows) + 1}, "
            f"max_result_bytes = {int(self.max_result_bytes)}, result_overflow_mode = 'break'"
        )


class AnalystEngine:
    """Runs analyst SQL; with `exchange` (embedded) it also loads the exported tables."""

    def __init__(self, client: Client, database: str, exchange: Path | None = None) -> None:
        self.client = client
        self.database = database
        self.exchange = exchange
        self._lock = threading.Lock()  # one chDB handle: one statement at a time
        self._loaded: dict[str, int] = {}
        if exchange is not None:
            self.client.command(f"CREATE DATABASE IF NOT EXISTS {database}")
            self._loaded = self._recall()

    def _recall(self) -> dict[str, int]:
        """Generations loaded before a restart, for tables still here; stray half-swapped
        tables (a crash between CREATE and EXCHANGE) are dropped."""
        present = {str(r[0]) for r in self.client.query(
            f"SELECT name FROM system.tables WHERE database = '{self.database}'").result_rows}  # fmt: skip
        for name in present:
            if "__" in name:
                self.client.command(f"DROP TABLE IF EXISTS {self.database}.{name} SYNC")
        try:
            saved = json.loads(self._state_file().read_text())
        except (OSError, ValueError):
            return {}
        return {n: int(g) for n, g in saved.items() if n in present}

    def _state_file(self) -> Path:
        assert self.exchange is not None
        return self.exchange.parent / "loaded.json"

    @classmethod
    def embedded(cls, path: Path, exchange: Path) -> AnalystEngine:
        """A chDB of its own under `path`, rebuilt from the exchange directory."""
        path.mkdir(parents=True, exist_ok=True)
        client = clickhouse_connect.get_client(interface="chdb", path=str(path))
        return cls(client, ANALYST_DB, exchange)

    @classmethod
    def server(cls, url: str, database: str) -> AnalystEngine:
        """A ClickHouse server as the read-only analyst user (`view_statements`)."""
        return cls(clickhouse_connect.get_client(dsn=url), database)

    def tables(self) -> list[str]:
        return sorted(self._loaded)

    def load_new(self) -> list[str]:
        """Load every table whose newest exported generation is not loaded yet; swap it in
        whole (EXCHANGE TABLES), so a reader sees the old copy or the new, never half."""
        if self.exchange is None:
            return []
        newest: dict[str, tuple[int, Path]] = {}
        for path in self.exchange.glob("*.parquet"):
            name, _, stamp = path.stem.rpartition(".")
            if stamp.isdigit() and int(stamp) > newest.get(name, (0, path))[0]:
                newest[name] = (int(stamp), path)
        done = []
        for name, (generation, path) in sorted(newest.items()):
            if self._loaded.get(name, 0) >= generation:
                continue
            try:
                self._swap_in(name, path)
            except FileNotFoundError:
                continue  # pruned by a newer generation meanwhile: the next round loads that
            self._loaded[name] = generation
            done.append(name)
        if done:
            tmp = self._state_file().with_suffix(".tmp")
            tmp.write_text(json.dumps(self._loaded))
            tmp.replace(self._state_file())
        return done

    def _swap_in(self, name: str, path: Path) -> None:
        db, fresh = self.database, f"{name}__{uuid.uuid4().hex[:8]}"
        with self._lock:
            if not path.exists():
                raise FileNotFoundError(path)
            self.client.command(
                f"CREATE TABLE {db}.{fresh} ENGINE = MergeTree ORDER BY tuple() "
                f"AS SELECT * FROM file('{path}', 'Parquet')"
            )
            if name in self._loaded or self._exists(name):
                self.client.command(f"EXCHANGE TABLES {db}.{fresh} AND {db}.{name}")
                self.client.command(f"DROP TABLE {db}.{fresh} SYNC")
            else:
                self.client.command(f"RENAME TABLE {db}.{fresh} TO {db}.{name}")

    def _exists(self, name: str) -> bool:
        return bool(self.client.command(f"EXISTS TABLE {self.database}.{name}"))

    def run(self, sql: str, limits: Limits) -> dict[str, Any]:
        """Columns, rows (at most `limits.max_rows`), whether more were cut off, seconds."""
        statement = _one_statement(sql)
        head = statement.split(None, 1)[0].upper().lstrip("(")
        if head not in READ_ONLY_HEADS:
            raise QueryError(
                f"only SELECT, WITH, DESCRIBE, SHOW, EXISTS and EXPLAIN are answered, not {head} "
                "/ 只允许只读查询"
            )
        if head in ("SELECT", "WITH"):
            statement = f"SELECT * FROM (\n{statement}\n) LIMIT {int(limits.max_rows) + 1}"
        started = time.perf_counter()
        with self._lock:
            previous = self.client.database
            self.client.database = self.database
            try:
                result = self.client.query(f"{statement}\n{limits.settings()}")
            except Exception as exc:
                raise QueryError(f"query failed / 查询失败: {_first_line(exc)}") from exc
            finally:
                self.client.database = previous
        rows = [[_plain(v) for v in row] for row in result.result_rows]
        return {
            "columns": list(result.column_names),
            "rows": rows[: limits.max_rows],
            "row_count": min(len(rows), limits.max_rows),
            "truncated": len(rows) > limits.max_rows,
            "database": self.database,
            "seconds": round(time.perf_counter() - started, 3),
        }


def _one_statement(sql: str) -> str:
    statement = sql.strip().rstrip(";").strip()
    if not statement:
        raise QueryError("empty query / 查询为空")
    return statement


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:500] if text else type(exc).__name__


def _plain(value: Any) -> Any:
    """A JSON-ready value."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, uuid.UUID):
        return str(value)
    return value
