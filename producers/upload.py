"""`credit publish`: a provider file through the file channel, with progress and a report.

Whole-file problems (unreadable file, wrong header, banned personal-data columns) stop the
upload before anything is sent; row problems are reported per row and, on request, written
back into the provider's own layout with a reason column.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tqdm import tqdm

from base.dirty import DirtyThreshold
from producers.apikeys import assigned_classes
from producers.channel import UNNAMED, ReportedAs, UploadResult, publish_rows
from producers.durable_intake import DurableIntake
from producers.exceptions import DepartmentError, HeaderError
from producers.files import Upload, open_upload, write_error_report
from producers.publisher import Publisher, new_upload_id
from schemas.catalog import Catalog, InfoClass
from streams.core.banned import banned_attribute


def check_district(catalog: Catalog, department: str, district: str) -> str:
    """`district` if the catalog has a unit of `department` there ('' = city level: always)."""
    if district and not any(
        d.name == department and d.reports_for(district) for d in catalog.departments
    ):
        units = sorted(
            {x for d in catalog.departments if d.name == department for x in d.districts}
        )
        raise DepartmentError(
            f"部门「{department}」在 {district} 没有报送单位；未发送任何数据 / department "
            f"'{department}' has no reporting unit in district {district} (the catalog lists "
            f"{units or 'none: it reports at city level'}); nothing was sent"
        )
    return district


def check_department(
    cls: InfoClass, catalog: Catalog, provider: str, department: str | None
) -> str:
    """The department the provider acts as, if the catalog lets it report `cls` — the rule the
    HTTP gateway applies to API keys, for files too. Returns the department."""
    if not department:
        raise DepartmentError(
            f"提供单位「{provider}」未登记所属部门：请用 --department 指明（可报送「{cls.name}」的"
            f"部门：{'、'.join(cls.providers)}）或先用 `credit keys` 登记 / provider '{provider}' "
            f"has no department: pass --department (one of {list(cls.providers)}) or register it "
            "with `credit keys PROVIDER --department DEPT`; nothing was sent"
        )
    allowed = assigned_classes(catalog, department)
    if cls.code not in allowed:
        raise DepartmentError(
            f"部门「{department}」不报送「{cls.name}」；未发送任何数据 / department '{department}' "
            f"does not report {cls.code} (the catalog assigns it {sorted(allowed) or 'nothing'}); "
            "nothing was sent"
        )
    return department


def check_columns(upload: Upload) -> list[str]:
    """Refuse a file whose columns carry banned personal data; return the ignored columns."""
    banned = [
        label
        for label in upload.unknown_columns.values()
        if banned_attribute(label, upload.cls.subject_kind)
    ]
    if banned:
        raise HeaderError(
            upload.path,
            f"文件含禁止归集的个人信息列 {banned}，请删除这些列后重新上传；未发送任何数据",
            f"columns {banned} are personal data the platform may not collect (seed 003); "
            "delete them and upload again — nothing was sent",
        )
    return [label for label in upload.unknown_columns.values() if label]


def _rows(upload: Upload, bar: tqdm[Any]) -> Iterator[tuple[int | None, dict[str, object]]]:
    for row in upload.rows():
        yield row.row_number, row.raw
        bar.update(1)


def publish_file(
    path: Path,
    cls: InfoClass,
    catalog: Catalog,
    publisher: Publisher,
    progress: bool = True,
    upload_id: str | None = None,
    intake: DurableIntake | None = None,
    hold_above: DirtyThreshold | None = None,
    reported: ReportedAs = UNNAMED,
) -> tuple[UploadResult, list[str], Upload]:
    """Send every row of `path`; returns the result, the ignored columns and the open upload."""
    upload = open_upload(path, cls)
    ignored = check_columns(upload)
    uid = upload_id or new_upload_id("file")
    with tqdm(
        total=upload.total_rows_hint, desc=path.name, unit="row", disable=not progress
    ) as bar:
        result = publish_rows(publisher, cls, catalog, _rows(upload, bar), uid, path.name,
                              max_errors=1_000_000, intake=intake, source_file=path,
                              hold_above=hold_above, reported=reported)  # fmt: skip
    return result, ignored, upload


def merge_stream_rejections(result: UploadResult, dead: list[dict[str, Any]]) -> None:
    """Add what the stream refused (rows the channel had passed) to the upload's errors."""
    known = {e["row"] for e in result.errors}
    for letter in dead:
        if letter["row"] in known:
            continue
        for reason in json.loads(letter["reasons"]):
            result.errors.append({"row": letter["row"], "field": reason["field"],
                                  "reason": reason["code"], "message": reason["message_en"],
                                  "message_zh": reason["message_zh"]})  # fmt: skip
    result.errors.sort(key=lambda e: (e["row"] is None, e["row"] or 0))


def write_report(upload: Upload, result: UploadResult, target: Path) -> int:
    """The rejected rows in the provider's own layout plus 错误原因 (second pass over the file)."""
    reasons: dict[int, list[str]] = {}
    for err in result.errors:
        where = f"{err['field']}: " if err["field"] else ""
        reasons.setdefault(err["row"], []).append(f"{where}{err['reason']} {err['message_zh']}")
    rejected = (
        (row.row_number, list(row.cells), "; ".join(reasons[row.row_number]))
        for row in upload.rows()
        if row.row_number in reasons
    )
    return write_error_report(target, upload.header, rejected)
