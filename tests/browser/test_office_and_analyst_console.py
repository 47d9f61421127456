"""The credit office, an enterprise, an analyst and a bank in the console, in a real browser
against one running platform:

- the office signs in with its token, sees late departments, issues the enterprise a token
  on the page, releases a held upload;
- the enterprise signs in with that token, reads its own report and files an objection on a
  record; the office accepts it, the water company deletes the record from its own queue, the
  office informs the enterprise; the token is revoked;
- an analyst filters the risk list, exports it, opens a company's report (authorized, with
  its figures and charts) and sees a person only masked; a bank without an authorization
  gets the public report of the same company, and both reads are in the usage log;
- anyone reads the red and black lists' public notice without signing in, and a department
  checks a company's joint sanctions, which the usage log keeps with its purpose.

Set CREDIT_CONSOLE_SCREENSHOTS=docs/console to refresh the README's screenshots."""

from __future__ import annotations

import base64
import csv
import json
import random
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select

from schemas.codes import random_citizen_id, random_uscc
from tests.browser.test_provider_console import _downloaded, _shot, _wait

pytestmark = pytest.mark.integration

RNG = random.Random(22)
COMPANIES = [(f"江阴市控制台测试企业{i}有限公司", random_uscc(RNG)) for i in range(3)]
PERSON = ("钱某某", random_citizen_id(RNG))
WATER = "江阴市水务集团有限公司"


def _arrears(name: str, code: str, kind: str, amount: str, account: str) -> dict[str, str]:
    return {"机构全称": name, "统一社会信用代码": code, "账号": account, "欠缴类型名称": kind,
            "欠缴统计开始日期": "2026-07-01", "欠缴统计截止日期": "2026-09-30", "拖欠天数": "92",
            "欠费金额": amount, "信息来源部门全称": WATER, "提供单位全称": WATER,
            "提供日期": "2026-10-20"}  # fmt: skip


def _person_arrears() -> dict[str, str]:
    return {"姓名": PERSON[0], "证件类型": "居民身份证", "证件号码": PERSON[1], "账号": "P1",
            "欠缴类型名称": "水费", "欠缴开始日期": "2026-06-01", "欠缴截止日期": "2026-09-30",
            "拖欠天数": "120", "欠费金额(元)": "800.00", "信息来源部门全称": WATER,
            "提供单位全称": WATER, "提供日期": "2026-10-20"}  # fmt: skip


def _call(platform: dict[str, Any], path: str, token: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        platform["api_url"] + path, method="POST" if body is not None else "GET",
        data=json.dumps(body, ensure_ascii=False).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as resp:
        return json.loads(resp.read())


def _settled(platform: dict[str, Any], token: str, upload_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        fate = _call(platform, f"/api/uploads/{upload_id}", token)
        if fate["complete"]:
            return dict(fate)
        time.sleep(0.3)
    raise AssertionError(f"upload {upload_id} not complete: {fate}")


@pytest.fixture(scope="module")
def world(platform: dict[str, Any], credit_cli: Callable[..., Any]) -> dict[str, Any]:
    """Arrears of three companies (two with water and power, one with water) and a person,
    stored; the admin token of the platform's data dir; the water company's key."""
    data_dir = platform["data_dir"]
    issued = credit_cli("keys", WATER, "--department", "供水公司", "--json", data_dir=data_dir)
    assert issued.returncode == 0, issued.stderr
    key = json.loads(issued.stdout)["key"]
    rows = [_arrears(COMPANIES[0][0], COMPANIES[0][1], "水费", "50000.00", "A0"),
            _arrears(COMPANIES[0][0], COMPANIES[0][1], "电费", "30000.00", "A1"),
            _arrears(COMPANIES[1][0], COMPANIES[1][1], "水费", "2000.00", "B0"),
            _arrears(COMPANIES[1][0], COMPANIES[1][1], "电费", "1000.00", "B1"),
            _arrears(COMPANIES[2][0], COMPANIES[2][1], "水费", "900.00", "C0")]  # fmt: skip
    for code, records in (("legal_arrears", rows), ("natural_arrears", [_person_arrears()])):
        answer = _call(platform, f"/api/records/{code}", key, {"records": records})
        assert answer["rejected"] == 0, answer
        fate = _settled(platform, key, answer["upload_id"])
        assert fate["stored"] == len(records), fate
    _black_list(platform, credit_cli, data_dir)
    admin = (data_dir / "admin-token").read_text().strip()
    return {"key": key, "admin": admin, "data_dir": data_dir}


def _black_list(platform: dict[str, Any], credit_cli: Callable[..., Any], data_dir: Path) -> None:
    """The first company on the 失信惩戒 list, sent by a city department."""
    issued = credit_cli("keys", "江阴市发展和改革委员会", "--department", "市级各部门", "--json",
                        data_dir=data_dir)  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    key = json.loads(issued.stdout)["key"]
    name, code = COMPANIES[0]
    record = {"机构全称（中文）": name, "统一社会信用代码": code, "认定依据": "《无锡市公共信用信息条例》",
              "认定部门（单位）全称": "江阴市发展和改革委员会", "认定文号": "澄发改〔2026〕12号",
              "违法失信行为事实": "拒不履行法定义务", "确认严重失信日期": "2026-11-02",
              "信息源头部门全称": "江阴市发展和改革委员会", "提供单位全称": "江阴市发展和改革委员会",
              "提供日期": "2026-11-03"}  # fmt: skip
    answer = _call(platform, "/api/records/ent_punishment_list", key, {"records": [record]})
    assert _settled(platform, key, answer["upload_id"])["stored"] == 1, answer


def _sign_in(browser: WebDriver, platform: dict[str, Any], secret: str, page: str) -> None:
    browser.get(platform["api_url"] + "/console/")
    browser.execute_script("sessionStorage.clear()")
    browser.find_element(By.ID, "key").send_keys(secret)
    browser.find_element(By.ID, "sign-in-button").click()
    _wait(browser, lambda b: page in b.current_url)
    _wait(browser, lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))


def _rows(browser: WebDriver, table: str) -> list[WebElement]:
    return list(browser.find_elements(By.CSS_SELECTOR, f"#{table} tbody tr"))


def _row_with(browser: WebDriver, table: str, text: str) -> WebElement:
    found: WebElement = _wait(
        browser, lambda b: next((r for r in _rows(b, table) if text in r.text), None)
    )
    return found


def _held_upload(platform: dict[str, Any], key: str) -> str:
    """Ten rows of which five have no amount: over the 20 % threshold, so held."""
    rows = []
    for i in range(10):
        row = _arrears(f"暂扣测试企业{i}", random_uscc(RNG), "水费", "10.00", f"H{i}")
        rows.append(row | ({"欠费金额": ""} if i % 2 else {}))
    answer = _call(platform, "/api/records/legal_arrears", key, {"records": rows})
    assert answer["held"], answer
    return str(answer["upload_id"])


def test_the_office_issues_a_token_releases_a_held_upload_and_settles_an_objection(
    platform: dict[str, Any], world: dict[str, Any], browser: WebDriver
) -> None:
    held = _held_upload(platform, world["key"])
    _sign_in(browser, platform, world["admin"], "/console/office")
    water = _row_with(browser, "department-table", "供水公司")
    assert water.find_elements(By.TAG_NAME, "td")[5].text != "0"  # it delivered
    late = [
        r for r in _rows(browser, "department-table") if "late" in (r.get_attribute("class") or "")
    ]
    assert late, "the silent departments are marked late"
    _shot(browser, "5-office-compliance", "compliance")

    row = _row_with(browser, "held-table", held)
    assert WATER in row.text and "legal_arrears" in row.text
    _shot(browser, "6-office-held", "held")
    row.find_element(By.XPATH, ".//button[text()='放行']").click()
    _wait(browser, lambda b: not any(held in r.text for r in _rows(b, "held-table")))
    fate = _settled(platform, world["admin"], held)
    assert (fate["received"], fate["stored"], fate["rejected"]) == (10, 5, 5)

    company, code = COMPANIES[2]
    Select(browser.find_element(By.ID, "token-role")).select_by_value("subject")
    browser.find_element(By.ID, "token-name").send_keys(company)
    browser.find_element(By.ID, "token-org").send_keys(code)
    browser.find_element(By.XPATH, "//form[@id='token-issue']//button").click()
    secret = _wait(browser, lambda b: b.find_element(By.ID, "secret").text)
    token = secret.split("：")[-1]
    assert token.startswith("ct_") and company in secret
    token_row = _row_with(browser, "token-table", company)
    assert "有效" in token_row.text
    _shot(browser, "7-office-accounts", "accounts")

    account = f"G-{browser.name}"  # this run's own record (the test runs in each browser)
    gas = _arrears(company, code, "燃气费", "400.00", account)
    sent = _call(platform, "/api/records/legal_arrears", world["key"], {"records": [gas]})
    assert _settled(platform, world["key"], sent["upload_id"])["stored"] == 1
    _sign_in(browser, platform, token, "/console/report")  # the enterprise: its own report
    assert browser.find_element(By.ID, "id-code").text == code
    record = _row_with(browser, "classes", account)
    record_key = record.get_attribute("data-record-key") or ""
    assert record_key
    record.find_element(By.XPATH, ".//button[text()='提出异议']").click()
    browser.find_element(By.ID, "objection-grounds").send_keys("燃气费已于十月缴清")
    browser.find_element(By.ID, "objection-submit").click()
    result = _wait(browser, lambda b: b.find_element(By.ID, "objection-result").text)
    assert "异议已登记" in result, result
    bank = f"江阴农商行{browser.name}"  # the enterprise consents to a bank, then withdraws it
    browser.find_element(By.ID, "consent-party").send_keys(bank)
    browser.find_element(By.ID, "consent-purpose").send_keys("贷前审查")
    browser.execute_script("document.getElementById('consent-to').value = '2027-06-30'")
    browser.find_element(By.ID, "consent-grant").click()
    consent = _wait(browser, lambda b: next((r for r in _rows(b, "consent-table")
                                             if bank in r.text and "有效" in r.text), None))  # fmt: skip
    assert "2027-06-30" in consent.text
    reads = _row_with(browser, "read-table", "report:")  # its own reads are in its usage log
    assert company in reads.text
    _shot(browser, "16-subject-consents", "consents")
    consent.find_element(By.XPATH, ".//button[text()='撤销']").click()
    _wait(browser, lambda b: "已撤销" in _row_with(b, "consent-table", bank).text)

    _sign_in(browser, platform, world["admin"], "/console/office")
    row = _row_with(browser, "objection-table", record_key)
    assert "待核查" in row.text
    _shot(browser, "8-office-objections", "objections")
    row.find_element(By.XPATH, ".//button[text()='受理']").click()
    _wait(browser, lambda b: "已受理" in _row_with(b, "objection-table", record_key).text)

    _sign_in(browser, platform, world["key"], "/console/provider")  # the provider checks it
    row = _row_with(browser, "objection-table", record_key)
    assert "受理" not in [b.text for b in row.find_elements(By.TAG_NAME, "button")]
    Select(row.find_element(By.TAG_NAME, "select")).select_by_value("delete")
    row.find_element(By.TAG_NAME, "input").send_keys("供水公司核实：已缴清")
    row.find_element(By.XPATH, ".//button[text()='处理']").click()
    _wait(browser, lambda b: "待告知" in _row_with(b, "objection-table", record_key).text)

    _sign_in(browser, platform, world["admin"], "/console/office")  # the office informs
    row = _row_with(browser, "objection-table", record_key)
    row.find_element(By.XPATH, ".//button[text()='已书面告知']").click()
    _wait(browser, lambda b: any(record_key in r.text and "已告知" in r.text
                                 for r in _rows(b, "objection-table")))  # fmt: skip
    objections = _call(platform, f"/api/objections?subject={code}", world["admin"])["objections"]
    assert [(o["stage"], o["resolution"]) for o in objections
            if o["record_key"] == record_key] == [("informed", "delete")]  # fmt: skip
    report = _call(platform, f"/api/subjects/{code}", world["admin"])
    keys = {r["record_key"] for c in report["classes"] for r in c["records"]}
    assert record_key not in keys and keys  # the gas arrears are gone, the water one stays

    token_row = _row_with(browser, "token-table", company)
    token_row.find_element(By.XPATH, ".//button[text()='撤销']").click()
    _wait(browser, lambda b: "已撤销" in _row_with(b, "token-table", company).text)
    browser.get(platform["api_url"] + "/console/")
    browser.execute_script("sessionStorage.clear()")
    browser.find_element(By.ID, "key").send_keys(token)
    browser.find_element(By.ID, "sign-in-button").click()
    refused = _wait(browser, lambda b: b.find_element(By.ID, "sign-in-error").text)
    assert "revoked" in refused


def test_an_analyst_filters_and_exports_the_risk_list_and_a_bank_sees_the_public_report(
    platform: dict[str, Any],
    world: dict[str, Any],
    browser: WebDriver,
    downloads: Path,
    credit_cli: Callable[..., Any],
) -> None:
    tokens = {}
    for role, name, extra in (
        ("analyst", "分析员甲", ()),
        ("bank", "客户经理", ("--institution", "江阴农商行")),
    ):
        issued = credit_cli("access", "issue", role, name, *extra, "--json",
                            data_dir=world["data_dir"])  # fmt: skip
        assert issued.returncode == 0, issued.stderr
        tokens[role] = json.loads(issued.stdout)["token"]
    code = COMPANIES[1][1]

    _sign_in(browser, platform, tokens["analyst"], "/console/analyst")
    listed = {r.find_element(By.TAG_NAME, "td").text for r in _rows(browser, "risk-table")}
    assert {COMPANIES[1][1], COMPANIES[2][1]} <= listed  # one utility is enough by default
    masked = [s for s in listed if "*" in s]
    assert masked and PERSON[1] not in listed and PERSON[1][:6] in masked[0]
    browser.find_element(By.ID, "risk-utilities").clear()
    browser.find_element(By.ID, "risk-utilities").send_keys("2")
    browser.find_element(By.ID, "risk-amount").clear()
    browser.find_element(By.ID, "risk-amount").send_keys("2500")
    Select(browser.find_element(By.ID, "risk-utility")).select_by_value("power")
    browser.find_element(By.ID, "risk-search").click()
    _wait(browser, lambda b: "2 个主体" in b.find_element(By.ID, "risk-summary").text)
    shown = [r.find_element(By.TAG_NAME, "td").text for r in _rows(browser, "risk-table")]
    assert shown == [COMPANIES[0][1], COMPANIES[1][1]]  # most owed first
    _shot(browser, "9-analyst-risk", "risk")
    browser.find_element(By.ID, "export-csv").click()
    with _downloaded(downloads, ".csv").open(encoding="utf-8-sig") as f:
        exported = list(csv.reader(f))
    assert exported[0][0] == "主体代码" and [r[0] for r in exported[1:]] == shown
    browser.find_element(By.ID, "export-xlsx").click()
    sheet = load_workbook(_downloaded(downloads, ".xlsx")).worksheets[0]
    assert [r[0] for r in sheet.iter_rows(min_row=2, values_only=True)] == shown
    chart = browser.find_element(By.CSS_SELECTOR, "#collection-chart svg")
    assert chart.find_elements(By.TAG_NAME, "rect")
    _shot(browser, "10-analyst-collection", "collection")

    browser.find_element(By.LINK_TEXT, code).click()
    _wait(browser, lambda b: b.find_element(By.ID, "id-code").text == code)
    assert "授权版" in browser.find_element(By.ID, "scope").text
    figures = _rows(browser, "figures")
    assert len(figures) == 2 and all("是" in f.text for f in figures)  # water and power owed
    assert browser.find_elements(By.CSS_SELECTOR, "#figure-charts svg")
    _shot(browser, "11-report-analyst")
    assert base64.b64decode(browser.print_page()).startswith(b"%PDF")  # printable as PDF
    if isinstance(browser, webdriver.Chrome):  # the print view, as Chromium lays out paper
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
        assert not browser.find_element(By.ID, "print").is_displayed()
        assert browser.find_element(By.ID, "figures").is_displayed()
        _shot(browser, "13-report-print")
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})

    browser.get(platform["api_url"] + "/console/analyst")  # a person, by the full ID: masked
    _wait(browser, lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
    browser.find_element(By.ID, "lookup-code").send_keys(PERSON[1])
    browser.find_element(By.ID, "lookup-purpose").send_keys("欠费核查")
    browser.find_element(By.XPATH, "//form[@id='lookup-form']//button").click()
    _wait(browser, lambda b: "*" in b.find_element(By.ID, "id-code").text)
    assert PERSON[1][:6] in browser.find_element(By.ID, "id-code").text
    assert PERSON[1] not in browser.page_source and PERSON[1] not in browser.current_url
    assert PERSON[0] in browser.find_element(By.ID, "id-name").text

    _sign_in(browser, platform, tokens["bank"], "/console/analyst")
    assert not browser.find_element(By.ID, "risk").is_displayed()  # not a bank's list
    browser.find_element(By.ID, "watch-subject").send_keys(code)  # no authorization: refused
    browser.find_element(By.ID, "watch-add").click()
    refused = _wait(browser, lambda b: b.find_element(By.ID, "watch-result").text)
    assert "登记失败" in refused and "authorization" in refused
    browser.find_element(By.ID, "lookup-code").send_keys(code)
    browser.find_element(By.ID, "lookup-purpose").send_keys("贷前审查")
    browser.find_element(By.XPATH, "//form[@id='lookup-form']//button").click()
    _wait(browser, lambda b: b.find_element(By.ID, "id-code").text == code)
    assert "公开版" in browser.find_element(By.ID, "scope").text
    assert not browser.find_element(By.ID, "figures-section").is_displayed()  # no authorization
    _shot(browser, "12-report-bank")
    reads = _call(platform, f"/api/audit?subject={code}", world["admin"])["reads"]
    assert {(r["reader"], r["purpose"]) for r in reads} >= {("分析员甲", "风险监测"),
                                                             ("客户经理", "贷前审查")}  # fmt: skip


UNLABELLED = """return [...document.querySelectorAll('input, select, textarea')].filter((el) => {
  if (el.type === 'hidden') return false;
  const byFor = el.id && document.querySelector('label[for="' + el.id + '"]');
  return !(byFor || el.closest('label') || el.getAttribute('aria-label'));
}).map((el) => el.id || el.outerHTML.slice(0, 80));"""


def test_every_page_can_be_used_by_keyboard_and_names_every_field(
    platform: dict[str, Any], world: dict[str, Any], browser: WebDriver
) -> None:
    """Sign in with the keyboard alone (Tab to the field, Enter), then on each page every
    input, list and text box has a label a screen reader reads (its own, or aria-label)."""
    browser.get(platform["api_url"] + "/console/")
    browser.execute_script("sessionStorage.clear()")
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    active = browser.switch_to.active_element
    assert active.get_attribute("id") == "key"  # the first stop is the key field
    active.send_keys(world["admin"] + Keys.ENTER)
    _wait(browser, lambda b: "/console/office" in b.current_url)
    company = COMPANIES[0][1]
    for page in ("/console/office", "/console/analyst",
                 f"/console/report?code={company}&purpose=巡检"):  # fmt: skip
        browser.get(platform["api_url"] + page)
        _wait(browser, lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
        assert browser.execute_script(UNLABELLED) == [], page
        assert not browser.find_elements(By.CSS_SELECTOR, ".error:not([hidden])"), page
    _sign_in(browser, platform, world["key"], "/console/provider")
    assert browser.execute_script(UNLABELLED) == []


def test_anyone_reads_the_public_notice_and_a_department_checks_joint_sanctions(
    platform: dict[str, Any], world: dict[str, Any], browser: WebDriver
) -> None:
    name, code = COMPANIES[0]
    browser.get(platform["api_url"] + "/console/")
    browser.execute_script("sessionStorage.clear()")
    browser.find_element(By.LINK_TEXT, "信用公示：红黑名单（无需登录）").click()
    _wait(browser, lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
    row = _row_with(browser, "lists-table", code)
    assert name in row.text and "黑名单" in row.text and "拒不履行法定义务" in row.text
    assert "2029-11-02" in row.text  # 严重: published three years
    _shot(browser, "14-public-lists")
    Select(browser.find_element(By.ID, "lists-kind")).select_by_value("red")
    browser.find_element(By.ID, "lists-search").click()
    _wait(browser, lambda b: not any(code in r.text for r in _rows(b, "lists-table")))

    _sign_in(browser, platform, world["key"], "/console/provider")  # the water company checks
    browser.find_element(By.ID, "sanction-code").send_keys(code)
    browser.find_element(By.ID, "sanction-purpose").send_keys("政府采购资格审查")
    browser.find_element(By.ID, "sanction-check").click()
    _wait(browser, lambda b: "在黑名单上" in b.find_element(By.ID, "sanction-result").text)
    areas = [
        r.find_elements(By.TAG_NAME, "td")[1].text for r in _rows(browser, "sanction-measures")
    ]
    assert areas[:2] == ["政府采购", "招标投标"] and len(areas) == 6
    _shot(browser, "15-provider-sanctions", "sanctions")
    reads = _call(platform, f"/api/audit?subject={code}", world["admin"])["reads"]
    assert (WATER, "sanctions", "政府采购资格审查") in {
        (r["reader"], r["what"], r["purpose"]) for r in reads}  # fmt: skip


def test_the_cli_reads_the_notice_checks_sanctions_and_verifies(
    platform: dict[str, Any], world: dict[str, Any], credit_cli: Callable[..., Any]
) -> None:
    """The same platform through `credit lists`, `credit sanctions` and `credit verify`."""
    name, code = COMPANIES[0]
    data_dir = world["data_dir"]
    listed = credit_cli("lists", "--kind", "black", "--name", name, data_dir=data_dir)
    assert listed.returncode == 0, listed.stderr
    assert [e["subject"] for e in json.loads(listed.stdout)["entries"]] == [code]
    checked = credit_cli("sanctions", code, "--purpose", "招标投标审查", data_dir=data_dir)
    assert checked.returncode == 0 and json.loads(checked.stdout)["on_black_list"]
    for question, extra, answer in (("arrears_band", (), "1万至10万元"),  # 50,000 + 30,000
                                    ("arrears_above", ("--amount", "80000"), "no"),
                                    ("in_arrears", (), "yes")):  # fmt: skip
        asked = credit_cli("verify", code, "--question", question, *extra, "--purpose", "核验",
                           data_dir=data_dir)  # fmt: skip
        assert asked.returncode == 0, asked.stdout + asked.stderr
        assert json.loads(asked.stdout)["answer"] == answer, question
    refused = credit_cli("sanctions", code, "--purpose", "x", "--token", "ct_forged",
                         data_dir=data_dir)  # fmt: skip
    assert refused.returncode == 1 and "auth.token" in refused.stdout


def test_a_watched_borrowers_new_arrears_reach_the_banks_endpoint_within_seconds(
    platform: dict[str, Any], world: dict[str, Any], credit_cli: Callable[..., Any]
) -> None:
    """On the running platform: a bank under authorization watches a company; a water
    company's new arrears record for it is pushed to the bank's endpoint, once."""
    from tests.integration.test_watchlists import Endpoint

    endpoint = Endpoint()
    name, code = COMPANIES[1]
    issued = credit_cli("access", "issue", "bank", "贷后经理", "--institution", "江阴农商行",
                        "--json", data_dir=world["data_dir"])  # fmt: skip
    bank = json.loads(issued.stdout)["token"]
    _call(platform, "/api/authorizations", world["admin"], {
        "subject": code, "institution": "江阴农商行", "purpose": "贷后管理",
        "valid_to": "2027-12-31"})  # fmt: skip
    watch = _call(platform, "/api/watchlist", bank, {"subject": code, "webhook": endpoint.url})
    record = _arrears(name, code, "燃气费", "1234.00", "WATCH-1")
    sent_at = time.monotonic()
    answer = _call(platform, "/api/records/legal_arrears", world["key"], {"records": [record]})
    deadline = sent_at + 60
    while not endpoint.received and time.monotonic() < deadline:
        time.sleep(0.2)
    took = time.monotonic() - sent_at
    endpoint.server.shutdown()
    assert endpoint.received, "no alert reached the bank's endpoint in 60 s"
    print(f"alert at the endpoint {took:.1f} s after the send")
    assert took < 30, f"the alert took {took:.1f} s"
    body = endpoint.received[0][1]
    assert (body["watch_id"], body["subject"], body["class_code"]) == (
        watch["watch_id"], code, "legal_arrears")  # fmt: skip
    assert _settled(platform, world["key"], answer["upload_id"])["stored"] == 1
    time.sleep(5)  # two more rounds: nothing is sent twice
    assert len({key for key, _ in endpoint.received}) == 1
    listed = credit_cli("alerts", "--institution", "江阴农商行", data_dir=world["data_dir"])
    alerts = json.loads(listed.stdout)["alerts"]
    assert [a["alert_id"] for a in alerts] == [body["alert_id"]] and alerts[0]["delivered_at"]
    mine = credit_cli("watch", "list", "--token", bank, data_dir=world["data_dir"])
    assert [w["subject_id"] for w in json.loads(mine.stdout)["watches"]] == [code]


def test_the_office_pushes_to_the_province_and_sees_what_reached_it(
    platform: dict[str, Any], world: dict[str, Any], browser: WebDriver
) -> None:
    """On the page: the office adds the provincial platform as a target; every stored record
    reaches it (share 100%); when the province refuses, the failing deliveries and their
    error are on the page; the office stops the push."""
    from tests.integration.test_outbound import Province

    province = Province()
    name = f"province-{browser.name}"[:40].lower().replace(" ", "-")
    _sign_in(browser, platform, world["admin"], "/console/office")
    browser.find_element(By.CSS_SELECTOR, "#outbound-new summary").click()
    browser.find_element(By.ID, "outbound-name").send_keys(name)
    browser.find_element(By.ID, "outbound-address").send_keys(province.url)
    browser.find_element(By.CSS_SELECTOR, "#outbound-add button[type=submit]").click()
    row = _row_with(browser, "outbound-table", name)
    assert "接口推送" in row.text and "省平台格式" in row.text

    def reached() -> dict[str, Any] | None:
        found = next(t for t in _call(platform, "/api/outbound", world["admin"])["targets"]
                     if t["name"] == name)  # fmt: skip
        return found if found["records_due"] and found["lag"] == 0 and (
            found["records_acked"] == found["records_due"]) else None  # fmt: skip

    target = _wait(browser, lambda b: reached(), timeout=60)
    keys = {d["record_key"] for d in province.applied.values()}
    assert len(keys) == len(province.applied) == target["records_due"]
    assert {d["action"] for d in province.applied.values()} == {"upsert"}
    browser.refresh()
    _wait(browser, lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
    assert "100.0%" in _row_with(browser, "outbound-table", name).text
    _shot(browser, "17-office-outbound", "outbound")
    month = browser.find_element(By.ID, "monthly-month")  # this month's 归集比例: all pushed
    browser.execute_script("arguments[0].value = arguments[1]", month,
                           time.strftime("%Y-%m", time.gmtime(time.time() + 8 * 3600)))  # fmt: skip
    browser.find_element(By.CSS_SELECTOR, "#monthly-form button[type=submit]").click()
    _wait(browser, lambda b: "归集比例 100.0%" in b.find_element(By.ID, "monthly-summary").text)
    _shot(browser, "18-office-monthly", "monthly")

    province.failing = 10**6  # the province refuses from now on
    company, code = COMPANIES[2]
    answer = _call(platform, "/api/records/legal_arrears", world["key"],
                   {"records": [_arrears(company, code, "电费", "77.00", f"OUT-{name}")]})  # fmt: skip
    _settled(platform, world["key"], answer["upload_id"])

    def failing(b: WebDriver) -> bool:
        b.refresh()
        _wait(b, lambda x: x.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
        cells = _row_with(b, "outbound-table", name).find_elements(By.TAG_NAME, "td")
        return cells[6].text not in ("", "0")

    _wait(browser, failing, timeout=60)
    _row_with(browser, "outbound-table", name).find_element(
        By.XPATH, ".//button[text()='失败记录']"
    ).click()
    failed = _row_with(browser, "outbound-failure-table", "HTTP 503")
    assert "新增或更新" in failed.text
    _row_with(browser, "outbound-table", name).find_element(
        By.XPATH, ".//button[text()='停止推送']"
    ).click()
    _wait(browser, lambda b: not any(name in r.text for r in _rows(b, "outbound-table")))
    province.stop()
