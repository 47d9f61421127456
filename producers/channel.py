"""One upload through a channel: intake every row, send or dead-letter it, keep the ledger.

Bookkeeping order (so an upload always adds up): each row is counted as received, then is
either sent to its class topic or dead-lettered by the channel with its reasons; after the
last row the producer is flushed, and only then the ledger entry (received / sent /
rejected) is published.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from producers.intake import intake
from producers.publisher import Publisher
from schemas.catalog import Catalog, InfoClass
from schemas.violations import Violation


@dataclass
class UploadResult:
    upload_id: str
    class_code: str
    provider: str
    channel: str
    received: int = 0
    sent: int = 0
    rejected: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "upload_id": self.upload_id, "class_code": self.class_code, "provider": self.provider,
            "channel": self.channel, "received": self.received, "sent": self.sent,
            "rejected": self.rejected, "errors": self.errors,
        }  # fmt: skip


def _errors(row: int | None, problems: list[Violation]) -> list[dict[str, Any]]:
    return [
        {
            "row": row,
            "field": v.field,
            "reason": v.code,
            "message": v.message_en,
            "message_zh": v.message_zh,
        }
        for v in problems
    ]


def publish_rows(
    publisher: Publisher,
    cls: InfoClass,
    catalog: Catalog,
    rows: Iterable[tuple[int | None, Mapping[str, Any]]],
    upload_id: str,
    source_name: str = "",
    on_row: Callable[[], None] | None = None,
    max_errors: int = 10000,
    ledger: bool = True,
) -> UploadResult:
    """Send every row of one upload; row-level problems are reported, never fatal.

    `ledger=False` for a replay into an existing upload: its ledger entry stays as it was.
    """
    result = UploadResult(upload_id, cls.code, publisher.provider, publisher.channel)
    started = int(time.time() * 1000)
    for row, raw in rows:
        result.received += 1
        record, problems = intake(cls, raw, catalog)
        source_key = str(raw.get("source_key") or "") or None
        if not problems:
            problems = publisher.send(cls, record, upload_id, row, source_key)
            if not problems:
                result.sent += 1
        else:
            key = source_key or f"row:{row}"
            publisher.reject(cls, record, upload_id, row, key, problems)
        if problems:
            result.rejected += 1
            if len(result.errors) < max_errors:
                result.errors.extend(_errors(row, problems))
        if on_row is not None:
            on_row()
    publisher.flush()
    if not ledger:
        return result
    publisher.record_upload({
        "upload_id": upload_id, "class_code": cls.code, "provider": publisher.provider,
        "channel": publisher.channel, "source_name": source_name, "received": result.received,
        "sent": result.sent, "rejected": result.rejected, "started_ms": started,
        "finished_ms": int(time.time() * 1000),
    })  # fmt: skip
    publisher.flush()
    return result
