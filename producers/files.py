"""Streaming readers for providers' .xlsx and .csv uploads, and the rejected-rows report.

Memory stays bounded whatever the file size: CSV is read record by record, xlsx through
openpyxl's read-only mode. `open_upload` reads only as far as the header and the first data
row, so every problem with the file as a whole (unreadable, empty, wrong header) is raised
before any row is handed on; `Upload.rows()` then reopens the file and streams it.

Row numbers are the ones the provider sees in Excel (header = 1 in our template), blank rows
skipped but counted, so the rejected-rows report points at the right line.
"""

from __future__ import annotations

import codecs
import csv
import zipfile
import zlib
from collections.abc import Callable, Collection, Generator, Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException

from producers.exceptions import CorruptFileError, EmptyFileError, HeaderError, UnsupportedFileError
from schemas.catalog import PROVENANCE_FIELDS, InfoClass, normalize_label
from schemas.exports import excel_cell

CSV_SUFFIXES = frozenset({".csv", ".tsv", ".txt"})
XLSX_SUFFIXES = frozenset({".xlsx", ".xlsm"})
SAMPLE_BYTES = 64 * 1024
DELIMITERS = (",", "\t", ";", "|")
# A title line above the header ("社会法人欠缴费用信息") is skipped if it has this few cells.
MAX_TITLE_ROWS, MAX_TITLE_CELLS = 3, 2
REPORT_ROW_COLUMN, REPORT_REASON_COLUMN = "原始行号", "错误原因"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy .xls, or an .xlsx protected by a password
_ZIP_MAGIC = b"PK\x03\x04"

Cells = list[object]
NumberedCells = Generator[tuple[int, Cells], None, None]


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One data row: its spreadsheet row number, values by field name, and the cells as read."""

    row_number: int
    raw: dict[str, object]
    cells: Cells


@dataclass(frozen=True)
class Upload:
    """A provider file whose header fits the class; `rows()` streams the data rows.

    `mapping` and `unknown_columns` are keyed by 0-based column index. Unknown columns are
    kept (not dropped) so the caller can refuse banned personal data or report extras.
    """

    path: Path
    cls: InfoClass
    header: list[str]
    header_row: int
    mapping: dict[int, str]
    unknown_columns: dict[int, str]
    total_rows_hint: int | None
    _source: Callable[[], NumberedCells] = field(repr=False)

    def rows(self) -> Iterator[SourceRow]:
        """Non-blank rows after the header; each call reads the file afresh."""
        pick = _picker(self.mapping)
        with closing(self._source()) as numbered:
            for number, cells in numbered:
                if number > self.header_row:
                    yield SourceRow(number, pick(cells), cells)


def _picker(mapping: dict[int, str]) -> Callable[[Cells], dict[str, object]]:
    """Cells → values by field name; short rows read as None. Hot loop: one itemgetter call."""
    names = list(mapping.values())
    width = max(mapping, default=-1) + 1
    get = itemgetter(*mapping, width)  # the extra index keeps the result a tuple

    def pick(cells: Cells) -> dict[str, object]:
        padded = cells if len(cells) > width else [*cells, *[None] * (width + 1 - len(cells))]
        return dict(zip(names, get(padded), strict=False))

    return pick


def _blank(cell: object) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def _non_blank(rows: Iterable[tuple[object, ...] | list[Any]]) -> NumberedCells:
    """Number rows from 1 as the spreadsheet does, then drop the blank ones."""
    for number, row in enumerate(rows, start=1):
        cells = list(row)
        while cells and _blank(cells[-1]):
            cells.pop()
        if cells:
            yield number, cells


# --- CSV --------------------------------------------------------------------------------


def _csv_encoding(path: Path, head: bytes) -> str:
    """UTF-8 (BOM or not), UTF-16 with BOM (Excel's "Unicode text"), else GB18030 (⊃ GBK)."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if head.startswith((_ZIP_MAGIC, _OLE_MAGIC)) or b"\x00" in head:
        raise CorruptFileError.not_text(path)
    try:
        # final=False: the sample may end in the middle of a multi-byte character.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8"


def _csv_delimiter(text: str) -> str:
    """The most frequent of , TAB ; | on the busiest of the first lines.

    csv.Sniffer guesses wrong on Chinese headers without quotes, so we simply count.
    """
    lines = [line for line in text.splitlines()[:5] if line.strip()]
    busiest = max(lines, key=lambda line: sum(line.count(d) for d in DELIMITERS), default="")
    best = max(DELIMITERS, key=busiest.count)
    return best if busiest.count(best) else ","


def _csv_cells(path: Path, encoding: str, delimiter: str) -> NumberedCells:
    with path.open(encoding=encoding, newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        try:
            yield from _non_blank(reader)
        except (UnicodeDecodeError, csv.Error) as exc:
            raise CorruptFileError(
                path,
                f"第 {reader.line_num + 1} 行附近无法读取（编码或格式错误：{exc}），"
                "请将整个文件另存为 UTF-8 编码的 CSV",
                f"cannot read near line {reader.line_num + 1} ({exc}); "
                "save the whole file as UTF-8 CSV",
            ) from exc


def _csv_source(path: Path) -> tuple[Callable[[], NumberedCells], Callable[[int], int]]:
    """The row source and a row-count estimate (from the sample's bytes per line)."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(SAMPLE_BYTES)
    encoding = _csv_encoding(path, head)
    delimiter = _csv_delimiter(head.decode(encoding, errors="replace"))
    lines = head.count(b"\n") + (0 if head.endswith(b"\n") else 1)
    estimate = lines if size <= len(head) else round(size * lines / max(len(head), 1))

    def source() -> NumberedCells:
        return _csv_cells(path, encoding, delimiter)

    return source, lambda header_row: max(estimate - header_row, 0)


# --- XLSX -------------------------------------------------------------------------------

# What openpyxl raises on a damaged archive or sheet XML (lxml's and ElementTree's parse
# errors are SyntaxErrors).
_XLSX_ERRORS = (zipfile.BadZipFile, zlib.error, InvalidFileException, SyntaxError,
                KeyError, ValueError, TypeError, EOFError)  # fmt: skip


class _XlsxSource:
    """Opens the workbook per pass and always closes it; remembers the stored dimension."""

    def __init__(self, path: Path, cls: InfoClass) -> None:
        self.path, self.cls = path, cls
        self.stored_max_row: int | None = None

    def _open(self) -> Any:
        with self.path.open("rb") as fh:
            magic = fh.read(4)
        if magic == _OLE_MAGIC:
            raise UnsupportedFileError.legacy_excel(self.path)
        if magic != _ZIP_MAGIC:
            raise CorruptFileError.not_a_workbook(self.path, "not a zip archive")
        try:
            return load_workbook(self.path, read_only=True, data_only=True)
        except _XLSX_ERRORS as exc:
            raise CorruptFileError.not_a_workbook(self.path, type(exc).__name__) from exc

    def _sheet(self, wb: Any) -> Any:
        """The sheet named like the class (template), else the first worksheet."""
        wanted = {
            normalize_label(self.cls.name),
            normalize_label(self.cls.name[:31]),
            self.cls.code,
        }
        sheets = wb.worksheets
        if not sheets:
            raise EmptyFileError(self.path, "工作簿中没有工作表", "the workbook has no worksheet")
        return next((ws for ws in sheets if normalize_label(ws.title) in wanted), sheets[0])

    def __call__(self) -> NumberedCells:
        wb = self._open()
        try:
            ws = self._sheet(wb)
            self.stored_max_row = ws.max_row
            # The stored dimension is sometimes wrong; openpyxl would cut rows off at it.
            ws.reset_dimensions()
            yield from _non_blank(ws.iter_rows(values_only=True))
        except _XLSX_ERRORS as exc:
            raise CorruptFileError.not_a_workbook(self.path, type(exc).__name__) from exc
        finally:
            wb.close()

    def hint(self, header_row: int) -> int | None:
        rows = self.stored_max_row
        return rows - header_row if rows and rows > header_row else None


# --- header -----------------------------------------------------------------------------


def _column(index: int) -> str:
    return f"第{index + 1}列({get_column_letter(index + 1)})"


def _lookup(cls: InfoClass) -> dict[str, str]:
    """Folded header text → field name: Chinese labels, English names, generic provenance labels."""
    table = {key: f.name for key, f in cls.by_label.items()}
    table.update({f.name: f.name for f in cls.fields})
    for name, label, _ in PROVENANCE_FIELDS:
        if name in cls.by_name:
            table.setdefault(normalize_label(label), name)
    return table


def _header_key(cell: object) -> str:
    # "*机构全称" marks a required column in many hand-made templates.
    return normalize_label("" if cell is None else str(cell)).strip("*").lower()


def _find_header(path: Path, cls: InfoClass, numbered: NumberedCells) -> tuple[int, Cells, bool]:
    """(row number, cells) of the header and whether a data row follows.

    Up to three short title lines above the header are skipped when none of their cells is a
    known column.
    """
    lookup, titles = _lookup(cls), 0
    header: tuple[int, Cells] | None = None
    for number, cells in numbered:
        if header is not None:
            return (*header, True)
        known = any(_header_key(c) in lookup for c in cells)
        short = sum(not _blank(c) for c in cells) <= MAX_TITLE_CELLS
        if not known and short and titles < MAX_TITLE_ROWS:
            titles += 1
            continue
        header = (number, cells)
    if header is None:
        raise EmptyFileError(path, "文件为空，没有表头", "the file is empty: no header row")
    return (*header, False)


def _match_header(
    path: Path, cls: InfoClass, header: Cells, supplied: Collection[str]
) -> tuple[dict[int, str], dict[int, str]]:
    """Column index → field name, and the unknown columns; HeaderError if the header misfits."""
    lookup = _lookup(cls)
    mapping: dict[int, str] = {}
    unknown: dict[int, str] = {}
    for index, cell in enumerate(header):
        key = _header_key(cell)
        if not key:
            continue
        if key in lookup:
            mapping[index] = lookup[key]
        else:
            unknown[index] = str(cell).strip()
    columns: dict[str, list[int]] = {}
    for index, name in mapping.items():
        columns.setdefault(name, []).append(index)
    dupes = {cls.by_name[n].label: idx for n, idx in columns.items() if len(idx) > 1}
    missing = tuple(
        f.label
        for f in cls.fields
        if f.required and f.name not in columns and f.name not in supplied
    )
    if not mapping:  # nothing fits: wrong class or wrong sheet, even if nothing is required
        missing = missing or tuple(f.label for f in cls.fields)
    if missing or dupes:
        raise _header_error(path, cls, missing, dupes)
    return mapping, unknown


def _header_error(
    path: Path, cls: InfoClass, missing: tuple[str, ...], dupes: dict[str, list[int]]
) -> HeaderError:
    zh, en = [], []
    if missing:
        zh.append(f"缺少必填列：{'、'.join(missing)}")
        en.append(f"required columns missing: {', '.join(missing)}")
    for label, idx in dupes.items():
        zh.append(f"列“{label}”重复出现（{'、'.join(map(_column, idx))}）")
        en.append(f"column '{label}' appears more than once (columns {[i + 1 for i in idx]})")
    expected = "、".join(f.label for f in cls.fields)
    return HeaderError(
        path,
        f"表头与“{cls.name}”模板不符：{'；'.join(zh)}。应有的列：{expected}",
        f"the header does not fit '{cls.name}' ({cls.code}): {'; '.join(en)}. "
        f"Expected columns: {expected}",
        missing=missing,
        duplicated=tuple(dupes),
    )


def open_upload(path: Path, cls: InfoClass, *, supplied: Collection[str] = ()) -> Upload:
    """Check the file and its header against `cls`; stream rows later with `Upload.rows()`.

    `supplied` names fields the caller fills itself (e.g. provenance from the upload form),
    so their columns are not required in the file.
    """
    suffix = path.suffix.lower()
    if not path.is_file():
        raise CorruptFileError(
            path, "文件不存在或无法读取", "the file does not exist or cannot be read"
        )
    source: Callable[[], NumberedCells]
    hint: Callable[[int], int | None]
    if suffix in CSV_SUFFIXES:
        source, hint = _csv_source(path)
    elif suffix in XLSX_SUFFIXES:
        xlsx = _XlsxSource(path, cls)
        source, hint = xlsx, xlsx.hint
    elif suffix == ".xls":
        raise UnsupportedFileError.legacy_excel(path)
    else:
        raise UnsupportedFileError.other_format(path)
    with closing(source()) as numbered:
        header_row, header, has_data = _find_header(path, cls, numbered)
    mapping, unknown = _match_header(path, cls, header, supplied)
    if not has_data:
        raise EmptyFileError(path, "只有表头，没有数据行", "the file has a header but no data rows")
    return Upload(
        path=path,
        cls=cls,
        header=["" if c is None else str(c) for c in header],
        header_row=header_row,
        mapping=mapping,
        unknown_columns=unknown,
        total_rows_hint=hint(header_row),
        _source=source,
    )


# --- the rejected-rows report -----------------------------------------------------------


def write_error_report(
    path: Path, header: Sequence[str], rejected: Iterable[tuple[int, Sequence[object], str]]
) -> int:
    """Write the rejected rows back in the provider's own layout; returns how many.

    Columns: 原始行号, the provider's header, 错误原因; formula-like text stays text
    (`schemas.exports`). Written in openpyxl's write-only mode,
    so a report of a million rows streams to disk. The caller blanks any banned value first
    (seed 003: banned personal data is not stored anywhere, reports included).
    """
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("错误行")
    ws.freeze_panes = "B2"
    bold = Font(bold=True)
    titles = [REPORT_ROW_COLUMN, *header, REPORT_REASON_COLUMN]
    heading = []
    for title in titles:
        cell = WriteOnlyCell(ws, value=ILLEGAL_CHARACTERS_RE.sub("", str(title)))
        cell.data_type = "s"
        cell.font = bold
        heading.append(cell)
    ws.append(heading)
    count = 0
    for row_number, cells, reason in rejected:
        padded = [*cells[: len(header)], *[None] * (len(header) - len(cells))]
        ws.append([row_number, *(excel_cell(ws, c) for c in padded), excel_cell(ws, reason)])
        count += 1
    wb.save(path)
    return count
