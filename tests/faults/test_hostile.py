"""Hostile input costs a clear refusal, never a crash, a 500 or the machine's memory."""

from __future__ import annotations

import gzip
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer

from schemas import envelope as env
from schemas.codec import frame_batch
from schemas.codes import random_uscc
from tests.faults.faultkit import FAST_ENV, Up, start_up

pytestmark = pytest.mark.integration
CODE = "legal_arrears"


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    running = start_up(tmp_path_factory.mktemp("hostile"))
    try:
        running.wait_ready()
        yield running
    finally:
        running.kill_tree()


@pytest.fixture(scope="module")
def key(up: Up) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "credit.cli", "keys", "水务集团", "--department", "供水公司",
         "--json", "--data-dir", str(up.data_dir)],
        capture_output=True, text=True, timeout=60, env={**os.environ, **FAST_ENV},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)["key"])


def _row(name: str = "恶意测试企业") -> dict[str, str]:
    uscc = random_uscc(random.Random(name))
    return {"机构全称": name, "统一社会信用代码": uscc, "账号": "W1001", "欠缴类型名称": "水费",
            "欠缴统计开始日期": "2026-01-01", "欠缴统计截止日期": "2026-03-31", "拖欠天数": "90",
            "欠费金额": "100.00", "信息来源部门全称": "水务", "提供单位全称": "水务",
            "提供日期": "2026-04-10"}  # fmt: skip


def _post(up: Up, key: str, body: bytes, **headers: str) -> httpx.Response:
    return httpx.post(f"{up.api_url}/api/records/{CODE}", content=body, timeout=60,
                      headers={"Authorization": f"Bearer {key}",
                               "Content-Type": "application/json", **headers})  # fmt: skip


def test_bad_bodies_get_400_or_413_with_a_reason(up: Up, key: str) -> None:
    deep = b"[" * 1000 + b"]" * 1000
    cases: list[tuple[bytes, dict[str, str], int, str]] = [
        (deep, {}, 400, "request.json"),
        (b"\x1f\x8b\x08 not gzip", {"Content-Encoding": "gzip"}, 400, "request.body"),
        (b"{not json", {}, 400, "request.json"),
        (b"x" * (9 * 1024 * 1024), {}, 413, "request.too_large"),
    ]
    for body, headers, status, reason in cases:
        resp = _post(up, key, body, **headers)
        assert (resp.status_code, resp.json()["error"]) == (status, reason), resp.text[:300]
    ok = _post(
        up, key, gzip.compress(json.dumps([_row()]).encode()), **{"Content-Encoding": "gzip"}
    )
    assert ok.status_code == 200, ok.text[:500]


def test_a_huge_field_is_refused_per_row_and_the_request_adds_up(up: Up, key: str) -> None:
    rows = [_row("正常企业"), {**_row(), "欠缴类型名称": "x" * 3_000_000}]
    resp = _post(up, key, json.dumps({"records": rows}).encode())
    assert resp.status_code == 207, resp.text[:500]
    answer = resp.json()
    assert [r["status"] for r in answer["results"]] == ["accepted", "rejected"]
    assert "field.too_long" in {e["reason"] for e in answer["results"][1]["errors"]}
    fate = up.wait_complete(answer["upload_id"])
    assert (fate["received"], fate["stored"], fate["rejected"]) == (2, 1, 1)


def _worker_rss_mb(up: Up) -> float:
    pid = json.loads((up.data_dir / "runtime.json").read_text())["worker_pid"]
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.parametrize(("count", "rows"), [("1000000000", "2"), ("1", "1-99999999")])
def test_a_batch_header_that_lies_costs_one_dead_letter(
    up: Up, key: str, count: str, rows: str
) -> None:
    upload = f"hostile-{time.time_ns()}"
    runtime: dict[str, Any] = json.loads((up.data_dir / "runtime.json").read_text())
    producer = Producer({"bootstrap.servers": runtime["bootstrap"]})
    headers: list[tuple[str, str | bytes | None]] = [
        (env.H_UPLOAD, upload.encode()), (env.H_PROVIDER, b"hostile"),
               (env.H_CHANNEL, b"sdk"), (env.H_BATCH, count.encode()),
               (env.H_ROWS, rows.encode())]  # fmt: skip
    producer.produce(f"credit.in.{CODE}", frame_batch(1, [b"\x02x"]), b"k", headers=headers)
    producer.flush(10)
    deadline = time.monotonic() + 60
    fate: dict[str, Any] = {}
    while time.monotonic() < deadline and fate.get("rejected") != 1:
        fate = up.fate(upload)
        time.sleep(0.3)
    assert (fate["stored"], fate["rejected"]) == (0, 1), fate
    rejected = httpx.get(f"{up.api_url}/api/uploads/{upload}/rejected", timeout=10).json()
    assert [r["reason_codes"] for r in rejected["rejected"]] == [["batch.header"]]
    assert _worker_rss_mb(up) < 600
    # and the stream goes on: an ordinary request after it is decided
    after = _post(up, key, json.dumps([_row("之后的企业")]).encode())
    assert up.wait_complete(after.json()["upload_id"])["stored"] == 1


def test_a_request_above_the_dirty_data_threshold_is_held_with_202(up: Up, key: str) -> None:
    rows = [_row(f"好企业{i}") for i in range(2)] + [
        {**_row(f"坏企业{i}"), "欠费金额": "-1"} for i in range(10)
    ]
    resp = _post(up, key, json.dumps(rows).encode())
    assert resp.status_code == 202, resp.text[:300]
    answer = resp.json()
    assert "10 of 12 rows refused" in answer["held"]
    fate = up.fate(answer["upload_id"])
    assert (fate["held"], fate["stored"], fate["complete"]) == (12, 0, False)
