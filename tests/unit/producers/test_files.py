"""Reading providers' uploads: encodings, delimiters, header folding, file-level errors, report."""

from __future__ import annotations

import csv
import datetime as dt
import os
import tracemalloc
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from producers.exceptions import (
    CorruptFileError,
    EmptyFileError,
    HeaderError,
    UnsupportedFileError,
)
from producers.files import open_upload, write_error_report
from schemas.catalog import InfoClass, default_catalog

CATALOG = default_catalog()
ARREARS: InfoClass = CATALOG.get("legal_arrears")
LABELS = [f.label for f in ARREARS.fields]


def sample_row(name: str = "示例供水客户有限公司", account: str = "0012345678") -> list[str]:
    values = {
        "org_name": name, "uscc": "91320281MA1MXXXX0X", "account_no": account,
        "arrears_type": "水费", "arrears_start": "2024-01-01", "arrears_end": "2024-02-29",
        "overdue_days": "30", "arrears_amount": "1,234.50", "source_dept": "江阴市水务局",
        "provider_org": "江阴市供水公司", "provide_date": "2024-03-05",
    }  # fmt: skip
    return [values.get(f.name, "") for f in ARREARS.fields]


def write_csv(
    path: Path, rows: list[list[str]], encoding: str = "utf-8", delimiter: str = ","
) -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        csv.writer(fh, delimiter=delimiter).writerows(rows)
    return path


def write_xlsx(path: Path, rows: Sequence[Sequence[object]], title: str = "Sheet1") -> Path:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = title
    for row in rows:
        ws.append(list(row))
    wb.save(path)
    return path


@pytest.mark.parametrize(
    ("encoding", "name"),
    [("utf-8", "示例供水客户有限公司"), ("utf-8-sig", "示例供水客户有限公司"),
     ("gbk", "示例供水客户有限公司"), ("gb18030", "示例𠮷祥供水有限公司")],  # 𠮷 is not in GBK
)  # fmt: skip
def test_csv_in_each_encoding_reads_back(tmp_path: Path, encoding: str, name: str) -> None:
    path = write_csv(tmp_path / "arrears.csv", [LABELS, sample_row(name)], encoding)
    upload = open_upload(path, ARREARS)
    assert upload.header == LABELS
    assert upload.unknown_columns == {}
    assert sorted(upload.mapping.values()) == sorted(f.name for f in ARREARS.fields)
    (row,) = list(upload.rows())
    assert row.row_number == 2
    assert row.raw["org_name"] == name
    assert row.raw["arrears_amount"] == "1,234.50"
    assert row.cells[0] == name


@pytest.mark.parametrize("delimiter", ["\t", ";"])
def test_csv_delimiter_is_detected(tmp_path: Path, delimiter: str) -> None:
    path = write_csv(tmp_path / "arrears.csv", [LABELS, sample_row()], delimiter=delimiter)
    (row,) = list(open_upload(path, ARREARS).rows())
    assert row.raw["account_no"] == "0012345678"


def test_headers_with_stray_spaces_full_width_brackets_and_english_names_match(
    tmp_path: Path,
) -> None:
    cls = CATALOG.get("natural_arrears")
    header = [f.label for f in cls.fields]
    header[header.index("欠费金额(元)")] = "欠费金额（元） "
    header[header.index("拖欠天数")] = " 拖欠 天数"
    header[header.index("账号")] = "account_no"
    header[header.index("姓名")] = "*姓名"
    path = write_csv(tmp_path / "n.csv", [header, ["x"] * len(header)])
    upload = open_upload(path, cls)
    assert set(upload.mapping.values()) == {f.name for f in cls.fields}
    assert upload.header[0] == "*姓名"  # the provider's own text is kept for the report


def test_generic_provenance_label_is_accepted_for_a_class_variant(tmp_path: Path) -> None:
    cls = CATALOG.get("legal_social_insurance")  # its label is 信息源部门全称
    header = ["信息来源部门全称" if f.name == "source_dept" else f.label for f in cls.fields]
    path = write_csv(tmp_path / "si.csv", [header, ["x"] * len(header)])
    assert "source_dept" in open_upload(path, cls).mapping.values()


def test_missing_required_column_names_its_label(tmp_path: Path) -> None:
    keep = [i for i, label in enumerate(LABELS) if label not in ("账号", "欠费金额")]
    row = sample_row()
    path = write_csv(tmp_path / "a.csv", [[LABELS[i] for i in keep], [row[i] for i in keep]])
    with pytest.raises(HeaderError) as info:
        open_upload(path, ARREARS)
    assert set(info.value.missing) == {"账号", "欠费金额"}
    assert "账号" in info.value.message_zh and "欠费金额" in info.value.message_en
    assert "a.csv" in str(info.value)
    assert info.value.reason == "file.header"


def test_columns_the_caller_supplies_are_not_required(tmp_path: Path) -> None:
    supplied = ("source_dept", "provider_org", "provide_date")
    keep = [i for i, f in enumerate(ARREARS.fields) if f.name not in supplied]
    row = sample_row()
    path = write_csv(tmp_path / "a.csv", [[LABELS[i] for i in keep], [row[i] for i in keep]])
    with pytest.raises(HeaderError):
        open_upload(path, ARREARS)
    assert len(list(open_upload(path, ARREARS, supplied=supplied).rows())) == 1


def test_duplicated_column_is_a_header_error(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", [[*LABELS, "账 号"], [*sample_row(), "1"]])
    with pytest.raises(HeaderError) as info:
        open_upload(path, ARREARS)
    assert info.value.duplicated == ("账号",)


def test_unknown_columns_are_reported_not_dropped(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", [[*LABELS, "婚姻状况"], [*sample_row(), "已婚"]])
    upload = open_upload(path, ARREARS)
    assert upload.unknown_columns == {len(LABELS): "婚姻状况"}
    (row,) = list(upload.rows())
    assert "婚姻状况" not in row.raw and row.cells[-1] == "已婚"


@pytest.mark.parametrize("content", [b"", b"\n\n  \n", b"\xef\xbb\xbf"])
def test_file_without_a_header_is_empty(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "e.csv"
    path.write_bytes(content)
    with pytest.raises(EmptyFileError) as info:
        open_upload(path, ARREARS)
    assert "e.csv" in str(info.value)


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_header_without_data_rows_is_empty(tmp_path: Path, suffix: str) -> None:
    rows: list[list[str]] = [LABELS, [""] * len(LABELS)]
    path = tmp_path / f"h{suffix}"
    write_csv(path, rows) if suffix == ".csv" else write_xlsx(path, rows)
    with pytest.raises(EmptyFileError) as info:
        open_upload(path, ARREARS)
    assert "no data rows" in info.value.message_en


def test_random_bytes_named_xlsx_are_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "r.xlsx"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(CorruptFileError) as info:
        open_upload(path, ARREARS)
    assert ".xlsx" in info.value.message_zh


def test_zip_that_is_not_a_workbook_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "z.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("hello.txt", "hi")
    with pytest.raises(CorruptFileError):
        open_upload(path, ARREARS)


@pytest.mark.parametrize("name", ["old.xls", "renamed.xlsx"])
def test_legacy_xls_asks_to_save_as_xlsx(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512))
    with pytest.raises(UnsupportedFileError) as info:
        open_upload(path, ARREARS)
    assert isinstance(info.value, CorruptFileError)
    assert ".xlsx" in info.value.message_zh and ".xlsx" in info.value.message_en


def test_other_formats_are_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "a.pdf"
    path.write_bytes(b"%PDF-1.4")
    with pytest.raises(UnsupportedFileError):
        open_upload(path, ARREARS)


def test_workbook_renamed_to_csv_is_refused_clearly(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "book.xlsx", [LABELS, sample_row()])
    renamed = path.rename(tmp_path / "book.csv")
    with pytest.raises(CorruptFileError) as info:
        open_upload(renamed, ARREARS)
    assert "Excel" in info.value.message_en


def test_xlsx_round_trips_native_values(tmp_path: Path) -> None:
    row: list[object] = list(sample_row())
    row[LABELS.index("拖欠天数")] = 30
    row[LABELS.index("欠费金额")] = 1234.5
    row[LABELS.index("欠缴统计开始日期")] = dt.date(2024, 1, 1)
    path = write_xlsx(tmp_path / "a.xlsx", [LABELS, row])
    upload = open_upload(path, ARREARS)
    assert upload.header == LABELS
    assert upload.total_rows_hint == 1
    (got,) = list(upload.rows())
    assert got.row_number == 2
    assert got.raw["overdue_days"] == 30
    assert got.raw["arrears_amount"] == 1234.5
    assert got.raw["arrears_start"] == dt.datetime(2024, 1, 1)
    assert got.raw["org_name"] == "示例供水客户有限公司"


def test_xlsx_prefers_the_sheet_named_like_the_class(tmp_path: Path) -> None:
    wb = Workbook()
    notes = wb.active
    assert notes is not None
    notes.title = "封面"
    notes.append(["这不是数据"])
    data = wb.create_sheet(ARREARS.name)
    for r in [LABELS, sample_row()]:
        data.append(r)
    wb.save(tmp_path / "two.xlsx")
    assert len(list(open_upload(tmp_path / "two.xlsx", ARREARS).rows())) == 1


def test_row_numbers_are_spreadsheet_rows_with_blank_rows_counted(tmp_path: Path) -> None:
    blank = [""] * len(LABELS)
    rows = [LABELS, sample_row(account="A"), blank, blank, sample_row(account="B")]
    for path in (write_csv(tmp_path / "a.csv", rows), write_xlsx(tmp_path / "a.xlsx", rows)):
        got = [(r.row_number, r.raw["account_no"]) for r in open_upload(path, ARREARS).rows()]
        assert got == [(2, "A"), (5, "B")], path.suffix


def test_title_row_above_the_header_is_skipped_and_rows_keep_their_numbers(
    tmp_path: Path,
) -> None:
    path = write_xlsx(tmp_path / "t.xlsx", [[ARREARS.name], LABELS, sample_row()])
    upload = open_upload(path, ARREARS)
    assert upload.header_row == 2
    assert [r.row_number for r in upload.rows()] == [3]


def test_rows_can_be_read_twice(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "a.xlsx", [LABELS, sample_row()])
    upload = open_upload(path, ARREARS)
    assert len(list(upload.rows())) == len(list(upload.rows())) == 1


def test_mixed_encoding_in_the_body_is_a_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    ascii_header = ",".join(f.name for f in ARREARS.fields)
    utf8_rows = "".join(",".join(sample_row("ACME", str(i))) + "\n" for i in range(2000))
    gbk_row = ",".join(sample_row()).encode("gbk")
    path.write_bytes(f"{ascii_header}\n{utf8_rows}".encode() + gbk_row + b"\n")
    upload = open_upload(path, ARREARS)  # the first 64 KiB are valid UTF-8
    with pytest.raises(CorruptFileError) as info:
        list(upload.rows())
    assert "UTF-8" in info.value.message_en


def test_csv_row_count_hint_is_close(tmp_path: Path) -> None:
    rows = [LABELS] + [sample_row(account=str(i)) for i in range(5000)]
    upload = open_upload(write_csv(tmp_path / "big.csv", rows), ARREARS)
    assert upload.total_rows_hint is not None
    assert abs(upload.total_rows_hint - 5000) < 250


def test_reading_a_large_csv_keeps_memory_bounded(tmp_path: Path) -> None:
    path = tmp_path / "large.csv"
    row = sample_row()
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(LABELS)
        for i in range(200_000):
            row[4] = str(i)
            writer.writerow(row)
    tracemalloc.start()
    try:
        upload = open_upload(path, ARREARS)
        count = sum(1 for _ in upload.rows())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 200_000
    assert peak < 30 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


def test_error_report_lists_rows_and_reasons_in_the_providers_layout(tmp_path: Path) -> None:
    header = ["机构全称", "账号", "欠费金额"]
    rejected = [
        (2, ["甲公司", "001", "abc"], "field.type: 欠费金额 不是数字"),
        (7, ['=HYPERLINK("x")', "002"], "uscc.check_digit"),
    ]
    path = tmp_path / "errors.xlsx"
    assert write_error_report(path, header, rejected) == 2
    ws = load_workbook(path).active
    assert ws is not None
    got = [list(r) for r in ws.iter_rows(values_only=True)]
    assert got[0] == ["原始行号", *header, "错误原因"]
    assert got[1] == [2, "甲公司", "001", "abc", "field.type: 欠费金额 不是数字"]
    assert got[2] == [7, '=HYPERLINK("x")', "002", None, "uscc.check_digit"]
    assert ws["B3"].data_type == "s"  # provider text never becomes a formula


def test_a_row_refused_at_the_channel_hears_of_every_problem_at_once() -> None:
    """A future date and a wrong USCC check character in one row: both in one answer (the
    check digit alone is left to the stream, which knows registered pilot codes)."""
    import datetime as dt
    import random

    from producers.intake import intake
    from schemas.catalog import default_catalog
    from schemas.codes import random_uscc

    catalog = default_catalog()
    cls = catalog.get("legal_arrears")
    uscc = random_uscc(random.Random(5))
    bad = uscc[:-1] + ("1" if uscc[-1] != "1" else "2")
    row = {"机构全称": "某公司", "统一社会信用代码": bad, "账号": "W1", "欠缴类型名称": "水费",
           "欠缴统计开始日期": "2026-07-01", "欠缴统计截止日期": "2026-09-30", "拖欠天数": "92",
           "欠费金额": "10", "信息来源部门全称": "水务", "提供单位全称": "水务",
           "提供日期": "2027-01-20"}  # fmt: skip
    _, problems = intake(cls, row, catalog, dt.date(2026, 12, 7))
    assert {"uscc.check_digit", "field.date_future"} <= {p.code for p in problems}
    _, alone = intake(cls, {**row, "提供日期": "2026-10-20"}, catalog, dt.date(2026, 12, 7))
    assert alone == []  # the check digit alone: the stream decides
    # a value that cannot be typed does not stop the rules: the amount and the date together,
    # and the untyped amount is reported once (as a type problem, not also as missing)
    _, typed_too = intake(cls, {**row, "欠费金额": "十元"}, catalog, dt.date(2026, 12, 7))
    assert [(p.field, p.code) for p in typed_too] == [
        ("arrears_amount", "field.type"), ("uscc", "uscc.check_digit"),
        ("provide_date", "field.date_future"),
    ]  # fmt: skip


def test_the_dirty_data_threshold_holds_only_uploads_large_enough_to_judge() -> None:
    from base.dirty import DirtyThreshold
    from producers.channel import UploadResult, dirty_hold

    def result(received: int, rejected: int) -> UploadResult:
        return UploadResult("u", "c", "p", "file", received, received - rejected, rejected)

    rule = DirtyThreshold(0.2, 10)
    reason = dirty_hold(result(20, 18), rule)
    assert "18 of 20 rows refused (90%)" in reason and "20%" in reason
    assert dirty_hold(result(20, 4), rule) == ""  # exactly 20%: not above
    assert dirty_hold(result(20, 5), rule) != ""
    assert dirty_hold(result(9, 8), rule) == ""  # too few rows to judge
    assert dirty_hold(result(20, 20), rule) == ""  # nothing good to hold back
    assert dirty_hold(result(20, 18), None) == ""


def test_a_row_repeated_word_for_word_in_an_upload_is_the_same_version() -> None:
    """The copy keeps the first copy's receipt time (so the store keeps one row); a changed
    row with the same key is received later (a newer version); another upload starts anew."""
    import time

    from producers.publisher import Publisher
    from schemas.catalog import default_catalog

    cls = default_catalog().get("legal_arrears")
    pub = Publisher({"bootstrap.servers": "127.0.0.1:9"}, "http://127.0.0.1:9", "水务", "file")
    row = {"org_name": "某公司", "arrears_amount": 10.0}
    first = pub.value_of(cls, row, "u1", 2, "k")["ingest_received_at"]
    time.sleep(0.01)
    assert pub.value_of(cls, dict(row), "u1", 3, "k")["ingest_received_at"] == first
    changed = pub.value_of(cls, {**row, "arrears_amount": 11.0}, "u1", 4, "k")
    assert changed["ingest_received_at"] > first
    assert pub.value_of(cls, row, "u2", 2, "k")["ingest_received_at"] > first
