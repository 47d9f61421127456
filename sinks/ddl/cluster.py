"""The replicated-cluster variant of the DDL, rewritten from the same statements as chDB's.

`sinks.ddl.tables.all_statements` stays the one source of columns, engines, keys and TTLs. For a
ClickHouse cluster every table becomes two:

* `<table>_local ON CLUSTER …` with the `Replicated*MergeTree` twin of the engine, keyed in
  ZooKeeper/Keeper by the `{shard}` and `{replica}` macros each server defines;
* `<table> ON CLUSTER …` as a `Distributed` table over the local ones, so every query in
  `sinks/` runs unchanged against the logical name.

The sharding key is the first ORDER BY column (subject_id, upload_id): rows that a
ReplacingMergeTree must collapse share their whole sorting key, so they land on one shard
and FINAL stays correct per shard; a subject's records also stay together for profiles.
"""

from __future__ import annotations

import re

from schemas.catalog import Catalog
from sinks.ddl.tables import all_statements
from sinks.exceptions import ClusterDdlError

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CREATE_DB = re.compile(r"^\s*CREATE DATABASE IF NOT EXISTS (\w+)\s*$")
_CREATE_TABLE = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+)\.(\w+)")
_ENGINE = re.compile(r"ENGINE\s*=\s*(\w*MergeTree)\s*(?:\(([^)]*)\))?")
_ORDER_BY = re.compile(r"ORDER BY\s*\(?\s*`?(\w+)")
_CREATE_VIEW = re.compile(r"CREATE MATERIALIZED VIEW IF NOT EXISTS (\w+)\.(\w+)\s+TO (\w+)\.(\w+)")
_FROM = re.compile(r"\bFROM (\w+)\.(\w+)")
LOCAL_SUFFIX = "_local"


def zk_path(db: str, table: str) -> str:
    """Keeper path of a replicated table; `{shard}` is a server macro, not a Python field."""
    return f"/clickhouse/tables/{{shard}}/{db}/{table}"


def _check_ident(what: str, value: str) -> str:
    if not _IDENT.match(value):
        raise ClusterDdlError(
            f"{what} must be a plain identifier (letters, digits, _), not {value!r}"
        )
    return value


def _replicated(statement: str, db: str, table: str, cluster: str) -> list[str]:
    """One CREATE TABLE → its replicated local table plus the Distributed table over it."""
    engine = _ENGINE.search(statement)
    order = _ORDER_BY.search(statement)
    if engine is None or order is None:
        raise ClusterDdlError(f"table {db}.{table}: no *MergeTree engine / ORDER BY to replicate")
    local = f"{table}{LOCAL_SUFFIX}"
    args = [f"'{zk_path(db, table)}'", "'{replica}'"]
    if engine.group(2) and engine.group(2).strip():
        args.append(engine.group(2).strip())
    new_engine = f"ENGINE = Replicated{engine.group(1)}({', '.join(args)})"
    local_sql = statement[: engine.start()] + new_engine + statement[engine.end() :]
    local_sql = _CREATE_TABLE.sub(
        f"CREATE TABLE IF NOT EXISTS {db}.{local} ON CLUSTER {cluster}", local_sql, count=1
    )
    distributed = (
        f"CREATE TABLE IF NOT EXISTS {db}.{table} ON CLUSTER {cluster} AS {db}.{local}\n"
        f"ENGINE = Distributed({cluster}, {db}, {local}, cityHash64({order.group(1)}))"
    )
    return [local_sql, distributed]


def _view(statement: str, view: re.Match[str], cluster: str) -> str:
    """A materialized view runs on every server, from the local source to the local target:
    both are sharded by subject, so what it writes stays on the shard of its source row."""
    db, name, target_db, target = view.groups()
    head = f"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{name} ON CLUSTER {cluster} "
    head += f"TO {target_db}.{target}{LOCAL_SUFFIX}"
    body = _FROM.sub(rf"FROM \1.\2{LOCAL_SUFFIX}", statement[view.end() :])
    return head + body


def cluster_statements(catalog: Catalog, db: str, cluster: str) -> list[str]:
    """Every statement of `all_statements`, for a replicated, sharded cluster."""
    return cluster_variant(all_statements(catalog, db), db, cluster)


def cluster_variant(statements: list[str], db: str, cluster: str) -> list[str]:
    """The cluster form of CREATE DATABASE / TABLE (…MergeTree) / MATERIALIZED VIEW … TO.

    Anything else raises: a new kind of object needs a deliberate cluster rule, not a
    silent copy.
    """
    _check_ident("database", db)
    _check_ident("cluster", cluster)
    out: list[str] = []
    for raw in statements:
        # The .sql files open with `--` comments; they could hold any word, so drop them first.
        statement = "\n".join(
            line for line in raw.splitlines() if not line.lstrip().startswith("--")
        )
        if _CREATE_DB.match(statement):
            out.append(f"CREATE DATABASE IF NOT EXISTS {db} ON CLUSTER {cluster}")
            continue
        view = _CREATE_VIEW.search(statement)
        if view is not None:
            out.append(_view(statement, view, cluster))
            continue
        table = _CREATE_TABLE.search(statement)
        if table is None:
            head = statement.strip().splitlines()[0] if statement.strip() else ""
            raise ClusterDdlError(f"no cluster rule for statement: {head[:80]}")
        out.extend(_replicated(statement, table.group(1), table.group(2), cluster))
    return out


def render(statements: list[str]) -> str:
    """A script clickhouse-client runs with `--multiquery`."""
    return "".join(f"{s.strip()};\n\n" for s in statements)
