"""Analysts' read-only SQL: a parser-side gate, then the query under `readonly=1` and limits.

`check_readonly` admits one SELECT (or WITH … SELECT) and nothing else; the store then
runs it with `readonly=1`, which ClickHouse and chDB both enforce. The check comes first so
a user gets a clear reason instead of an engine error, and so a store that ignored the
setting would still refuse writes.

The scan is deliberately conservative: it skips only what ClickHouse certainly treats as
inert (quoted strings and identifiers, `--` and `/* */` comments) and looks for forbidden
words everywhere else, so odd spellings cause false refusals, never a write.
"""

from __future__ import annotations

import re
import time
from typing import Any

from sinks.exceptions import QueryError
from sinks.store import Store
from streams.codes import mask_value

FORBIDDEN_WORDS = frozenset({
    "INSERT", "ALTER", "DROP", "CREATE", "SET", "SETTINGS", "TRUNCATE", "RENAME",
    "ATTACH", "DETACH", "OPTIMIZE", "GRANT", "REVOKE", "KILL", "USE", "DELETE", "UPDATE",
    "EXCHANGE", "BACKUP", "RESTORE", "INTO", "OUTFILE", "UNDROP",
})  # fmt: skip
# Table functions that reach files, other servers or programs (readonly=1 refuses them too).
FORBIDDEN_FUNCTIONS = frozenset({
    "FILE", "URL", "URLCLUSTER", "S3", "S3CLUSTER", "GCS", "AZUREBLOBSTORAGE", "HDFS", "REMOTE",
    "REMOTESECURE", "CLUSTER", "CLUSTERALLREPLICAS", "EXECUTABLE", "MYSQL", "POSTGRESQL",
    "SQLITE", "JDBC", "ODBC", "MONGODB", "REDIS", "INPUT", "ICEBERG", "DELTALAKE", "HUDI",
    "MERGE",  # reads every table whose name matches a pattern: would bypass `denied`
})  # fmt: skip
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _tokens(sql: str) -> list[tuple[str, int]]:
    """(token, offset) of words and punctuation outside string literals and comments.

    Words come upper-cased; a quoted identifier (`x` or "x") comes as "`X", so it is never
    taken for a keyword but is still seen when it names a table.
    """
    out: list[tuple[str, int]] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch == "'":
            i = _skip_quoted(sql, i, ch)
        elif ch in '"`':
            end = _skip_quoted(sql, i, ch)
            out.append(("`" + sql[i + 1 : end - 1].upper(), i))
            i = end
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            if end < 0:
                raise QueryError("unterminated /* comment / 注释未结束")
            i = end + 2
        elif ch.isspace():
            i += 1
        elif m := _WORD.match(sql, i):
            out.append((m.group(0).upper(), i))
            i = m.end()
        else:
            out.append((ch, i))
            i += 1
    return out


def _skip_quoted(sql: str, start: int, quote: str) -> int:
    i = start + 1
    while i < len(sql):
        if sql[i] == "\\":
            i += 2
        elif sql[i] == quote:
            if sql.startswith(quote * 2, i):  # doubled quote inside the literal
                i += 2
                continue
            return i + 1
        else:
            i += 1
    raise QueryError(f"unterminated {quote}-quoted text / 引号未闭合")


def check_readonly(sql: str, denied: frozenset[str] = frozenset()) -> str:
    """The statement, stripped of a trailing `;`, if it is a single read-only query that
    names none of the `denied` tables (restricted classes, say)."""
    located = _tokens(sql)
    tokens = [tok for tok, _ in located]
    if not tokens:
        raise QueryError("empty query / 查询为空")
    if ";" in tokens[:-1]:
        raise QueryError("only one statement per request / 每次只能执行一条语句")
    head = next((t for t in tokens if t != "("), "")
    if head not in ("SELECT", "WITH"):
        raise QueryError(
            f"only SELECT or WITH … SELECT queries are allowed, not {head or tokens[0]} "
            "/ 只允许 SELECT 查询"
        )
    hidden = {name.upper() for name in denied}
    for pos, tok in enumerate(tokens):
        following = tokens[pos + 1] if pos + 1 < len(tokens) else ""
        if tok.removeprefix("`") in hidden:
            raise QueryError(
                f"table {tok.removeprefix('`').lower()} is not open to SQL / 该表不可查询"
            )
        if tok in FORBIDDEN_WORDS:
            raise QueryError(f"{tok} is not allowed in a read-only query / 只读查询中不允许 {tok}")
        if tok == "FORMAT" and following != "(":  # format(...) the function is fine
            raise QueryError("FORMAT clauses are not allowed; results come back as JSON")
        if tok in FORBIDDEN_FUNCTIONS and following == "(":
            raise QueryError(f"table function {tok.lower()}() is not allowed / 不允许的表函数")
    end = located[-1][1] if tokens[-1] == ";" else len(sql)
    return sql[:end].strip()


def _query_with_columns(store: Store, sql: str) -> tuple[list[str], list[list[Any]]]:
    """Header and rows in the store's database.

    `Store.query` returns dicts: no header for an empty result, and duplicate column names
    collapse. So this goes to the client itself, under the Store's lock (chDB handles are
    not shared across threads), with the store's database as the default for the call.
    """
    with store._lock:
        previous = store.client.database
        store.client.database = store.database
        try:
            result = store.client.query(sql)
        except Exception as exc:
            raise QueryError(f"query failed / 查询失败: {exc}") from exc
        finally:
            store.client.database = previous
    return list(result.column_names), [list(row) for row in result.result_rows]


def run_readonly_sql(
    store: Store,
    sql: str,
    max_rows: int = 1000,
    max_seconds: float = 10.0,
    *,
    denied: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Columns, rows (at most `max_rows`) and whether more rows were cut off.

    The limits go in the query's own SETTINGS clause, not the client's per-call settings:
    chDB applies those with SET on its session and then cannot set them back once
    `readonly=1` is in force, which would leave the whole store read-only. A query-level
    clause ends with the query. Unqualified table names resolve in the store's database.
    Strings are masked with `mask_value`, so analysts never see a citizen ID in full.
    """
    statement = check_readonly(sql, denied)
    if max_rows < 1 or max_seconds <= 0:
        raise QueryError("max_rows and max_seconds must be positive")
    wrapped = (
        f"SELECT * FROM (\n{statement}\n) LIMIT {int(max_rows) + 1} "
        f"SETTINGS readonly = 1, max_result_rows = {int(max_rows) + 1}, "
        f"result_overflow_mode = 'break', max_execution_time = {float(max_seconds)}"
    )
    started = time.perf_counter()
    columns, rows = _query_with_columns(store, wrapped)
    if not columns:  # chDB sends no header with an empty result; ask for the structure
        _, described = _query_with_columns(
            store, f"DESCRIBE TABLE (\n{statement}\n) SETTINGS readonly = 1"
        )
        columns = [str(row[0]) for row in described]
    truncated = len(rows) > max_rows
    return {
        "columns": columns,
        "rows": [
            [mask_value(v) if isinstance(v, str) else v for v in row] for row in rows[:max_rows]
        ],
        "row_count": min(len(rows), max_rows),
        "truncated": truncated,
        "database": store.database,
        "seconds": round(time.perf_counter() - started, 3),
    }
