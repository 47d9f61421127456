"""The provider's Excel template: headers, drop-downs, guide sheet, and a readable example row."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import load_workbook

from producers.files import open_upload
from producers.template import GUIDE_SHEET, write_template
from schemas.catalog import Catalog, InfoClass, default_catalog
from schemas.codes import check_uscc
from schemas.values import coerce_record

CATALOG: Catalog = default_catalog()
ARREARS: InfoClass = CATALOG.get("legal_arrears")


@pytest.fixture(scope="module")
def arrears_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tpl") / "legal_arrears.xlsx"
    write_template(ARREARS, CATALOG, path)
    return path


def _validations_by_column(path: Path) -> dict[str, str]:
    ws = load_workbook(path)[ARREARS.name]
    found: dict[str, str] = {}
    for dv in ws.data_validations.dataValidation:
        for cell_range in dv.sqref.ranges:
            found[cell_range.coord.split(":")[0].rstrip("0123456789")] = dv.formula1
    return found


def test_header_is_exactly_the_class_labels_in_catalog_order(arrears_template: Path) -> None:
    wb = load_workbook(arrears_template)
    assert wb.sheetnames[0] == ARREARS.name
    ws = wb[ARREARS.name]
    header = [c.value for c in next(ws.iter_rows(min_row=1, max_row=1))]
    assert header == [f.label for f in ARREARS.fields]
    assert ws.freeze_panes == "A2"


def test_required_columns_are_bold_with_a_note(arrears_template: Path) -> None:
    ws = load_workbook(arrears_template)[ARREARS.name]
    for col, f in enumerate(ARREARS.fields, start=1):
        cell = ws.cell(row=1, column=col)
        assert bool(cell.font.b) is f.required, f.label
        assert (cell.comment is not None and cell.comment.text == "必填") is f.required


def test_enum_column_offers_the_catalog_values(arrears_template: Path) -> None:
    col = next(i for i, f in enumerate(ARREARS.fields) if f.label == "欠缴类型名称")
    letter = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[col]
    formula = _validations_by_column(arrears_template)[letter]
    assert formula.strip('"').split(",") == list(CATALOG.enums["utility_type"].values)


def test_bool_column_offers_yes_and_no(tmp_path: Path) -> None:
    cls = CATALOG.get("legal_utility_payment")
    path = tmp_path / "u.xlsx"
    write_template(cls, CATALOG, path)
    ws = load_workbook(path)[cls.name]
    formulas = [dv.formula1 for dv in ws.data_validations.dataValidation]
    assert '"是,否"' in formulas


def test_guide_sheet_describes_every_field(arrears_template: Path) -> None:
    ws = load_workbook(arrears_template)[GUIDE_SHEET]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][:4] == ("字段名", "中文列名", "类型", "是否必填")
    described = {r[0]: r for r in rows[1 : len(ARREARS.fields) + 1]}
    assert set(described) == {f.name for f in ARREARS.fields}
    assert described["arrears_type"][4] == "、".join(CATALOG.enums["utility_type"].values)
    assert described["account_no"][3] == "是"
    assert "2024-03-31" in str(described["arrears_start"][5])


def test_example_row_reads_back_and_coerces_cleanly(arrears_template: Path) -> None:
    upload = open_upload(arrears_template, ARREARS)
    assert upload.unknown_columns == {}
    (row,) = list(upload.rows())
    assert row.row_number == 2
    record, violations = coerce_record(ARREARS, row.raw, CATALOG)
    assert violations == []
    assert record["arrears_type"] == "水费"
    assert isinstance(record["uscc"], str) and check_uscc(record["uscc"]) == []


@pytest.mark.parametrize("code", [c.code for c in CATALOG])
def test_every_class_template_round_trips(tmp_path: Path, code: str) -> None:
    cls = CATALOG.get(code)
    path = tmp_path / f"{code}.xlsx"
    write_template(cls, CATALOG, path)
    (row,) = list(open_upload(path, cls).rows())
    assert coerce_record(cls, row.raw, CATALOG)[1] == []


def test_period_columns_are_text_so_a_month_stays_a_month(tmp_path: Path) -> None:
    cls = CATALOG.get("legal_utility_payment")
    path = tmp_path / "u.xlsx"
    write_template(cls, CATALOG, path)
    (row,) = list(open_upload(path, cls).rows())
    record, _ = coerce_record(cls, row.raw, CATALOG)
    assert row.raw["period_end"] == "2024-03"
    assert str(record["period_end"]) == "2024-03-31"
