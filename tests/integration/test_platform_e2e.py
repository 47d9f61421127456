"""End to end on the real embedded platform, started the way a user starts it (`credit up`)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from producers.channel import publish_rows
from producers.publisher import Publisher, new_upload_id
from schemas.catalog import Catalog

GOOD_USCC = "91320281MA1MXXXX00"  # replaced below by generated valid codes

pytestmark = pytest.mark.integration


def _credit(*args: str, data_dir: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "credit.cli", *args, "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def _wait_fate(api: str, upload_id: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    fate: dict[str, Any] = {}
    while time.monotonic() < deadline:
        resp = httpx.get(f"{api}/api/uploads/{upload_id}")
        if resp.status_code == 200:
            fate = resp.json()
            if fate["complete"]:
                return fate
        time.sleep(0.5)
    pytest.fail(f"upload {upload_id} not accounted in {timeout}s: {fate}")


def _arrears_row(name: str, uscc: str, amount: str = "1200.50") -> dict[str, str]:
    return {
        "机构全称": name, "统一社会信用代码": uscc, "账号": "W1001", "欠缴类型名称": "水费",
        "欠缴统计开始日期": "2026-07-01", "欠缴统计截止日期": "2026-09-30", "拖欠天数": "92",
        "欠费金额": amount, "信息来源部门全称": "江阴市水务集团有限公司",
        "提供单位全称": "江阴市水务集团有限公司", "提供日期": "2026-10-20",
    }  # fmt: skip


def test_records_are_stored_and_bad_ones_dead_lettered_with_reasons(
    platform: dict[str, Any], catalog: Catalog
) -> None:
    import random

    from schemas.codes import random_uscc

    rng = random.Random(7)
    codes = [random_uscc(rng) for _ in range(5)]
    rows: list[tuple[int | None, dict[str, str]]] = [
        (i + 2, _arrears_row(f"企业{i}", code)) for i, code in enumerate(codes)
    ]
    rows.append((7, _arrears_row("企业0", codes[0])))  # the same record again: stored once
    bad_check = codes[1][:-1] + ("1" if codes[1][-1] != "1" else "2")
    rows.append((8, _arrears_row("坏码企业", bad_check)))
    rows.append((9, _arrears_row("缺金额企业", codes[2], amount="")))
    publisher = Publisher({"bootstrap.servers": platform["bootstrap"]}, platform["registry_url"],
                          "江阴市水务集团有限公司", "sdk")  # fmt: skip
    upload_id = new_upload_id("sdk")
    result = publish_rows(publisher, catalog.get("legal_arrears"), catalog, rows, upload_id)
    assert (result.received, result.sent, result.rejected) == (8, 7, 1)

    fate = _wait_fate(platform["api_url"], upload_id)
    assert fate == {**fate, "received": 8, "stored": 6, "rejected": 2, "pending": 0}
    rejected = httpx.get(f"{platform['api_url']}/api/uploads/{upload_id}/rejected").json()[
        "rejected"
    ]
    reasons = {r["row"]: set(r["reason_codes"]) for r in rejected}
    assert "uscc.check_digit" in reasons[8]
    assert "field.required" in reasons[9]
    status = _credit("status", "--json", data_dir=platform["data_dir"])
    body = json.loads(status.stdout) if status.stdout.startswith("{") else {}
    ready_file = Path(platform["data_dir"]) / "worker-ready.json"
    assert status.returncode == 0, (status.stderr, body.get("degraded"), body.get("error"),
                                    ready_file.read_text() if ready_file.exists() else None,
                                    platform["worker_pid"])  # fmt: skip
    stored = json.loads(status.stdout)["stored"]
    assert stored["legal_arrears"] >= 5
    resent = httpx.get(
        f"{platform['api_url']}/api/records/legal_arrears", params={"subject": codes[0]}
    )
    assert len(resent.json()["records"]) == 1  # the re-sent row is the same record: stored once


def test_status_reports_ready_and_a_second_up_is_refused(
    platform: dict[str, Any], tmp_path: Path
) -> None:
    deadline = time.monotonic() + 120  # run alone, this test may come before the worker joins
    status = _credit("status", "--json", data_dir=platform["data_dir"])
    while status.returncode != 0 and time.monotonic() < deadline:
        time.sleep(1)
        status = _credit("status", "--json", data_dir=platform["data_dir"])
    assert status.returncode == 0 and json.loads(status.stdout)["ready"] is True
    second = _credit("up", data_dir=platform["data_dir"])
    assert second.returncode == 2
    assert "already running" in second.stderr
    nothing = _credit("status", "--json", data_dir=tmp_path)
    assert nothing.returncode == 1 and json.loads(nothing.stdout)["ready"] is False


def _valid_codes(n: int, seed: int) -> list[str]:
    import random

    from schemas.codes import random_uscc

    rng = random.Random(seed)
    return [random_uscc(rng) for _ in range(n)]


def test_csv_upload_in_gbk_adds_up_with_reasons_and_error_report(
    platform: dict[str, Any], catalog: Catalog, tmp_path: Path
) -> None:
    from openpyxl import load_workbook

    cls = catalog.get("社会法人欠缴费用信息")
    labels = [f.label for f in cls.fields if not f.added]
    codes = _valid_codes(6, seed=11)
    rows = [_arrears_row(f"上传企业{i}", c) for i, c in enumerate(codes)]
    rows[1]["统一社会信用代码"] = codes[1][:-1] + ("1" if codes[1][-1] != "1" else "2")
    rows[2]["欠费金额"] = ""  # required
    rows[3]["机构全称"] = ""  # required
    path = tmp_path / "欠缴.csv"
    lines = [",".join(labels)] + [",".join(r.get(label, "") for label in labels) for r in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode("gbk"))
    report = tmp_path / "errors.xlsx"
    out = _credit("publish", str(path), "--class", cls.name, "--provider", "江阴市水务集团有限公司",
                  "--department", "供水公司",
                  "--json", "--error-report", str(report), data_dir=platform["data_dir"])  # fmt: skip
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert (result["received"], result["sent"], result["rejected"]) == (6, 4, 2)
    assert result["fate"] == {"received": 6, "stored": 3, "rejected": 3, "pending": 0}
    assert {(e["row"], e["reason"]) for e in result["errors"]} >= {
        (3, "uscc.check_digit"), (4, "field.required"), (5, "field.required"),
    }  # fmt: skip
    fate = _wait_fate(platform["api_url"], result["upload_id"])
    assert (fate["received"], fate["stored"], fate["rejected"]) == (6, 3, 3)
    query = _credit("query", "upload", result["upload_id"], "--json", data_dir=platform["data_dir"])
    assert json.loads(query.stdout) == {"upload_id": result["upload_id"], "received": 6,
                                        "stored": 3, "rejected": 3, "pending": 0,
                                        "lost": 0, "held": 0, "withdrawn": 0}  # fmt: skip
    sheet = load_workbook(report).active
    assert sheet is not None
    report_rows = list(sheet.iter_rows(values_only=True))
    assert [r[0] for r in report_rows[1:]] == [3, 4, 5]
    assert "uscc.check_digit" in str(report_rows[1][-1])


def test_http_gateway_checks_keys_and_classes_and_answers_per_record(
    platform: dict[str, Any],
) -> None:
    keys = _credit("keys", "水务集团", "--department", "供水公司", "--json",
                   data_dir=platform["data_dir"])  # fmt: skip
    assert keys.returncode == 0, keys.stderr
    key = json.loads(keys.stdout)["key"]
    api = platform["api_url"]
    good, bad = _valid_codes(2, seed=21)
    body = {"records": [_arrears_row("接口企业", good), _arrears_row("坏码", bad[:-1] + "Z")]}
    assert httpx.post(f"{api}/api/records/legal_arrears", json=body).status_code == 401
    wrong = httpx.post(f"{api}/api/records/legal_arrears", json=body, headers={"X-API-Key": "nope"})
    assert wrong.status_code == 401
    auth = {"Authorization": f"Bearer {key}"}
    refused = httpx.post(f"{api}/api/records/logistics_freight", json=body, headers=auth)
    assert refused.status_code == 403 and "logistics_freight" in refused.json()["message"]
    resp = httpx.post(f"{api}/api/records/legal_arrears", json=body, headers=auth)
    assert resp.status_code == 207
    answer = resp.json()
    assert [r["status"] for r in answer["results"]] == ["accepted", "rejected"]
    assert answer["results"][1]["errors"][0]["field"] == "uscc"
    fate = _wait_fate(api, answer["upload_id"])
    assert (fate["received"], fate["stored"], fate["rejected"]) == (2, 1, 1)


def test_malformed_messages_are_dead_lettered_and_the_worker_goes_on(
    platform: dict[str, Any], catalog: Catalog
) -> None:
    from confluent_kafka import Producer

    from schemas import envelope as env

    upload = f"raw-{time.time_ns()}"
    producer = Producer({"bootstrap.servers": platform["bootstrap"]})
    cls = catalog.get("legal_arrears")
    for row, value in enumerate([b"not avro at all", b"\x00\x00\x00\x27\x0f", b"\x00"], start=1):
        headers: list[tuple[str, str | bytes | None]] = [
            (env.H_UPLOAD, upload.encode()), (env.H_ROW, str(row).encode()),
                   (env.H_PROVIDER, b"raw-test"), (env.H_CHANNEL, b"sdk")]  # fmt: skip
        producer.produce(cls.topic, value, b"k", headers=headers)
    producer.flush(10)
    # raw messages have no upload ledger entry: wait for all three verdicts instead
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        fate = httpx.get(f"{platform['api_url']}/api/uploads/{upload}").json()
        if fate.get("rejected") == 3:
            break
        time.sleep(0.3)
    assert (fate["stored"], fate["rejected"], fate["complete"]) == (0, 3, False)
    rejected = httpx.get(f"{platform['api_url']}/api/uploads/{upload}/rejected").json()["rejected"]
    codes = {r["row"]: r["reason_codes"] for r in rejected}
    assert codes[1] == ["avro.not_framed"]
    assert codes[2] == ["avro.unknown_schema"]
    assert codes[3] == ["avro.truncated"]
    # the worker is still alive and storing: a good record after the bad ones arrives
    publisher = Publisher({"bootstrap.servers": platform["bootstrap"]}, platform["registry_url"],
                          "raw-test", "sdk")  # fmt: skip
    after = new_upload_id("sdk")
    result = publish_rows(
        publisher, cls, catalog, [(1, _arrears_row("后来企业", _valid_codes(1, 5)[0]))], after
    )
    assert result.sent == 1
    assert _wait_fate(platform["api_url"], after)["stored"] == 1


def _records(api: str, code: str, subject: str) -> list[dict[str, Any]]:
    resp = httpx.get(f"{api}/api/records/{code}", params={"subject": subject})
    assert resp.status_code == 200, resp.text
    return list(resp.json()["records"])


def test_corrections_replace_and_the_latest_provider_date_wins(
    platform: dict[str, Any], catalog: Catalog
) -> None:
    cls = catalog.get("legal_arrears")
    (code,) = _valid_codes(1, seed=31)
    versions = [("2026-10-20", "100.00"), ("2026-10-25", "150.00"), ("2026-10-01", "50.00")]
    for provide_date, amount in versions:  # the oldest version arrives last
        row = _arrears_row("更正企业", code, amount) | {"提供日期": provide_date}
        publisher = Publisher({"bootstrap.servers": platform["bootstrap"]},
                              platform["registry_url"], "更正测试", "sdk")  # fmt: skip
        upload = new_upload_id("sdk")
        publish_rows(publisher, cls, catalog, [(2, row)], upload)
        _wait_fate(platform["api_url"], upload)
    rows = _records(platform["api_url"], "legal_arrears", code)
    assert len(rows) == 1
    assert float(rows[0]["arrears_amount"]) == 150.0


def test_replay_resubmits_fixed_rows_into_the_same_upload(
    platform: dict[str, Any], catalog: Catalog, tmp_path: Path
) -> None:
    from openpyxl import Workbook

    cls = catalog.get("legal_arrears")
    labels = [f.label for f in cls.fields if not f.added]
    good, fixed = _valid_codes(2, seed=41)
    rows = [_arrears_row("甲", good), _arrears_row("乙", fixed, amount="")]
    path = tmp_path / "first.csv"
    lines = [",".join(labels)] + [",".join(r.get(label, "") for label in labels) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = tmp_path / "report.xlsx"
    first = _credit("publish", str(path), "--class", "legal_arrears", "--provider", "重放测试",
                    "--department", "供水公司",
                    "--json", "--error-report", str(report), data_dir=platform["data_dir"])  # fmt: skip
    upload_id = json.loads(first.stdout)["upload_id"]
    assert json.loads(first.stdout)["fate"]["rejected"] == 1
    # the provider corrects the amount in its error report and replays it
    from openpyxl import load_workbook

    sheet = load_workbook(report).active
    assert sheet is not None
    header = [c.value for c in sheet[1]]
    corrected = Workbook()
    out = corrected.active
    assert out is not None
    out.append(header)
    for values in sheet.iter_rows(min_row=2, values_only=True):
        line = list(values)
        line[header.index("欠费金额")] = "321.00"
        out.append(line)
    fixed_path = tmp_path / "fixed.xlsx"
    corrected.save(fixed_path)
    again = _credit("replay", upload_id, "--from", str(fixed_path), "--json",
                    data_dir=platform["data_dir"])  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["sent"] == 1
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        fate = httpx.get(f"{platform['api_url']}/api/uploads/{upload_id}").json()
        if fate["stored"] == 2:
            break
        time.sleep(0.5)
    assert (fate["received"], fate["stored"], fate["rejected"]) == (2, 2, 0)
    assert (
        float(_records(platform["api_url"], "legal_arrears", fixed)[0]["arrears_amount"]) == 321.0
    )
    # the row is stored now: it is no longer listed as rejected, and replaying again (as
    # stored, or the same corrected report) re-sends nothing
    listed = httpx.get(f"{platform['api_url']}/api/uploads/{upload_id}/rejected").json()
    assert listed["rejected"] == []
    for extra in ([], ["--from", str(fixed_path)]):
        third = _credit("replay", upload_id, *extra, "--json", data_dir=platform["data_dir"])
        assert third.returncode == 0, third.stderr
        assert json.loads(third.stdout)["replayed"] == 0
    time.sleep(2)
    fate = httpx.get(f"{platform['api_url']}/api/uploads/{upload_id}").json()
    assert (fate["received"], fate["stored"], fate["rejected"]) == (2, 2, 0)


def test_metrics_endpoint_counts_what_was_sent(platform: dict[str, Any], catalog: Catalog) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    provider = f"指标测试{time.time_ns() % 10**6}"
    codes = _valid_codes(4, seed=51)
    rows: list[tuple[int | None, dict[str, str]]] = [
        (i + 2, _arrears_row(f"指标{i}", c)) for i, c in enumerate(codes)
    ]
    rows.append((6, _arrears_row("缺金额", codes[0], amount="")))
    publisher = Publisher({"bootstrap.servers": platform["bootstrap"]}, platform["registry_url"],
                          provider, "sdk")  # fmt: skip
    upload = new_upload_id("sdk")
    publish_rows(publisher, catalog.get("legal_arrears"), catalog, rows, upload)
    _wait_fate(platform["api_url"], upload)
    text = httpx.get(f"{platform['api_url']}/metrics").text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }

    def rows_in(state: str) -> float:
        key = (("class_code", "legal_arrears"), ("provider", provider), ("state", state))
        return samples[("credit_upload_rows", key)]

    assert (rows_in("received"), rows_in("stored"), rows_in("rejected")) == (5, 4, 1)
    worker_stored = [v for (name, labels), v in samples.items()
                     if name == "credit_worker_records_total" and ("outcome", "stored") in labels]  # fmt: skip
    assert worker_stored and sum(worker_stored) >= 4
    assert any(name == "credit_sink_rows_total" for name, _ in samples)


def test_the_file_channel_enforces_what_the_api_enforces(
    platform: dict[str, Any], tmp_path: Path
) -> None:
    """The provider's department must report the class (as for API keys); a provider with no
    known department must name one; the template's example row is refused, not stored."""
    data_dir = platform["data_dir"]
    template = tmp_path / "t.xlsx"
    assert (
        _credit("template", "legal_arrears", "-o", str(template), data_dir=data_dir).returncode == 0
    )
    refused = _credit("publish", str(template), "--class", "ent_admin_penalty", "--provider",
                      "江阴市水务集团有限公司", "--department", "供水公司", data_dir=data_dir)  # fmt: skip
    assert refused.returncode == 2 and "does not report ent_admin_penalty" in refused.stderr
    nameless = _credit("publish", str(template), "--class", "legal_arrears", "--provider",
                       "无名单位", data_dir=data_dir)  # fmt: skip
    assert nameless.returncode == 2 and "--department" in nameless.stderr
    unknown = _credit("query", "upload", "no-such-upload", data_dir=data_dir)
    assert unknown.returncode == 1 and "no upload 'no-such-upload'" in unknown.stderr
    assert unknown.stdout == ""
    keys = _credit("keys", "登记过的水务", "--department", "供水公司", data_dir=data_dir)
    assert keys.returncode == 0, keys.stderr
    sent = _credit("publish", str(template), "--class", "legal_arrears", "--provider",
                   "登记过的水务", "--json", "--wait", data_dir=data_dir)  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    answer = json.loads(sent.stdout)
    assert (answer["received"], answer["rejected"]) == (1, 1)
    assert "row.template_example" in {e["reason"] for e in answer["errors"]}
    assert answer["fate"] == {"received": 1, "stored": 0, "rejected": 1, "pending": 0}


def test_an_upload_above_the_dirty_data_threshold_is_held_until_released_or_withdrawn(
    platform: dict[str, Any], tmp_path: Path, catalog: Catalog
) -> None:
    """18 of 20 rows refused: nothing of the upload is stored until someone decides."""
    data_dir, api = platform["data_dir"], platform["api_url"]
    labels = [f.label for f in catalog.get("legal_arrears").fields if not f.added]

    def dirty_file(name: str, seed: int) -> Path:
        codes = _valid_codes(20, seed=seed)
        rows = [_arrears_row(f"脏数据{seed}-{i}", c, amount="" if i >= 2 else "10.00")
                for i, c in enumerate(codes)]  # fmt: skip
        path = tmp_path / name
        lines = [",".join(labels)] + [",".join(r.get(lb, "") for lb in labels) for r in rows]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def publish(path: Path) -> dict[str, Any]:
        out = _credit("publish", str(path), "--class", "legal_arrears", "--provider",
                      "暂扣测试水务", "--department", "供水公司", "--json", data_dir=data_dir)  # fmt: skip
        assert out.returncode == 0, out.stderr
        return dict(json.loads(out.stdout))

    held = publish(dirty_file("dirty.csv", 61))
    assert (held["received"], held["sent"], held["rejected"]) == (20, 2, 18)
    assert "threshold" in held["held"]
    fate = httpx.get(f"{api}/api/uploads/{held['upload_id']}").json()
    assert (fate["stored"], fate["held"], fate["pending"], fate["complete"]) == (0, 20, 0, False)
    status = _credit("status", data_dir=data_dir)
    assert "1 HELD" in status.stdout, status.stdout
    time.sleep(2)  # nothing was sent: still nothing stored a moment later
    assert httpx.get(f"{api}/api/uploads/{held['upload_id']}").json()["stored"] == 0
    released = _credit("upload", "release", held["upload_id"], data_dir=data_dir)
    assert released.returncode == 0, released.stderr
    fate = _wait_fate(api, held["upload_id"])
    assert (fate["received"], fate["stored"], fate["rejected"], fate["held"]) == (20, 2, 18, 0)
    again = _credit("upload", "release", held["upload_id"], data_dir=data_dir)
    assert again.returncode == 1 and "not held" in again.stderr

    other = publish(dirty_file("dirty2.csv", 62))
    withdrawn = _credit("upload", "withdraw", other["upload_id"], "--json", data_dir=data_dir)
    assert withdrawn.returncode == 0, withdrawn.stderr
    fate = json.loads(withdrawn.stdout)
    assert (fate["stored"], fate["withdrawn"], fate["pending"], fate["complete"]) == (
        0,
        20,
        0,
        True,
    )


def test_a_district_unit_reports_for_a_period_and_rolls_up_to_its_department(
    platform: dict[str, Any], catalog: Catalog
) -> None:
    """A 大冶市 unit of 市工商局 reports through its own API key; the statistics list it under
    its district, roll it up into the department, judge lateness by the period its data
    covers, and `--district` narrows statistics and census alike."""
    import datetime as dt
    import random

    from producers.template import example_row
    from schemas.codes import random_uscc
    from sinks.read.cycles import deadline

    api, data_dir = platform["api_url"], platform["data_dir"]
    refused = _credit("keys", "大冶工商", "--department", "市工商局", "--district", "999999",
                      data_dir=data_dir)  # fmt: skip
    assert refused.returncode != 0 and "district 999999" in refused.stderr
    issued = _credit("keys", "大冶工商", "--department", "市工商局", "--district", "420281",
                     "--class", "ent_admin_penalty", "--json", data_dir=data_dir)  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    key = json.loads(issued.stdout)["key"]
    cls = catalog.get("ent_admin_penalty")
    uscc = random_uscc(random.Random(42))
    record = dict(zip((f.name for f in cls.fields), example_row(cls, catalog), strict=True))
    record = {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in record.items()}
    record[cls.subject.code] = uscc
    today = dt.date.today()
    due = deadline(catalog.get("legal_arrears"), [], today).due_period
    assert due is not None
    headers = {"Authorization": f"Bearer {key}"}
    bad_period = httpx.post(f"{api}/api/records/{cls.code}", params={"period": "2026-13"},
                            json=[record], headers=headers)  # fmt: skip
    assert bad_period.status_code == 400 and "2026-Q3" in bad_period.json()["message"]
    resp = httpx.post(f"{api}/api/records/{cls.code}", params={"period": due.label()},
                      json=[record], headers=headers, timeout=30)  # fmt: skip
    assert resp.status_code == 200, resp.text
    assert _wait_fate(api, resp.json()["upload_id"])["stored"] == 1

    stats = httpx.get(f"{api}/api/stats/collection", params={"district": "420281"}).json()
    assert stats["district"] == "420281" and {r["district"] for r in stats["rows"]} == {"420281"}
    unit = [
        r for r in stats["rows"] if (r["department"], r["class_code"]) == ("市工商局", cls.code)
    ]
    assert len(unit) == 1 and (unit[0]["level"], unit[0]["received"], unit[0]["stored"]) == (
        "district",
        1,
        1,
    )
    assert unit[0]["providers"] == ["大冶工商"] and unit[0]["status"] == "on_time"  # 实时: today
    every = httpx.get(f"{api}/api/stats/collection").json()["rows"]
    rollup = [r for r in every if (r["department"], r["class_code"], r["level"])
              == ("市工商局", cls.code, "rollup")]  # fmt: skip
    assert len(rollup) == 1 and rollup[0]["stored"] >= 1
    assert set(rollup[0]["districts"]) == set(catalog_districts(catalog, "市工商局"))
    assert rollup[0]["late"]  # the other five districts and the city level sent nothing
    # the census of the subject's district has its record; another district has none
    mine = httpx.get(f"{api}/api/stats/census", params={"district": uscc[2:8]}).json()
    assert mine["total"]["records"] >= 1 and mine["district"] == uscc[2:8]
    none = httpx.get(f"{api}/api/stats/census", params={"district": "650000"}).json()
    assert none["total"]["records"] == 0
    assert httpx.get(f"{api}/api/stats/census", params={"district": "x1"}).status_code == 400
    printed = _credit("query", "stats", "--district", "420281", data_dir=data_dir)
    assert printed.returncode == 0 and "in 420281" in printed.stdout, printed.stderr


def catalog_districts(catalog: Catalog, department: str) -> set[str]:
    return {d for dept in catalog.departments if dept.name == department for d in dept.districts}


def test_lateness_is_judged_by_the_period_the_upload_declares(
    platform: dict[str, Any], tmp_path: Path, catalog: Catalog
) -> None:
    """Data for the period whose deadline has passed, arriving today, is late by the days
    since that deadline; data for the next period leaves the due one missing."""
    import datetime as dt
    import random

    from schemas.codes import random_uscc
    from sinks.read.cycles import deadline
    from sinks.read.workdays import DEFAULT_CALENDAR

    data_dir, api = platform["data_dir"], platform["api_url"]
    today = dt.date.today()
    verdict = deadline(catalog.get("legal_arrears"), [], today)
    assert verdict.due_period is not None
    rng = random.Random(11)
    path = tmp_path / "arrears.csv"
    row = _arrears_row("某燃气用户公司", random_uscc(rng))
    path.write_text(",".join(row) + "\n" + ",".join(row.values()) + "\n", encoding="utf-8")
    sent = _credit("publish", str(path), "--class", "legal_arrears", "--provider", "燃气甲",
                   "--department", "燃气公司", "--period", verdict.due_period.label(), "--json",
                   "--wait", data_dir=data_dir)  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout)["period"] == verdict.due_period.label()
    rows = httpx.get(f"{api}/api/stats/collection").json()["rows"]
    gas = [r for r in rows if (r["department"], r["class_code"]) == ("燃气公司", "legal_arrears")]
    assert len(gas) == 1 and gas[0]["due_period"] == verdict.due_period.label()
    days = DEFAULT_CALENDAR.lenient().working_days_between(verdict.last_deadline, today)
    assert (gas[0]["status"], gas[0]["days_late"]) == ("late", days)
    bad = _credit("publish", str(path), "--class", "legal_arrears", "--provider", "燃气甲",
                  "--department", "燃气公司", "--period", "10/2026", data_dir=data_dir)  # fmt: skip
    assert bad.returncode != 0 and "2026-Q3" in bad.stderr


def test_a_provider_uploads_a_file_over_http_as_it_would_with_credit_publish(
    platform: dict[str, Any], catalog: Catalog, tmp_path: Path
) -> None:
    """A GBK CSV as a browser sends it (multipart), and an .xlsx as a raw body: the same
    checks and per-row answer as `credit publish`, the original name kept, the rows stored."""
    cls = catalog.get("legal_arrears")
    labels = [f.label for f in cls.fields if not f.added]
    codes = _valid_codes(4, seed=23)
    rows = [_arrears_row(f"网传企业{i}", c) for i, c in enumerate(codes)]
    rows[2]["欠费金额"] = ""  # required
    lines = [",".join(labels)] + [",".join(r.get(label, "") for label in labels) for r in rows]
    body = ("\n".join(lines) + "\n").encode("gbk")
    api, data_dir = platform["api_url"], platform["data_dir"]
    keys = _credit("keys", "网传水务", "--department", "供水公司", "--json", data_dir=data_dir)
    auth = {"Authorization": f"Bearer {json.loads(keys.stdout)['key']}"}
    resp = httpx.post(f"{api}/api/files/legal_arrears", headers=auth, timeout=60,
                      files={"file": ("十月欠费.csv", body, "text/csv")},
                      data={"period": "2026-10"})  # fmt: skip
    assert resp.status_code == 207, resp.text
    answer = resp.json()
    assert (answer["received"], answer["sent"], answer["rejected"]) == (4, 3, 1)
    assert (answer["source_name"], answer["period"]) == ("十月欠费.csv", "2026-10")
    assert [(e["row"], e["reason"]) for e in answer["errors"]] == [(4, "field.required")]
    fate = _wait_fate(api, answer["upload_id"])
    assert (fate["received"], fate["stored"], fate["rejected"]) == (4, 3, 1)
    source = list((Path(data_dir) / "intake").rglob("十月欠费.csv"))
    assert source and source[0].read_bytes() == body  # the original, as sent (来源可溯)
    report = httpx.get(f"{api}/api/uploads/{answer['upload_id']}/report.xlsx", headers=auth)
    assert report.status_code == 200, report.text
    assert "filename*=UTF-8''" in report.headers["content-disposition"]
    (tmp_path / "report.xlsx").write_bytes(report.content)
    from openpyxl import load_workbook

    sheet = load_workbook(tmp_path / "report.xlsx").active
    assert sheet is not None
    lines_back = list(sheet.iter_rows(values_only=True))
    assert [r[0] for r in lines_back[1:]] == [4]  # 原始行号 of the one rejected row
    assert lines_back[1][1] == "网传企业2" and "field.required" in str(lines_back[1][-1])
    template = httpx.get(f"{api}/api/templates/legal_arrears", headers=auth)
    assert template.status_code == 200 and template.content[:2] == b"PK"
    assert httpx.get(f"{api}/api/templates/nope", headers=auth).status_code == 404

    from openpyxl import Workbook

    book = tmp_path / "十一月.xlsx"
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(labels)
    ws.append([_arrears_row("网传企业X", _valid_codes(1, seed=24)[0]).get(x) for x in labels])
    wb.save(book)
    raw = httpx.post(f"{api}/api/files/legal_arrears", headers=auth, content=book.read_bytes(),
                     params={"filename": "十一月.xlsx"}, timeout=60)  # fmt: skip
    assert raw.status_code == 200 and raw.json()["sent"] == 1, raw.text

    with_banned = [lines[0] + ",婚姻状况"] + [line + ",已婚" for line in lines[1:]]
    banned = ("\n".join(with_banned) + "\n").encode("gbk")
    refused = httpx.post(f"{api}/api/files/legal_arrears", headers=auth,
                         files={"file": ("坏.csv", banned, "text/csv")})  # fmt: skip
    assert refused.status_code == 400 and refused.json()["error"] == "file.invalid"
    assert "婚姻状况" in refused.json()["message"]
    legacy = httpx.post(f"{api}/api/files/legal_arrears", headers=auth,
                        files={"file": ("旧.xls", b"\xd0\xcf\x11\xe0" + b"0" * 100)})  # fmt: skip
    assert legacy.status_code == 400 and ".xlsx" in legacy.json()["message"]
    assert httpx.post(f"{api}/api/files/legal_arrears",
                      files={"file": ("a.csv", body)}).status_code == 401  # fmt: skip
    other = httpx.post(f"{api}/api/files/ent_admin_penalty", headers=auth,
                       files={"file": ("a.csv", body)})  # fmt: skip
    assert other.status_code == 403
    assert not list((Path(data_dir) / "incoming").glob("*/*"))  # nothing left behind


def test_a_bank_reports_its_borrowers_loan_performance_through_its_own_channel(
    platform: dict[str, Any],
) -> None:
    """Seed 004 措施 9: 金融机构要将…获得贷款企业履约情况等共享至市融资信用服务平台. A bank
    registered under 接入金融机构 sends loan records with its own key (its name on every
    record); it may send nothing else; a bad 五级分类 is refused with its field."""
    bank = "江苏江阴农村商业银行股份有限公司"
    keys = _credit("keys", bank, "--department", "接入金融机构", "--json",
                   data_dir=platform["data_dir"])  # fmt: skip
    assert keys.returncode == 0, keys.stderr
    auth = {"Authorization": f"Bearer {json.loads(keys.stdout)['key']}"}
    (code,) = _valid_codes(1, seed=31)[:1]
    loan = {"企业名称": "履约测试企业", "统一社会信用代码": code, "贷款机构全称": bank,
            "贷款合同编号": "JYRCB-2026-0001", "贷款方式": "信用", "贷款金额（万元）": "300",
            "放款日期": "2026-03-01", "到期日期": "2027-02-28", "贷款余额（万元）": "120",
            "五级分类": "关注类", "逾期天数": "35", "逾期金额（万元）": "12.5",
            "履约状态日期": "2026-11-30", "提供单位全称": bank, "数据提供日期": "2026-12-01"}  # fmt: skip
    api = platform["api_url"]
    body = {"records": [loan, {**loan, "贷款合同编号": "JYRCB-2026-0002", "五级分类": "很好"}]}
    resp = httpx.post(f"{api}/api/records/ent_loan_performance", json=body, headers=auth)
    answer = resp.json()
    assert [r["status"] for r in answer["results"]] == ["accepted", "rejected"], answer["results"]
    assert answer["results"][1]["errors"][0]["field"] == "loan_class"
    refused = httpx.post(f"{api}/api/records/legal_arrears", json=body, headers=auth)
    assert refused.status_code == 403  # a bank reports its loans, not utility arrears
    fate = _wait_fate(api, answer["upload_id"])
    assert (fate["received"], fate["stored"], fate["rejected"]) == (2, 1, 1)
    (stored,) = _records(api, "ent_loan_performance", code)
    assert (stored["loan_class"], stored["ingest_provider"]) == ("关注", bank)
