"""What travels on the internal topics: valid records, dead letters and row outcomes.

Valid records travel as columns: one Arrow IPC stream per message, the rows of one class
with the class-table columns (`valid_message`), which the sink inserts as they are
(`insert_arrow`) instead of building a Python row per record. Dead letters, uploads and
registry entries stay JSON (dates as ISO strings): they are few, and JSON keeps a dead
letter readable by a person with `kcat` when something goes wrong. The sink still reads
valid records as JSON too (`{"class_code": C, "rows": [...]}`), as workers before wrote them.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa

from schemas.catalog import InfoClass
from schemas.exceptions import BatchHeaderError

# Kafka headers the producers set, so that even an unreadable value can be accounted for.
H_PROVIDER = "credit-provider"
H_CHANNEL = "credit-channel"
H_UPLOAD = "credit-upload"
H_ROW = "credit-row"
H_SOURCE_KEY = "credit-source-key"
# On a record batch (see schemas/codec.py): how many records it holds, and their rows.
H_BATCH = "credit-batch"
H_ROWS = "credit-rows"


@dataclass(frozen=True, slots=True)
class Inbound:
    """One message of a class topic, as the worker received it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Mapping[str, str]
    timestamp_ms: int


def headers_to_dict(headers: Any) -> dict[str, str]:
    """Kafka headers (list of pairs or mapping, bytes values) as a str → str dict."""
    items = headers.items() if isinstance(headers, Mapping) else (headers or [])
    out = {}
    for k, v in items:
        out[str(k)] = v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v or "")
    return out


def batch_count(headers: Mapping[str, str]) -> int | None:
    """The record count a batch's `credit-batch` header announces, if readable."""
    text = headers.get(H_BATCH, "")
    return int(text) if text.isdigit() else None


def rows_header(rows: list[int | None]) -> str:
    """Rows of a batch as `3-9,12,,14`: runs of consecutive rows collapse, `None` is empty."""
    parts: list[str] = []
    i = 0
    while i < len(rows):
        start = rows[i]
        j = i
        if start is not None:
            while j + 1 < len(rows) and rows[j + 1] == start + (j + 1 - i):
                j += 1
        parts.append("" if start is None else str(start) if j == i else f"{start}-{rows[j]}")
        i = j + 1
    return ",".join(parts)


def parse_rows(text: str, limit: int | None = None) -> list[int | None]:
    """The inverse of `rows_header`; anything unreadable counts as an unknown row. More than
    `limit` rows raises `BatchHeaderError` before any list is built (`1-99999999` must not
    cost gigabytes)."""
    if not text:
        return []
    parts = [p.partition("-") for p in text.split(",")]
    if limit is not None:
        total = sum(
            int(last) - int(first) + 1 if first.isdigit() and last.isdigit() else 1
            for first, _, last in parts
        )
        if total > limit:
            raise BatchHeaderError(
                f"credit-rows names {total} rows; the body holds at most {limit}"
            )
    out: list[int | None] = []
    for first, _, last in parts:
        if first.isdigit() and last.isdigit():
            out.extend(range(int(first), int(last) + 1))
        else:
            out.append(int(first) if first.isdigit() and not last else None)
    return out


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"cannot encode {type(value).__name__}")


def dumps(obj: Mapping[str, Any]) -> bytes:
    """UTF-8 JSON; dates and datetimes as ISO strings, bytes as base64 (orjson: the worker
    and the sink serialize every record once, and the standard library was 5× slower)."""
    return orjson.dumps(obj, default=_default)


def loads(data: bytes) -> dict[str, Any]:
    value = orjson.loads(data)
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object")
    return value


def record_key(provider: str, class_code: str, source_key: str) -> str:
    """Idempotency key: the same provider, class and source key is the same record."""
    digest = hashlib.blake2b(f"{provider}\x1f{class_code}\x1f{source_key}".encode(), digest_size=12)
    return digest.hexdigest()


def row_key(upload_id: str, row: int | None, source_key: str) -> str:
    return f"r{row}" if row is not None else f"k{source_key}"


def dead_letter(
    class_code: str,
    meta: Mapping[str, Any],
    stage: str,
    reasons: list[Any],
    payload: Mapping[str, Any] | None,
    *,
    raw: bytes | None,
    received_ms: int,
    position: tuple[str, int, int] | None,
) -> dict[str, Any]:
    """A dead letter as it travels on the dead-letter topic (worker and producers alike).

    `reasons` are Violations; `payload` must already be free of banned values. The key is the
    provider row when there is one, so a re-sent or replayed row replaces its old entry.
    """
    topic, partition, offset = position or ("", -1, -1)
    if meta.get("row") is not None:
        dl_key = f"{meta['upload_id']}:{meta['row']}"
    else:
        dl_key = f"{meta['upload_id']}:{meta['source_key']}"
    return {
        "class_code": class_code,
        "provider": meta.get("provider", ""),
        "channel": meta.get("channel", ""),
        "upload_id": meta.get("upload_id", ""),
        "row": meta.get("row"),
        "source_key": meta.get("source_key", ""),
        "dl_key": dl_key,
        "stage": stage,
        "reasons": [v.as_dict() for v in reasons],
        "payload": dict(payload) if payload is not None else None,
        "raw_b64": base64.b64encode(raw).decode() if raw is not None else "",
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "received_ms": received_ms,
        "rejected_ms": int(dt.datetime.now(dt.UTC).timestamp() * 1000),
    }


# --- valid records as columns ------------------------------------------------------------

ARROW_STREAM = b"\xff\xff\xff\xff"  # an Arrow IPC stream's first bytes (continuation)
_CLASS_KEY = b"credit.class_code"
_FIELD_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(), "month": pa.string(), "enum": pa.string(), "int": pa.int64(),
    "amount": pa.float64(), "quantity": pa.float64(), "ratio": pa.float64(),
    "bool": pa.bool_(), "date": pa.date32(), "period_start": pa.date32(),
    "period_end": pa.date32(),
}  # fmt: skip
# What `streams.core.pipeline.enrich` adds to the catalog fields, in the class tables' order.
ENRICHED: tuple[tuple[str, pa.DataType], ...] = (
    ("record_key", pa.string()), ("version", pa.uint64()), ("subject_id", pa.string()),
    ("subject_kind", pa.string()), ("subject_name", pa.string()), ("district", pa.string()),
    ("name_mismatch", pa.uint8()), ("code_flag", pa.string()), ("event_date", pa.date32()),
    ("behaviour_end", pa.date32()), ("ingest_provider", pa.string()),
    ("ingest_channel", pa.string()), ("ingest_upload_id", pa.string()),
    ("ingest_row", pa.int64()), ("ingest_source_key", pa.string()),
    ("ingest_received_at", pa.timestamp("ms", tz="UTC")),
)  # fmt: skip
_SCHEMAS: dict[str, tuple[InfoClass, pa.Schema]] = {}


def valid_schema(cls: InfoClass) -> pa.Schema:
    """The Arrow schema of a class's valid records (enriched columns, then the fields)."""
    known = _SCHEMAS.get(cls.code)
    if known is None or known[0] is not cls:
        fields = [*ENRICHED, *((f.name, _FIELD_TYPES[f.type]) for f in cls.fields)]
        known = _SCHEMAS[cls.code] = (cls, pa.schema(fields, metadata={_CLASS_KEY: cls.code}))
    return known[1]


def valid_table(cls: InfoClass, rows: list[dict[str, Any]]) -> pa.Table:
    """Valid records of one class (`streams.core.pipeline.enrich` rows) as columns."""
    return pa.Table.from_pylist(rows, schema=valid_schema(cls))


def valid_message(cls: InfoClass, rows: list[dict[str, Any]]) -> bytes:
    """Valid records of one class as one Arrow IPC stream."""
    return table_message(valid_table(cls, rows))


def table_message(table: pa.Table) -> bytes:
    """A `valid_schema` table as one Arrow IPC stream."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def is_columns(value: bytes | None) -> bool:
    """A `credit.valid` message in columns (else the older JSON shape)."""
    return bool(value) and value[:4] == ARROW_STREAM  # type: ignore[index]


def read_valid(value: bytes) -> tuple[str, pa.Table]:
    """(class code, its rows) of a `credit.valid` message in columns."""
    table = pa.ipc.open_stream(value).read_all()
    code = (table.schema.metadata or {}).get(_CLASS_KEY, b"").decode()
    return code, table
