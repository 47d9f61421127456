"""Formula-like text leaves as text in CSV and Excel (CSV injection), numbers as numbers."""

from __future__ import annotations

import csv
from pathlib import Path

from openpyxl import load_workbook

from schemas.exports import formula_like, write_table

ROWS = [
    ['=HYPERLINK("http://x","点我")', "+86 510", "-12.5", "@SUM(A1)", "\tcmd", "江阴某公司", 3],
]
HEADER = ["姓名", "电话", "金额", "备注", "tab", "name", "n"]


def test_csv_puts_a_quote_before_formula_like_text_only(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    assert write_table(path, HEADER, ROWS) == 1
    with path.open(encoding="utf-8-sig", newline="") as f:
        header, row = list(csv.reader(f))
    assert header == HEADER
    assert row == ["'=HYPERLINK(\"http://x\",\"点我\")", "'+86 510", "-12.5", "'@SUM(A1)",
                   "'\tcmd", "江阴某公司", "3"]  # fmt: skip


def test_excel_keeps_the_exact_text_as_a_quote_prefixed_text_cell(tmp_path: Path) -> None:
    path = tmp_path / "out.xlsx"
    write_table(path, HEADER, ROWS)
    ws = load_workbook(path).active
    assert ws is not None
    cells = next(iter(ws.iter_rows(min_row=2, max_row=2)))
    assert [c.value for c in cells] == ROWS[0]
    first = cells[0]
    assert first.data_type == "s" and first.quotePrefix
    assert not cells[5].quotePrefix and cells[6].data_type == "n"


def test_formula_like_spares_signed_numbers() -> None:
    assert formula_like("=1+1") and formula_like("-cmd") and formula_like("+x")
    assert not formula_like("-12.5") and not formula_like("+3") and not formula_like("江阴")
