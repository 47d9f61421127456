"""Analyst SQL on the real platform: the ways to rebuild a citizen ID or reach a denied table
that worked against the store itself, each tried against the analysts' engine."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from schemas.codes import random_citizen_id, random_uscc

RNG = random.Random(20261207)
PID = random_citizen_id(RNG)
PHONE = "13912345678"


def _person(pid: str) -> dict[str, str]:
    return {
        "姓名": "王伟", "证件类型": "身份证", "证件号码": pid, "账号": f"户号{pid} 联系{PHONE}",
        "欠缴类型名称": "电费", "欠缴开始日期": "2026-07-01",
        "欠缴截止日期": "2026-09-30", "拖欠天数": "92", "欠费金额(元)": "88.00",
        "信息来源部门全称": "供电公司", "提供单位全称": "供电公司", "提供日期": "2026-10-20",
    }  # fmt: skip


def _sql(api: str, sql: str, token: str | None = None, **extra: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {"sql": sql, "purpose": "风险监测", "max_rows": 10000, **extra}
    return httpx.post(f"{api}/api/sql", json=body, headers=headers, timeout=60)


@pytest.fixture(scope="module")
def stored(platform: dict[str, Any], credit_cli: Callable[..., Any]) -> dict[str, Any]:
    """One natural person's arrears stored and copied into the analysts' engine."""
    keys = credit_cli("keys", "供电公司", "--department", "供电公司", "--json",
                      data_dir=platform["data_dir"])  # fmt: skip
    key = json.loads(keys.stdout)["key"]
    api = platform["api_url"]
    resp = httpx.post(f"{api}/api/records/natural_arrears", json=[_person(PID)],
                      headers={"Authorization": f"Bearer {key}"}, timeout=30)  # fmt: skip
    assert resp.status_code == 200 and resp.json()["accepted"] == 1, resp.text
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        got = _sql(api, "SELECT count() FROM cls_natural_arrears")
        if got.status_code == 200 and got.json()["rows"] == [[1]]:
            return platform
        time.sleep(0.5)
    pytest.fail(f"the record never reached the analysts' engine: {got.text}")


LEAKS = [
    "SELECT concat('x', id_no) FROM cls_natural_arrears LIMIT 1",
    "SELECT substring(subject_id, 1, 9), substring(subject_id, 10) FROM cls_natural_arrears",
    "SELECT hex(subject_id), hex(record_key) FROM cls_natural_arrears",
    "SELECT splitByString('', subject_id) FROM cls_natural_arrears",
    "SELECT toUInt64OrZero(substring(subject_id, 1, 17)) FROM cls_natural_arrears",
    "SELECT * FROM cls_natural_arrears",
    "SELECT * FROM mergeTreeIndex('credit', 'subject_index')",
    "SELECT * FROM mergeTreeIndex('analyst', 'cls_natural_arrears', with_marks = true)",
    "SELECT * FROM credit.cls_natural_arrears",
    "SELECT * FROM credit.subject_index",
    "SELECT * FROM audit_log",
    "SELECT * FROM credit.authorizations",
    "SELECT * FROM credit.objections",
    "SELECT * FROM file('/etc/hostname', 'LineAsString')",
    "SELECT * FROM url('http://127.0.0.1:9/', 'LineAsString')",
    "SELECT 1 SETTINGS readonly = 0",
    "SELECT * FROM (SELECT * FROM file('/etc/hostname', 'LineAsString') SETTINGS readonly = 0)",
    "INSERT INTO cls_natural_arrears (subject_id) VALUES ('x')",
    "SELECT * FROM system.tables WHERE database = 'credit'",
    "SELECT * FROM merge('credit', '.*')",
]


@pytest.mark.parametrize("sql", LEAKS)
def test_no_way_to_a_citizen_id_or_a_denied_table(stored: dict[str, Any], sql: str) -> None:
    resp = _sql(stored["api_url"], sql)
    assert PID not in resp.text and PID[:14] not in resp.text
    if resp.status_code == 200:  # an answer holds only what analysts may see
        assert "audit_log" not in resp.text and "subject_index" not in resp.text
        assert resp.json()["database"] == "analyst"


def test_every_table_analysts_reach_is_free_of_the_id_the_name_and_the_phone(
    stored: dict[str, Any],
) -> None:
    api = stored["api_url"]
    tables = [row[0] for row in _sql(api, "SHOW TABLES").json()["rows"]]
    assert "cls_natural_arrears" in tables and "uploads" in tables
    assert not {"audit_log", "authorizations", "objections", "subject_index", "subjects"} & set(
        tables
    )
    for table in tables:
        text = _sql(api, f"SELECT * FROM {table}").text
        assert PID not in text and "王伟" not in text and PHONE not in text, table
    row = _sql(api, "SELECT subject_id, account_no FROM cls_natural_arrears").json()
    subject, account = row["rows"][0]
    assert subject.startswith("P-") and account == "户号[证件号已隐去] 联系[电话已隐去]"
    columns = [c[0] for c in _sql(api, "DESCRIBE TABLE cls_natural_arrears").json()["rows"]]
    assert "id_no" not in columns and "name" not in columns and "arrears_amount" in columns
    shown = _sql(api, "SHOW COLUMNS FROM cls_natural_arrears")
    assert shown.status_code == 200 and len(shown.json()["rows"]) == len(columns)


def test_a_runaway_query_leaves_health_answering_within_a_second(stored: dict[str, Any]) -> None:
    api = stored["api_url"]
    answer: dict[str, httpx.Response] = {}
    heavy = "SELECT arrayStringConcat(arrayMap(x -> toString(x), range(20000000)))"

    def run() -> None:
        answer["sql"] = _sql(api, heavy, max_seconds=30)

    worker = threading.Thread(target=run)
    worker.start()
    slowest = 0.0
    while worker.is_alive():
        started = time.perf_counter()
        health = httpx.get(f"{api}/health", timeout=5)
        slowest = max(slowest, time.perf_counter() - started)
        assert health.status_code in (200, 503)
        time.sleep(0.1)
    worker.join()
    assert slowest < 1.0, f"/health took {slowest:.2f}s during the runaway query"
    assert answer["sql"].status_code == 400  # over the memory or the result limit
    assert "limit" in answer["sql"].json()["message"].lower()


def test_analysts_must_give_a_purpose_and_every_sql_read_is_logged(
    stored: dict[str, Any], credit_cli: Callable[..., Any]
) -> None:
    api, data_dir = stored["api_url"], stored["data_dir"]
    issued = credit_cli("access", "issue", "analyst", "赵分析", "--json", data_dir=data_dir)
    token = json.loads(issued.stdout)["token"]
    no_purpose = httpx.post(f"{api}/api/sql", json={"sql": "SELECT 1"},
                            headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert no_purpose.status_code == 400 and no_purpose.json()["error"] == "request.purpose"
    assert _sql(api, "SELECT count() FROM uploads", token).status_code == 200
    assert _sql(api, "SELECT * FROM credit.audit_log", token).status_code == 400
    admin = (data_dir / "admin-token").read_text().strip()
    reads = httpx.get(f"{api}/api/audit", params={"reader": "赵分析"},
                      headers={"Authorization": f"Bearer {admin}"}).json()["reads"]  # fmt: skip
    logged = [(r["what"], r["purpose"], r["outcome"], r["detail"]) for r in reads]
    assert ("sql", "风险监测", "shown", "SELECT count() FROM uploads") in logged
    assert ("sql", "风险监测", "refused", "SELECT * FROM credit.audit_log") in logged
    forbidden = httpx.get(f"{api}/api/audit", params={"reader": "赵分析"},
                          headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert forbidden.status_code == 403


def test_the_cli_runs_analyst_sql_with_its_purpose(
    stored: dict[str, Any], credit_cli: Callable[..., Any]
) -> None:
    data_dir = stored["data_dir"]
    shown = credit_cli("query", "sql", "SELECT arrears_type FROM cls_natural_arrears",
                       "--purpose", "月度统计", data_dir=data_dir)  # fmt: skip
    assert shown.returncode == 0 and "电费" in shown.stdout and "1 row" in shown.stdout
    refused = credit_cli("query", "sql", "DELETE FROM uploads WHERE 1", data_dir=data_dir)
    assert refused.returncode == 1 and "only SELECT" in refused.stdout
    described = credit_cli("query", "sql", "DESCRIBE TABLE uploads", "--json", data_dir=data_dir)
    assert "period_start" in {row[0] for row in json.loads(described.stdout)["rows"]}


def test_the_cli_grants_and_revokes_authorizations_and_reads_the_usage_log(
    stored: dict[str, Any], credit_cli: Callable[..., Any]
) -> None:
    from schemas.codes import random_uscc

    data_dir = stored["data_dir"]
    uscc = random_uscc(RNG)
    granted = credit_cli("authorization", "grant", "--subject", uscc, "--institution", "某银行",
                         "--purpose", "贷前审查", "--to", "2027-06-30", data_dir=data_dir)  # fmt: skip
    assert granted.returncode == 0, granted.stdout + granted.stderr
    auth_id = json.loads(granted.stdout)["auth_id"]
    listed = credit_cli("authorization", "list", "--subject", uscc, data_dir=data_dir)
    rows = json.loads(listed.stdout)["authorizations"]
    assert [(r["auth_id"], r["active"]) for r in rows] == [(auth_id, True)]
    assert credit_cli("authorization", "revoke", auth_id, data_dir=data_dir).returncode == 0
    rows = json.loads(credit_cli("authorization", "list", "--subject", uscc,
                                 data_dir=data_dir).stdout)["authorizations"]  # fmt: skip
    assert rows[0]["revoked_at"] is not None and rows[0]["active"] is False
    bad = credit_cli("authorization", "grant", "--subject", uscc, data_dir=data_dir)
    assert bad.returncode == 2 and "--institution" in bad.stderr

    sql = "SELECT count() FROM outcomes"
    assert credit_cli("query", "sql", sql, "--purpose", "核对", data_dir=data_dir).returncode == 0
    mine = credit_cli("audit", "--reader", "local-admin", data_dir=data_dir)
    assert mine.returncode == 0
    assert ("sql", "核对", sql) in {(r["what"], r["purpose"], r["detail"])
                                   for r in json.loads(mine.stdout)["reads"]}  # fmt: skip
    about = credit_cli("audit", "--subject", uscc, "--purpose", "复核", data_dir=data_dir)
    assert about.returncode == 0 and json.loads(about.stdout)["subject"] == uscc
    assert credit_cli("audit", data_dir=data_dir).returncode == 2
    news = credit_cli("blacklist-new", "--since", "2020-01-01", data_dir=data_dir)
    assert news.returncode == 0 and "entries" in json.loads(news.stdout)
    repairs = credit_cli("repair", "list", "--status", "applied", data_dir=data_dir)
    assert repairs.returncode == 0 and json.loads(repairs.stdout) == {"repairs": []}
    missing = credit_cli("repair", "apply", "--class", "ent_admin_penalty", data_dir=data_dir)
    assert missing.returncode == 2 and "--record-key" in missing.stderr
    unknown = credit_cli("repair", "approve", "rep-none", "--reason", "x", data_dir=data_dir)
    assert unknown.returncode == 1 and "rep-none" in unknown.stdout
    table = credit_cli("query", "blacklist-new", "--since", "2020-01-01", data_dir=data_dir)
    assert table.returncode == 0 and table.stdout.startswith("new black-list entries since")


def test_formula_like_text_is_stored_as_sent_and_exported_as_text(
    stored: dict[str, Any], credit_cli: Callable[..., Any], tmp_path: Any
) -> None:
    from schemas.codes import random_uscc

    api, data_dir = stored["api_url"], stored["data_dir"]
    keys = credit_cli("keys", "供电公司", "--rotate", "--json", data_dir=data_dir)
    key = json.loads(keys.stdout)["key"]
    name = '=HYPERLINK("http://evil.example","点我")'
    uscc = random_uscc(RNG)
    record = {"机构全称": name, "统一社会信用代码": uscc, "账号": "P1", "欠缴类型名称": "电费",
              "欠缴统计开始日期": "2026-07-01", "欠缴统计截止日期": "2026-09-30", "拖欠天数": "92",
              "欠费金额": "10", "信息来源部门全称": "供电公司", "提供单位全称": "供电公司",
              "提供日期": "2026-10-20"}  # fmt: skip
    resp = httpx.post(f"{api}/api/records/legal_arrears", json=[record],
                      headers={"Authorization": f"Bearer {key}"}, timeout=30)  # fmt: skip
    assert resp.status_code == 200 and resp.json()["accepted"] == 1, resp.text
    sql = f"SELECT subject_name FROM cls_legal_arrears WHERE subject_id = '{uscc}'"
    deadline = time.monotonic() + 60
    while _sql(api, sql).json().get("rows") != [[name]]:  # stored (and copied) as sent
        assert time.monotonic() < deadline, _sql(api, sql).text
        time.sleep(0.5)
    out = tmp_path / "names.csv"
    written = credit_cli("query", "sql", sql, "--purpose", "导出", "--output", str(out),
                         data_dir=data_dir)  # fmt: skip
    assert written.returncode == 0, written.stdout + written.stderr
    assert out.read_text(encoding="utf-8-sig").splitlines() == [
        "subject_name",
        '"\'=HYPERLINK(""http://evil.example"",""点我"")"',
    ]


def test_amounts_arrive_to_the_cent_through_the_columnar_path(
    stored: dict[str, Any], credit_cli: Callable[..., Any]
) -> None:
    """Amounts whose float is just below their cents (18771.92 is 18771.9199…): the worker
    sends them as Arrow floats and the sink stores them in Decimal(18, 2) — rounded, where
    ClickHouse's own conversion truncated a cent off 6% of amounts."""
    api, data_dir = stored["api_url"], stored["data_dir"]
    keys = credit_cli("keys", "供电公司", "--rotate", "--json", data_dir=data_dir)
    key = json.loads(keys.stdout)["key"]
    amounts = ["18771.92", "167153.02", "152456.02", "4297.94", "66539.04", "64.80"]
    codes = [random_uscc(RNG) for _ in amounts]
    records = [{"机构全称": f"分位{n}", "统一社会信用代码": code, "账号": f"C{n}",
                "欠缴类型名称": "电费", "欠缴统计开始日期": "2026-07-01",
                "欠缴统计截止日期": "2026-09-30", "拖欠天数": "92", "欠费金额": amount,
                "信息来源部门全称": "供电公司", "提供单位全称": "供电公司",
                "提供日期": "2026-10-20"}
               for n, (code, amount) in enumerate(zip(codes, amounts, strict=True))]  # fmt: skip
    resp = httpx.post(f"{api}/api/records/legal_arrears", json=records,
                      headers={"Authorization": f"Bearer {key}"}, timeout=30)  # fmt: skip
    assert resp.status_code == 200 and resp.json()["accepted"] == len(amounts), resp.text
    listed = ", ".join(f"'{c}'" for c in codes)
    sql = (f"SELECT toString(arrears_amount) FROM cls_legal_arrears "
           f"WHERE subject_id IN ({listed}) ORDER BY account_no")  # fmt: skip
    deadline = time.monotonic() + 60
    while len(rows := _sql(api, sql).json().get("rows") or []) < len(amounts):
        assert time.monotonic() < deadline, _sql(api, sql).text
        time.sleep(0.5)
    assert [r[0] for r in rows] == [a.rstrip("0").rstrip(".") for a in amounts]
