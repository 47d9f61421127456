"""Tables written for people to open in a spreadsheet: CSV and Excel, with formula-like
text neutralised (CSV injection: a provider's 姓名 of `=HYPERLINK(…)` must not become a live
link in the credit office's Excel).

Stored data keeps exactly what was sent; only what leaves as a file is changed, and as
little as possible: in Excel a text starting with `=`, `+`, `-`, `@`, a tab or a carriage
return is written as a text cell with Excel's quote prefix (the cell shows and holds the
same text, and is never evaluated); in CSV, which has no cell types, it gets a leading `'`,
the form spreadsheet programs read as "text". Plain numbers such as `-12.5` are left alone.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
EXCEL_CELL_MAX = 32_767
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def formula_like(text: str) -> bool:
    """Text a spreadsheet would run as a formula (numbers with a sign excepted)."""
    return text.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(text)


def csv_value(value: Any) -> Any:
    """A CSV field: formula-like text behind a `'`, other values as they are."""
    if isinstance(value, str) and formula_like(value):
        return "'" + value
    return value


def excel_cell(ws: Any, value: object) -> object:
    """A value for a write-only sheet: text as a text cell (quote-prefixed when formula-like),
    with characters Excel refuses removed and cut to Excel's cell limit."""
    if value is None or isinstance(value, bool | int | float | dt.date | dt.time | dt.timedelta):
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            return value.replace(tzinfo=None)
        return value
    text = ILLEGAL_CHARACTERS_RE.sub("", str(value))[:EXCEL_CELL_MAX]
    if not formula_like(text):
        return text
    cell = WriteOnlyCell(ws, value=text)
    cell.data_type = "s"
    cell.style = "Normal"
    cell.quotePrefix = True
    return cell


def write_table(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """`.csv` (UTF-8 with BOM, which Excel reads as UTF-8) or `.xlsx` by the file's suffix;
    returns the rows written."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open("w", newline="", encoding="utf-8-sig") as out:
            writer = csv.writer(out)
            writer.writerow([csv_value(h) for h in header])
            count = 0
            for row in rows:
                writer.writerow([csv_value(v) for v in row])
                count += 1
        return count
    if suffix != ".xlsx":
        raise ValueError(f"{path.name}: write .csv or .xlsx")
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("data")
    bold = Font(bold=True)
    heading = []
    for title in header:
        cell = WriteOnlyCell(ws, value=ILLEGAL_CHARACTERS_RE.sub("", str(title)))
        cell.data_type, cell.font = "s", bold
        heading.append(cell)
    ws.append(heading)
    count = 0
    for row in rows:
        ws.append([excel_cell(ws, v) for v in row])
        count += 1
    wb.save(path)
    return count
