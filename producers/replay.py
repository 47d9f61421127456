"""`credit replay`: re-submit the dead letters of an upload after the provider fixed them.

Replayed rows keep their upload id and row numbers, so each row's outcome is replaced (a row
rejected before and stored now counts as stored) and the upload still adds up; the upload's
ledger entry (what the provider handed over) is left as it was.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from producers.channel import UploadResult, publish_rows
from producers.exceptions import HeaderError
from producers.files import open_upload
from producers.publisher import Publisher
from schemas.catalog import Catalog, InfoClass

ROW_LABEL = "原始行号"  # the first column of an error report (`credit publish --error-report`)


def stored_payload_rows(
    dead: list[Mapping[str, Any]],
) -> Iterator[tuple[int | None, dict[str, Any]]]:
    """Dead letters as they were stored (for causes fixed on the platform's side, e.g. a
    subject that registration records have since made known)."""
    for letter in dead:
        payload = json.loads(letter["payload"] or "null")
        if isinstance(payload, dict):
            fields = {k: v for k, v in payload.items() if not k.startswith("ingest_")}
            yield letter["row"], fields


def fixed_file_rows(path: Path, cls: InfoClass) -> Iterator[tuple[int | None, dict[str, object]]]:
    """Rows of the provider's corrected error report, numbered by its 原始行号 column."""
    upload = open_upload(path, cls)
    column = next((i for i, label in upload.unknown_columns.items() if label == ROW_LABEL), None)
    if column is None:
        raise HeaderError(path, f"缺少「{ROW_LABEL}」列：请在错误报告上修改后重新提交",
                          f"no '{ROW_LABEL}' column: correct the error report itself and replay it")  # fmt: skip
    for row in upload.rows():
        number = row.cells[column] if column < len(row.cells) else None
        yield (int(str(number)) if number not in (None, "") else None), row.raw


def replay(
    publisher: Publisher,
    cls: InfoClass,
    catalog: Catalog,
    upload_id: str,
    rows: Iterator[tuple[int | None, Mapping[str, Any]]],
) -> UploadResult:
    return publish_rows(publisher, cls, catalog, rows, upload_id, "replay", ledger=False)
