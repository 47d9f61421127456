"""End to end on the real embedded platform, started the way a user starts it (`credit up`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
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


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data_dir = tmp_path_factory.mktemp("platform")
    log = (data_dir / "up.out").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "credit.cli", "up", "--data-dir", str(data_dir)],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "CREDIT_TOPIC_PARTITIONS": "2"},
    )  # fmt: skip
    runtime = data_dir / "runtime.json"
    deadline = time.monotonic() + 120
    while not runtime.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"credit up did not start: {(data_dir / 'up.out').read_text()}")
        time.sleep(0.2)
    info = json.loads(runtime.read_text())
    yield {**info, "data_dir": data_dir, "proc": proc}
    proc.terminate()
    proc.wait(timeout=60)
    log.close()


def _wait_fate(api: str, upload_id: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    fate: dict[str, Any] = {}
    while time.monotonic() < deadline:
        resp = httpx.get(f"{api}/api/uploads/{upload_id}")
        if resp.status_code == 200:
            fate = resp.json()
            if fate["pending"] == 0 and fate["received"] > 0:
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

    from streams.codes import random_uscc

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
    assert (result.received, result.sent, result.rejected) == (8, 8, 0)

    fate = _wait_fate(platform["api_url"], upload_id)
    assert fate == {**fate, "received": 8, "stored": 6, "rejected": 2, "pending": 0}
    rejected = httpx.get(f"{platform['api_url']}/api/uploads/{upload_id}/rejected").json()[
        "rejected"
    ]
    reasons = {r["row"]: set(r["reason_codes"]) for r in rejected}
    assert "uscc.check_digit" in reasons[8]
    assert "field.required" in reasons[9]
    status = _credit("status", "--json", data_dir=platform["data_dir"])
    assert status.returncode == 0, status.stderr
    stored = json.loads(status.stdout)["stored"]
    assert stored["legal_arrears"] >= 5  # the re-sent row did not add a record


def test_status_reports_ready_and_a_second_up_is_refused(
    platform: dict[str, Any], tmp_path: Path
) -> None:
    status = _credit("status", "--json", data_dir=platform["data_dir"])
    assert status.returncode == 0 and json.loads(status.stdout)["ready"] is True
    second = _credit("up", data_dir=platform["data_dir"])
    assert second.returncode == 2
    assert "already running" in second.stderr
    nothing = _credit("status", "--json", data_dir=tmp_path)
    assert nothing.returncode == 1 and json.loads(nothing.stdout)["ready"] is False
