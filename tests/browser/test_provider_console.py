"""A provider in the console, in a real browser against a running platform: sign in with the
key, download the template, upload a file with bad rows, watch its fate, download the error
report, correct it and send it back as a replay, and see every row stored.

Set CREDIT_CONSOLE_SCREENSHOTS=docs/console to refresh the README's screenshots."""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from schemas.codes import random_uscc
from tests.integration.arrears_rows import LABELS, arrears_row

pytestmark = pytest.mark.integration


def _file(folder: Path) -> tuple[Path, list[str]]:
    """Six rows of arrears in GBK; rows 3 and 5 (after the header) carry a wrong check digit."""
    rng = random.Random(23)
    codes = [random_uscc(rng) for _ in range(6)]
    rows = [arrears_row(f"控制台企业{i}", code) for i, code in enumerate(codes)]
    for i in (1, 3):
        rows[i][1] = codes[i][:-1] + ("1" if codes[i][-1] != "1" else "2")
    path = folder / "欠缴费用.csv"
    lines = [",".join(LABELS)] + [",".join(r) for r in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode("gbk"))
    return path, codes


def _wait(browser: WebDriver, until: Callable[[Any], Any], timeout: float = 90) -> Any:
    """`until` holds; a table re-drawn while it is read is read again (a stale element)."""
    wait = WebDriverWait(browser, timeout, poll_frequency=0.3,
                         ignored_exceptions=[StaleElementReferenceException])  # fmt: skip
    return wait.until(until)


def _downloaded(folder: Path, suffix: str, timeout: float = 30) -> Path:
    """The finished download: Firefox creates the file empty at once and writes `<name>.part`
    beside it, Chromium writes `.crdownload`; neither may be left, and the file not empty."""
    deadline, last = time.monotonic() + timeout, -1
    while time.monotonic() < deadline:
        names = list(folder.iterdir())
        busy = any(p.suffix in (".part", ".crdownload") for p in names)
        done = [p for p in names if p.name.endswith(suffix) and p.stat().st_size > 0]
        if done and not busy and done[0].stat().st_size == last:  # and no longer growing
            return done[0]
        last = done[0].stat().st_size if done else -1
        time.sleep(0.2)
    raise AssertionError(f"nothing ending in {suffix} was downloaded: {list(folder.iterdir())}")


def _cell(browser: WebDriver, name: str) -> int:
    return int(browser.find_element(By.ID, name).text or 0)


def _shot(browser: WebDriver, name: str, section: str = "") -> None:
    """The page, or one section of it (a page shorter than two screens scrolls no further
    than its end, so scrolling would show two sections alike)."""
    folder = os.environ.get("CREDIT_CONSOLE_SCREENSHOTS")
    if folder and browser.name == "chrome":  # one set of pictures: Chromium's
        Path(folder).mkdir(parents=True, exist_ok=True)
        target = str(Path(folder) / f"{name}.png")
        if section:
            browser.find_element(By.ID, section).screenshot(target)
        else:
            browser.save_screenshot(target)


def test_a_provider_uploads_corrects_its_rejected_rows_and_gets_everything_stored(
    platform: dict[str, Any],
    credit_cli: Callable[..., Any],
    browser: WebDriver,
    downloads: Path,
    tmp_path: Path,
) -> None:
    issued = credit_cli("keys", "江阴市水务集团有限公司", "--department", "供水公司", "--json",
                        data_dir=platform["data_dir"])  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    key = json.loads(issued.stdout)["key"]
    console = platform["api_url"] + "/console/"

    browser.get(console)  # a wrong key is refused on the page, with the reason
    browser.find_element(By.ID, "key").send_keys("not-a-key")
    browser.find_element(By.ID, "sign-in-button").click()
    error = _wait(browser, lambda b: b.find_element(By.ID, "sign-in-error").text)
    assert "登录失败" in error and "未认证" in error
    _shot(browser, "1-sign-in")

    browser.find_element(By.ID, "key").clear()
    browser.find_element(By.ID, "key").send_keys(key)
    browser.find_element(By.ID, "sign-in-button").click()
    _wait(browser, lambda b: "江阴市水务集团有限公司" in b.find_element(By.ID, "who").text)
    assert browser.current_url.endswith("/console/provider")
    calendar = _wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#calendar tbody tr"))
    assert "legal_arrears" in {r.get_attribute("data-class-code") for r in calendar}
    silent = [r for r in calendar if "未报送" in r.text]  # classes 供水公司 never sent
    assert silent and all(r.get_attribute("class") == "late" for r in silent)
    Select(browser.find_element(By.ID, "class")).select_by_value("legal_arrears")

    browser.find_element(By.ID, "template").click()
    template = load_workbook(_downloaded(downloads, "-模板.xlsx"))
    assert "统一社会信用代码" in [c.value for c in template.worksheets[0][1]]

    path, codes = _file(tmp_path)
    browser.find_element(By.ID, "file").send_keys(str(path))
    browser.find_element(By.ID, "upload").click()
    _wait(browser, lambda b: "处理完成" in b.find_element(By.ID, "fate-status").text)
    assert [_cell(browser, n) for n in ("received", "stored", "rejected", "pending")] == [
        6,
        4,
        2,
        0,
    ]
    assert browser.find_element(By.ID, "progress").get_attribute("value") == "100"
    arrears_row = '#calendar tr[data-class-code="legal_arrears"]'
    last_arrival = arrears_row + " td:nth-child(5)"  # 最近报送: today, once the ledger is in
    _wait(
        browser, lambda b: b.find_element(By.CSS_SELECTOR, last_arrival).text == str(date.today())
    )
    _shot(browser, "2-upload-fate", "fate-section")
    _shot(browser, "4-calendar", "calendar-section")

    browser.find_element(By.ID, "report").click()
    report_path = _downloaded(downloads, "-错误报告.xlsx")
    book = load_workbook(report_path)
    sheet = book.worksheets[0]
    header = [c.value for c in sheet[1]]
    assert header[0] == "原始行号" and "错误原因" in str(header[-1])
    assert [r[0].value for r in sheet.iter_rows(min_row=2)] == [3, 5]
    code_column = header.index("统一社会信用代码")
    for row in sheet.iter_rows(min_row=2):
        row[code_column].value = codes[int(str(row[0].value)) - 2]  # the right check digit
    corrected = tmp_path / "更正.xlsx"
    book.save(corrected)

    browser.find_element(By.ID, "replay-file").send_keys(str(corrected))
    browser.find_element(By.ID, "replay").click()
    _wait(browser, lambda b: "已重新提交 2 行" in b.find_element(By.ID, "replay-result").text)
    _wait(browser, lambda b: _cell(b, "stored") == 6 and _cell(b, "rejected") == 0)
    assert _cell(browser, "received") == 6  # the same upload, still six rows: stored once each
    _shot(browser, "3-replayed", "fate-section")
