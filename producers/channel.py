"""One upload through a channel: intake every row, send or dead-letter it, keep the ledger.

Bookkeeping order (so an upload always adds up): each row is counted as received, then is
either sent to its class topic or dead-lettered by the channel with its reasons; after the
last row the producer is flushed, and only then the ledger entry (received / sent /
rejected) is published.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from base.dirty import DirtyThreshold
from producers.durable_intake import DurableIntake
from producers.exceptions import PublishError
from producers.intake import intake as intake_row
from producers.publisher import Publisher
from schemas.catalog import Catalog, InfoClass
from schemas.periods import Period
from schemas.violations import Violation

log = logging.getLogger("credit.channel")


@dataclass(frozen=True)
class ReportedAs:
    """Who reports an upload, and for what: the catalog department the provider acts as, its
    district unit (a 6-digit 市/区 code, '' for the city level) where the department reports
    by district, and the period the data covers (None: the span of its rows' event dates)."""

    department: str = ""
    district: str = ""
    period: Period | None = None


UNNAMED = ReportedAs()  # no department named (a provider's own SDK, the poller)


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
    # False: accepted into the durable intake, but the broker did not take it yet (the
    # platform sends it from the intake when the broker is back)
    delivered: bool = True
    # why the whole upload is held (too many rows refused), or "" — nothing of it is sent
    # until an admin or the provider releases it (`credit upload release|withdraw`)
    held: str = ""
    # the period the data covers: declared by the provider, else its rows' event dates
    period: Period | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "upload_id": self.upload_id, "class_code": self.class_code, "provider": self.provider,
            "channel": self.channel, "received": self.received, "sent": self.sent,
            "rejected": self.rejected, "errors": self.errors, "delivered": self.delivered,
            "held": self.held, "period": self.period.label() if self.period else None,
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
    on_row: Callable[[], object] | None = None,
    max_errors: int = 10000,
    ledger: bool = True,
    intake: DurableIntake | None = None,
    source_file: Path | None = None,
    hold_above: DirtyThreshold | None = None,
    reported: ReportedAs = UNNAMED,
) -> UploadResult:
    """Send every row of one upload; row-level problems are reported, never fatal.

    With `intake` the upload is all-or-nothing: every message goes to the durable intake
    first, the intake commits (fsync), and only then are the messages produced. A failure
    before the commit sends nothing; a broker failure after it leaves the upload accepted in
    the intake, from which the platform sends it again. `ledger=False` for a replay into an
    existing upload: its ledger entry stays as it was (replays re-send dead letters, which
    stay stored where they are, so they skip the intake). With `hold_above` (a share, the
    dirty-data threshold) an upload that refuses more of its rows than that is committed to
    the intake as held and nothing of it is produced until it is released. `reported` names
    the department, district and period the ledger entry records.
    """
    started = int(time.time() * 1000)
    if intake is None or not ledger:
        result = _send_rows(publisher, cls, catalog, rows, upload_id, on_row, max_errors)
        publisher.flush()  # the rows are acknowledged before the ledger entry goes out
        if ledger:
            publisher.record_upload(_ledger(result, source_name, started, reported))
            publisher.flush()
        return result
    recorder = intake.begin(upload_id, source_file)
    publisher.record_to(recorder)
    try:
        result = _send_rows(publisher, cls, catalog, rows, upload_id, on_row, max_errors)
        entry = _ledger(result, source_name, started, reported)
        publisher.record_upload(entry)
        publisher.flush()  # the last batches, into the recorder
        result.held = dirty_hold(result, hold_above)
        recorder.commit({**entry, "held": result.held} if result.held else entry)  # accepted
    except BaseException:
        recorder.abort()
        raise
    finally:
        publisher.record_to(None)
    if result.held:
        log.warning("upload %s held: %s", upload_id, result.held)
        return result
    try:
        publisher.publish_frames(intake.frames(upload_id))
        intake.mark_published(upload_id)
    except PublishError as exc:  # accepted all the same: the platform re-sends from the intake
        log.warning("upload %s accepted but not yet delivered: %s", upload_id, exc)
        result.delivered = False
    return result


def dirty_hold(result: UploadResult, threshold: DirtyThreshold | None) -> str:
    """Why `result` is held (its refused share is above the threshold), or "". An upload
    with no row to store is not held: there is nothing to keep back."""
    if threshold is None or result.sent == 0 or result.received < threshold.min_rows:
        return ""
    share = result.rejected / result.received
    if share <= threshold.share:
        return ""
    return (
        f"{result.rejected}/{result.received} 行被拒（{share:.0%}），超过脏数据阈值 "
        f"{threshold.share:.0%}，整批暂扣待审 / {result.rejected} of {result.received} rows refused "
        f"({share:.0%}), above the dirty-data threshold of {threshold.share:.0%}: the whole upload "
        "is held; correct the file and upload again, or ask the credit office to release it"
    )


def _send_rows(
    publisher: Publisher,
    cls: InfoClass,
    catalog: Catalog,
    rows: Iterable[tuple[int | None, Mapping[str, Any]]],
    upload_id: str,
    on_row: Callable[[], object] | None,
    max_errors: int,
) -> UploadResult:
    result = UploadResult(upload_id, cls.code, publisher.provider, publisher.channel)
    days: set[dt.date] = set()
    for row, raw in rows:
        result.received += 1
        record, problems = intake_row(cls, raw, catalog)
        day = record.get(cls.event_date_field) if cls.event_date_field else None
        if isinstance(day, dt.date):
            days.add(day)
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
    today = dt.date.today()  # a future event date is a refused row, not the period covered
    result.period = Period.spanning(d for d in days if d <= today)
    return result


def _ledger(
    result: UploadResult, source_name: str, started_ms: int, reported: ReportedAs
) -> dict[str, Any]:
    if reported.period is not None:
        result.period = reported.period
    period = result.period
    return {
        "upload_id": result.upload_id, "class_code": result.class_code,
        "provider": result.provider, "department": reported.department,
        "district": reported.district, "channel": result.channel, "source_name": source_name,
        "received": result.received, "sent": result.sent, "rejected": result.rejected,
        "started_ms": started_ms, "finished_ms": int(time.time() * 1000),
        "period_start": period.start.isoformat() if period else "",
        "period_end": period.end.isoformat() if period else "",
    }  # fmt: skip
