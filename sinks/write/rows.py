"""Turn internal-topic JSON into rows for the store's tables (pure functions).

Message shapes read (both forms of each, so a worker that batches its outputs and one that
does not can share the topics):

* `credit.valid`: `{"class_code": C, "row": {...}}` or `{"class_code": C, "rows": [{...}, ...]}`;
* `credit.subjects`: one registry entry, or `{"rows": [entry, ...]}`;
* `credit.deadletter`, `credit.uploads`: one object per message.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from typing import Any

from schemas import envelope as env
from schemas.catalog import InfoClass
from schemas.codes import mask_value
from sinks.ddl.tables import class_columns
from streams.core.aggregates import AGGREGATE_COLUMNS

STORE_REJECTED = "store.rejected"
_LAST_ON_TIME = AGGREGATE_COLUMNS.index("last_on_time_date")
_UPDATED_AT = AGGREGATE_COLUMNS.index("updated_at")
_MONTHLY = AGGREGATE_COLUMNS.index("monthly")
_AS_OF = AGGREGATE_COLUMNS.index("as_of")

DEAD_LETTER_COLUMNS = (
    "dl_key", "class_code", "provider", "channel", "upload_id", "row", "source_key", "stage",
    "reason_codes", "reasons", "payload", "raw_b64", "topic", "partition", "offset",
    "received_at", "rejected_at",
)  # fmt: skip
OUTCOME_COLUMNS = (
    "upload_id", "row_key", "class_code", "provider", "subject_kind", "outcome", "record_key",
    "reason_codes", "received_at", "decided_at",
)  # fmt: skip
UPLOAD_COLUMNS = (
    "upload_id", "class_code", "provider", "channel", "source_name", "received", "sent",
    "rejected", "started_at", "finished_at", "department", "district", "period_start",
    "period_end",
)  # fmt: skip
SUBJECT_COLUMNS = (
    "subject_id", "subject_kind", "name", "district", "org_code", "reg_no", "registered",
    "updated_at",
)  # fmt: skip


def from_ms(value: Any) -> dt.datetime:
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value / 1000, dt.UTC)
    if isinstance(value, str) and value:
        return dt.datetime.fromisoformat(value)
    return dt.datetime.now(dt.UTC)


def to_ms(value: Any) -> int:
    """A DateTime64(3) value as epoch milliseconds: clickhouse-connect sends an int column
    as it is, where a datetime costs a Python conversion per value (and a column must not
    mix the two)."""
    if type(value) is int:
        return value
    if isinstance(value, dt.datetime):
        return int(value.timestamp() * 1000)
    return int(from_ms(value).timestamp() * 1000)


def _to_date(value: Any) -> Any:
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


def _converter(ch_type: str) -> Callable[[Any], Any]:
    if "Date32" in ch_type:
        return _to_date
    if "DateTime64" in ch_type:
        return to_ms
    return lambda v: v


class ClassRows:
    """Column order and converters of one class table."""

    def __init__(self, cls: InfoClass) -> None:
        cols = class_columns(cls)
        self.columns = [name for name, _ in cols]
        # only dates and timestamps need converting: the others go through as they are
        self._convert = [
            (i, _converter(ctype))
            for i, (_, ctype) in enumerate(cols)
            if "Date32" in ctype or "DateTime64" in ctype
        ]
        self._stored_at = self.columns.index("stored_at")

    def row(self, values: Mapping[str, Any], now: dt.datetime | int) -> list[Any]:
        """The row of `values` (a JSON record), stored `now` (a datetime or epoch ms)."""
        out = list(map(values.get, self.columns))
        for i, conv in self._convert:
            if out[i] is not None:
                out[i] = conv(out[i])
        out[self._stored_at] = to_ms(now)
        return out


def valid_records(message: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The class records of one `credit.valid` message, in either shape."""
    rows = message.get("rows")
    return list(rows) if isinstance(rows, list) else [message["row"]]


def entries(message: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The rows of one `credit.subjects` message, in either shape."""
    rows = message.get("rows")
    return list(rows) if isinstance(rows, list) else [message]


def stored_outcome(class_code: str, row: Mapping[str, Any], now: dt.datetime | int) -> list[Any]:
    upload = row["ingest_upload_id"]
    return [
        upload, env.row_key(upload, row["ingest_row"], row["ingest_source_key"]), class_code,
        row["ingest_provider"], row["subject_kind"], "stored", row["record_key"], [],
        to_ms(row["ingest_received_at"]), to_ms(now),
    ]  # fmt: skip


def dead_letter_row(dead: Mapping[str, Any]) -> list[Any]:
    codes = sorted({r["code"] for r in dead["reasons"]})
    payload = json.dumps(dead.get("payload"), ensure_ascii=False, default=str)
    return [
        dead["dl_key"], dead["class_code"], dead["provider"], dead["channel"], dead["upload_id"],
        dead["row"], dead["source_key"], dead["stage"], codes,
        json.dumps(dead["reasons"], ensure_ascii=False), payload, dead["raw_b64"],
        dead["topic"], dead["partition"], dead["offset"], from_ms(dead["received_ms"]),
        from_ms(dead["rejected_ms"]),
    ]  # fmt: skip


def rejected_outcome(
    dead: Mapping[str, Any], subject_kind: str, now: dt.datetime | int
) -> list[Any]:
    codes = sorted({r["code"] for r in dead["reasons"]})
    return [
        dead["upload_id"], env.row_key(dead["upload_id"], dead["row"], dead["source_key"]),
        dead["class_code"], dead["provider"], subject_kind, "rejected", "", codes,
        to_ms(dead["received_ms"]), to_ms(now),
    ]  # fmt: skip


def upload_row(ledger: Mapping[str, Any]) -> list[Any]:
    return [
        ledger["upload_id"], ledger["class_code"], ledger["provider"], ledger["channel"],
        ledger.get("source_name", ""), ledger["received"], ledger["sent"], ledger["rejected"],
        from_ms(ledger["started_ms"]), from_ms(ledger["finished_ms"]),
        str(ledger.get("department") or ""), str(ledger.get("district") or ""),
        _iso_date(ledger.get("period_start")), _iso_date(ledger.get("period_end")),
    ]  # fmt: skip


def _iso_date(value: Any) -> dt.date | None:
    """A ledger's ISO date, or None: older entries carry none, and an entry is never refused
    for a malformed one (the upload's rows are what counts)."""
    try:
        return dt.date.fromisoformat(value) if isinstance(value, str) and value else None
    except ValueError:
        return None


def subject_row(entry: Mapping[str, Any], now: dt.datetime | int) -> list[Any]:
    return [
        entry["subject_id"], entry.get("kind", "legal"), entry.get("name", ""),
        entry.get("district", ""), entry.get("org_code", ""), entry.get("reg_no", ""),
        int(bool(entry.get("registered"))), to_ms(now),
    ]  # fmt: skip


def aggregate_row(row: Mapping[str, Any]) -> list[Any]:
    """A figures row (`streams.core.aggregates.to_row`) as a row of `aggregates` (dates also as
    ISO text)."""
    out = list(map(row.get, AGGREGATE_COLUMNS))
    for i in (_LAST_ON_TIME, _AS_OF):
        value = out[i]
        if isinstance(value, str):
            out[i] = dt.date.fromisoformat(value) if value else None
    out[_UPDATED_AT] = to_ms(out[_UPDATED_AT])
    if out[_MONTHLY] is None:
        out[_MONTHLY] = []  # a message from a worker older than the monthly history
    return out


def store_dead_letter(
    class_code: str,
    record: Mapping[str, Any],
    reason: str,
    position: tuple[str, int, int],
    now: dt.datetime,
) -> dict[str, Any]:
    """A dead letter, in the dead-letter topic's shape, for a row ClickHouse refused.

    Stage `sink`, reason `store.rejected` with ClickHouse's message (ID-like runs masked). A
    class record keeps its provider row's key, so a corrected re-send replaces it; any other
    row (registry entry, aggregate, ledger) is keyed by where it was read.
    """
    topic, partition, offset = position
    upload = str(record.get("ingest_upload_id", record.get("upload_id", "")))
    row = record.get("ingest_row", record.get("row"))
    source_key = str(record.get("ingest_source_key", record.get("source_key", "")))
    if upload and (row is not None or source_key):
        dl_key = f"{upload}:{row}" if row is not None else f"{upload}:{source_key}"
    else:
        dl_key = f"sink:{topic}:{partition}:{offset}:{record.get('subject_id', '')}"
    message = mask_value(reason)
    now_ms = int(now.timestamp() * 1000)
    return {
        "class_code": class_code, "provider": record.get("ingest_provider", record.get("provider", "")),
        "channel": record.get("ingest_channel", record.get("channel", "")), "upload_id": upload,
        "row": row if isinstance(row, int) else None, "source_key": source_key, "dl_key": dl_key,
        "stage": "sink",
        "reasons": [{"code": STORE_REJECTED, "field": None, "message_zh": f"存储拒绝该行：{message}",
                     "message_en": f"the store refused the row: {message}"}],
        "payload": json.loads(json.dumps(record, ensure_ascii=False, default=str)),
        "raw_b64": "", "topic": topic, "partition": partition, "offset": offset,
        "received_ms": record.get("ingest_received_at", now_ms), "rejected_ms": now_ms,
    }  # fmt: skip
