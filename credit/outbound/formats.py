"""What a target receives for one change, in its format (the value on `credit.out.<target>`).

* `platform`: the platform's own names — the class code, the record's catalog fields by
  name, and its subject and provenance.
* `province`: the provincial platform's exchange layout — 信息类别 by its catalog name, every
  field under its catalog label (统一社会信用代码, 欠费金额 …), 操作 新增或更新 / 撤回.

A withdrawal carries the record's identity only. Dates go as ISO text, amounts as numbers.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Mapping
from typing import Any

from schemas.catalog import InfoClass

_PROVENANCE = ("ingest_provider", "ingest_channel", "ingest_upload_id", "stored_at")
_ACTION_LABEL = {"upsert": "新增或更新", "withdraw": "撤回"}


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


def render(fmt: str, cls: InfoClass, change: Mapping[str, Any]) -> dict[str, Any]:
    """The message for one change (`sinks.read.outbound_changes`), with its delivery id."""
    record = change.get("record") or {}
    head = {"delivery_id": change["delivery_id"], "action": change["action"],
            "class_code": cls.code, "record_key": change["record_key"],
            "record_version": int(change["record_version"]), "seq": int(change["seq"]),
            "subject_id": change["subject_id"],
            "queued_at": _plain(change["queued_at"])}  # fmt: skip
    if fmt == "province":
        head.update(操作=_ACTION_LABEL[str(change["action"])], 信息类别=cls.name)
        if record:
            head["记录"] = {f.label: _plain(record.get(f.name)) for f in cls.fields}
            head["报送单位"] = record.get("ingest_provider", "")
        return head
    if record:
        head["record"] = {f.name: _plain(record.get(f.name)) for f in cls.fields}
        head["provenance"] = {k: _plain(record.get(k)) for k in _PROVENANCE}
    return head
