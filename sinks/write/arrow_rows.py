"""Valid records in columns (`schemas.envelope.valid_message`) made ready for their tables.

The pure half of the sink's columnar path: the class table's columns in its order with
`stored_at`, the `stored` outcome of every record, the newest version per record key, and
the rows again as records when ClickHouse refuses a table and the rows must be bisected.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from sinks.write.rows import OUTCOME_COLUMNS


def moments(n: int, ms: int) -> pa.Array:
    """`n` times the instant `ms` (epoch milliseconds), as the tables' DateTime64(3) take it."""
    return pa.array(np.full(n, ms, dtype=np.int64)).cast(pa.timestamp("ms", tz="UTC"))


def class_table(parts: list[pa.Table], columns: list[str], now_ms: int) -> pa.Table:
    """The parts as one table with the class table's columns, stored `now_ms`."""
    table = pa.concat_tables(parts, promote_options="none") if len(parts) > 1 else parts[0]
    return table.append_column("stored_at", moments(table.num_rows, now_ms)).select(columns)


_DECIMAL = re.compile(r"Decimal\((\d+), *(\d+)\)")


def decimal_columns(columns: list[tuple[str, str]]) -> dict[str, pa.DataType]:
    """The class table's Decimal columns ((name, ClickHouse type) pairs) as Arrow types."""
    out = {}
    for name, ch_type in columns:
        found = _DECIMAL.search(ch_type)
        if found:
            out[name] = pa.decimal128(int(found.group(1)), int(found.group(2)))
    return out


def as_decimals(table: pa.Table, decimals: dict[str, pa.DataType]) -> pa.Table:
    """Amounts as the Decimal columns hold them, rounded to their cents by Arrow.

    Why: ClickHouse truncates a Float64 it converts to Decimal(18, 2) (18771.92, held as
    18771.919999…, became 18771.91: 6% of amounts lost a cent); pyarrow's cast rounds. A
    value the type cannot hold raises `ArrowInvalid`: the caller lets the row way find it."""
    for name, dtype in decimals.items():
        i = table.schema.get_field_index(name)
        if i >= 0 and not pa.types.is_decimal(table.schema.field(i).type):
            table = table.set_column(i, name, pc.cast(table.column(i), dtype))
    return table


def stored_outcomes(class_code: str, table: pa.Table, now_ms: int) -> pa.Table:
    """The `stored` outcome of each row (`sinks.write.rows.stored_outcome`, as columns)."""
    n = table.num_rows
    row = table["ingest_row"]
    row_key = pc.if_else(
        pc.is_null(row),
        pc.binary_join_element_wise("k", table["ingest_source_key"], ""),
        pc.binary_join_element_wise("r", pc.cast(row, pa.string()), ""),
    )
    columns = {
        "upload_id": table["ingest_upload_id"],
        "row_key": row_key,
        "class_code": pa.array([class_code] * n, pa.string()),
        "provider": table["ingest_provider"],
        "subject_kind": table["subject_kind"],
        "outcome": pa.array(["stored"] * n, pa.string()),
        "record_key": table["record_key"],
        "reason_codes": pa.array([[]] * n, pa.list_(pa.string())),
        "received_at": table["ingest_received_at"],
        "decided_at": moments(n, now_ms),
    }
    return pa.table([columns[c] for c in OUTCOME_COLUMNS], names=list(OUTCOME_COLUMNS))


def newest(table: pa.Table, stored: dict[str, int]) -> pa.Table:
    """Per record key the row of the highest version (the first of equal ones), and only
    where the store holds no version as high (`stored`: record key → highest stored)."""
    frame = pl.DataFrame(
        {"key": table["record_key"].to_pylist(), "version": table["version"].to_numpy()}
    ).with_row_index("i")
    best = frame.sort("version", descending=True, maintain_order=True).unique(
        "key", keep="first", maintain_order=True
    )
    if stored:
        held = pl.DataFrame(
            {"key": list(stored), "held": list(stored.values())},
            schema={"key": pl.String, "held": pl.UInt64},
        )
        best = best.join(held, on="key", how="left").filter(
            pl.col("held").is_null() | (pl.col("version") > pl.col("held"))
        )
    return table.take(pa.array(best.get_column("i").sort().to_numpy()))


def records(table: pa.Table) -> list[dict[str, Any]]:
    """The rows as records of the JSON shape (`sinks.write.rows`): receipt times in epoch ms."""
    out: list[dict[str, Any]] = table.to_pylist()
    for record in out:
        at = record.get("ingest_received_at")
        if at is not None:
            record["ingest_received_at"] = int(at.timestamp() * 1000)
    return out
