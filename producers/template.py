"""The Excel template a provider fills in for one information class.

Generated from the catalog, so the headers are exactly the Chinese labels `open_upload`
expects, drop-down lists offer exactly the catalog's values, and the 说明 sheet documents the
spellings `schemas.values` accepts. Columns that hold text (codes, account numbers, months)
are formatted as text so Excel neither drops leading zeros nor turns `2024-03` into a date —
the latter would make a period column mean one day instead of the whole month.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.worksheet.datavalidation import DataValidation

from schemas.catalog import Catalog, FieldSpec, FieldType, InfoClass
from schemas.codes import random_citizen_id, random_org_code, random_reg_no, random_uscc
from schemas.values import FORMAT_HINTS

GUIDE_SHEET = "说明"
LISTS_SHEET = "可选值"
REQUIRED_NOTE = "必填"
LAST_ROW = 1_048_576  # Excel's last row: validations cover every row a provider can fill
_INLINE_LIST_MAX = 255  # Excel's limit for a literal list in a validation formula
_TEXT_TYPES = frozenset({"string", "month", "period_start", "period_end", "enum", "bool"})
_BOOL_VALUES = ("是", "否")

TYPE_NAMES: dict[FieldType, str] = {
    "string": "文本", "int": "整数", "amount": "金额（元）", "quantity": "数量",
    "ratio": "比例（%）", "date": "日期", "month": "年月", "period_start": "开始月或日",
    "period_end": "截止月或日", "bool": "是/否", "enum": "代码值",
}  # fmt: skip
CHECK_HINTS = {
    "uscc": "18位统一社会信用代码",
    "org_code": "9位组织机构代码",
    "reg_no": "15位工商注册号",
    "citizen_id": "18位居民身份证号码",
    "id_by_type": "按证件类型填写，身份证为18位号码",
    "phone": "手机号码或固定电话",
}
# Plausible example text for common fields; other text fields show 示例 + their label.
_EXAMPLE_TEXT = {
    "org_name": "示例科技有限公司",
    "person_name": "张三",
    "usage_unit": "吨",
    "usage_scope": "政务共享",
}
_EXAMPLE_VALUES: dict[FieldType, object] = {
    "int": 30, "amount": 1234.5, "quantity": 56.5, "ratio": 12,
    "date": dt.date(2024, 3, 31), "month": "2024-03", "period_start": "2024-03",
    "period_end": "2024-03", "bool": "否",
}  # fmt: skip


def _example_codes(rng: random.Random) -> dict[str, Callable[[], str]]:
    """Valid-looking codes per check, drawn from a fixed seed so the template is reproducible."""
    return {
        "uscc": lambda: random_uscc(rng),
        "org_code": lambda: random_org_code(rng),
        "reg_no": lambda: random_reg_no(rng),
        "citizen_id": lambda: random_citizen_id(rng),
        "id_by_type": lambda: random_citizen_id(rng),  # the example 证件类型 is 身份证
        "phone": lambda: "0510-86123456",
    }


def example_row(cls: InfoClass, catalog: Catalog) -> list[object]:
    """One plausible value per field, in catalog order."""
    codes = _example_codes(random.Random(0))
    row: list[object] = []
    for f in cls.fields:
        if f.type == "enum":
            row.append(catalog.enums[f.enum or ""].values[0])
        elif f.type != "string":
            row.append(_EXAMPLE_VALUES[f.type])
        elif f.check is not None:
            row.append(codes[f.check]())
        else:
            row.append(_EXAMPLE_TEXT.get(f.name, f"示例{f.label}"))
    return row


@cache
def example_subject_code(cls: InfoClass, catalog: Catalog) -> str:
    """The subject code the template's example row carries (a fixed seed: always the same)."""
    names = [f.name for f in cls.fields]
    value = example_row(cls, catalog)[names.index(cls.subject.code)]
    return str(value)


def sheet_title(name: str) -> str:
    """A legal sheet title: no []:*?/\\ and at most 31 characters (Excel's limits)."""
    return re.sub(r"[\[\]:*?/\\]", "_", name)[:31]


def _allowed(f: FieldSpec, catalog: Catalog) -> tuple[str, ...]:
    if f.type == "enum":
        return catalog.enums[f.enum or ""].values
    return _BOOL_VALUES if f.type == "bool" else ()


def _list_formula(wb: Workbook, f: FieldSpec, values: tuple[str, ...]) -> str:
    """A literal list when Excel allows it, else a range on a hidden sheet."""
    literal = ",".join(values)
    if len(literal) <= _INLINE_LIST_MAX and not any("," in v or '"' in v for v in values):
        return f'"{literal}"'
    if LISTS_SHEET in wb.sheetnames:
        lists = wb[LISTS_SHEET]
        column = lists.max_column + 1
    else:
        lists = wb.create_sheet(LISTS_SHEET)
        lists.sheet_state = "hidden"
        column = 1
    lists.cell(row=1, column=column, value=f.name)
    for i, value in enumerate(values, start=2):
        lists.cell(row=i, column=column, value=value)
    letter = get_column_letter(column)
    return f"{quote_sheetname(LISTS_SHEET)}!${letter}$2:${letter}${len(values) + 1}"


def _add_validation(wb: Workbook, ws: Any, f: FieldSpec, col: int, values: tuple[str, ...]) -> None:
    validation = DataValidation(
        type="list",
        formula1=_list_formula(wb, f, values),
        allow_blank=True,
        showErrorMessage=True,
        errorTitle="无效的值",
        error=f"{f.label}：请从下拉列表中选择（{'、'.join(values)}）"[:255],
    )
    letter = get_column_letter(col)
    validation.add(f"{letter}2:{letter}{LAST_ROW}")
    ws.add_data_validation(validation)


def _write_data_sheet(wb: Workbook, cls: InfoClass, catalog: Catalog) -> None:
    """Header (required labels bold, with a 必填 note), example row, formats, drop-downs."""
    ws: Any = wb.active
    ws.title = sheet_title(cls.name)
    bold, required_fill = Font(bold=True), PatternFill("solid", fgColor="FFF2CC")
    for col, (f, example) in enumerate(zip(cls.fields, example_row(cls, catalog), strict=True), 1):
        head = ws.cell(row=1, column=col, value=f.label)
        head.alignment = Alignment(horizontal="center")
        if f.required:
            head.font, head.fill = bold, required_fill
            head.comment = Comment(REQUIRED_NOTE, "credit-ingest")
        body = ws.cell(row=2, column=col, value=example)
        dimension = ws.column_dimensions[get_column_letter(col)]
        dimension.width = max(12, 2 * len(f.label) + 4)
        if f.type in _TEXT_TYPES:
            dimension.number_format = body.number_format = "@"
        elif f.type == "date":
            dimension.number_format = body.number_format = "yyyy-mm-dd"
        values = _allowed(f, catalog)
        if values:
            _add_validation(wb, ws, f, col, values)
    ws.freeze_panes = "A2"


def _write_guide(wb: Workbook, cls: InfoClass, catalog: Catalog) -> None:
    """One line per field: name, label, type, required, allowed values, accepted formats."""
    ws: Any = wb.create_sheet(GUIDE_SHEET)
    ws.append(["字段名", "中文列名", "类型", "是否必填", "可选值", "填写格式"])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for f in cls.fields:
        hint = CHECK_HINTS.get(f.check or "", FORMAT_HINTS[f.type])
        allowed = "、".join(_allowed(f, catalog))
        required = "是" if f.required else "否"
        ws.append([f.name, f.label, TYPE_NAMES[f.type], required, allowed, hint])
    ws.append([])
    for note in (
        f"信息类：{cls.name}（{cls.code}）",
        f"请在“{sheet_title(cls.name)}”工作表填写，表头请勿修改；加粗并带“必填”批注的列为必填项。",
        "第 2 行为示例数据，上传前请删除或覆盖。",
        "也可另存为 CSV（UTF-8 或 GBK 编码）上传。",
    ):
        ws.append([note])
    for letter, width in zip("ABCDEF", (22, 28, 12, 10, 40, 56), strict=True):
        ws.column_dimensions[letter].width = width
    ws.freeze_panes = "A2"


def write_template(cls: InfoClass, catalog: Catalog, path: Path) -> None:
    """Write the provider's .xlsx template for `cls` to `path`."""
    wb = Workbook()
    _write_data_sheet(wb, cls, catalog)
    _write_guide(wb, cls, catalog)
    wb.save(path)
