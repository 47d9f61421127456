"""Turn internal-topic JSON into rows for the store's tables (pure functions)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from typing import Any

from schemas.catalog import InfoClass
from sinks.ddl import class_columns
from streams import envelope as env

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
    "rejected", "started_at", "finished_at",
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


def _to_date(value: Any) -> Any:
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


def _converter(ch_type: str) -> Callable[[Any], Any]:
    if "Date32" in ch_type:
        return _to_date
    if "DateTime64" in ch_type:
        return from_ms
    return lambda v: v


class ClassRows:
    """Column order and converters of one class table."""

    def __init__(self, cls: InfoClass) -> None:
        cols = class_columns(cls)
        self.columns = [name for name, _ in cols]
        self._convert = [_converter(ctype) for _, ctype in cols]

    def row(self, values: Mapping[str, Any], now: dt.datetime) -> list[Any]:
        data = dict(values, stored_at=now)
        return [
            conv(data.get(name)) for name, conv in zip(self.columns, self._convert, strict=True)
        ]


def stored_outcome(class_code: str, row: Mapping[str, Any], now: dt.datetime) -> list[Any]:
    upload = row["ingest_upload_id"]
    return [
        upload, env.row_key(upload, row["ingest_row"], row["ingest_source_key"]), class_code,
        row["ingest_provider"], row["subject_kind"], "stored", row["record_key"], [],
        from_ms(row["ingest_received_at"]), now,
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


def rejected_outcome(dead: Mapping[str, Any], subject_kind: str, now: dt.datetime) -> list[Any]:
    codes = sorted({r["code"] for r in dead["reasons"]})
    return [
        dead["upload_id"], env.row_key(dead["upload_id"], dead["row"], dead["source_key"]),
        dead["class_code"], dead["provider"], subject_kind, "rejected", "", codes,
        from_ms(dead["received_ms"]), now,
    ]  # fmt: skip


def upload_row(ledger: Mapping[str, Any]) -> list[Any]:
    return [
        ledger["upload_id"], ledger["class_code"], ledger["provider"], ledger["channel"],
        ledger.get("source_name", ""), ledger["received"], ledger["sent"], ledger["rejected"],
        from_ms(ledger["started_ms"]), from_ms(ledger["finished_ms"]),
    ]  # fmt: skip


def subject_row(entry: Mapping[str, Any], now: dt.datetime) -> list[Any]:
    return [
        entry["subject_id"], entry.get("kind", "legal"), entry.get("name", ""),
        entry.get("district", ""), entry.get("org_code", ""), entry.get("reg_no", ""),
        int(bool(entry.get("registered"))), now,
    ]  # fmt: skip


def aggregate_row(row: Mapping[str, Any]) -> list[Any]:
    """An aggregates-topic message as a row of `aggregates` (dates back from ISO text)."""
    from streams.aggregates import AGGREGATE_COLUMNS

    out = []
    for name in AGGREGATE_COLUMNS:
        value = row.get(name)
        if name == "last_on_time_date" and isinstance(value, str):
            value = dt.date.fromisoformat(value) if value else None
        elif name == "updated_at":
            value = from_ms(value)
        elif name == "monthly" and value is None:
            value = []  # a message from a worker older than the monthly history
        out.append(value)
    return out
