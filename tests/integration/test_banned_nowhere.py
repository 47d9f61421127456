"""Banned personal data (seed 003) is refused with a reason and stored nowhere: not in any
table the platform writes, not in the dead-letter payload, not in the logs."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from schemas.codes import random_citizen_id

if TYPE_CHECKING:
    from tests.integration.conftest import WaitFate

pytestmark = pytest.mark.integration

MARK = "BANNEDMARK7731"


def _person(pid: str, **extra: str) -> dict[str, str]:
    return {
        "姓名": "王伟", "证件类型": "身份证", "证件号码": pid, "账号": "E1", "欠缴类型名称": "电费",
        "欠缴开始日期": "2026-07-01", "欠缴截止日期": "2026-09-30", "拖欠天数": "92",
        "欠费金额(元)": "88.00", "信息来源部门全称": "供电公司", "提供单位全称": "供电公司",
        "提供日期": "2026-10-20", **extra,
    }  # fmt: skip


_RAW_SEARCH = """
import json, sys
import clickhouse_connect
client = clickhouse_connect.get_client(interface="chdb", path=sys.argv[1])
tables = [r[0] for r in client.query(
    "SELECT name FROM system.tables WHERE database = 'credit' AND engine LIKE '%MergeTree'"
).result_rows]
hits = {t: client.query(f"SELECT count() FROM credit.{t} "
                        f"WHERE positionUTF8(formatRow('TSV', *), {sys.argv[2]!r}) > 0"
                        ).result_rows[0][0] for t in tables}
print(json.dumps(hits))
"""


def _raw_hits(data_dir: Path, needle: str) -> dict[str, int]:
    """Rows holding `needle` per table of the stopped platform's store (a process of its own:
    one chDB per process, and this one may hold the tests' store)."""
    out = subprocess.run([sys.executable, "-c", _RAW_SEARCH, str(data_dir / "chdb"), needle],
                         capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def test_banned_values_are_refused_and_appear_in_no_table_and_no_log(
    platform: dict[str, Any],
    credit_cli: Callable[..., Any],
    wait_fate: WaitFate,
) -> None:
    keys = credit_cli("keys", "供电公司", "--department", "供电公司", "--json",
                      data_dir=platform["data_dir"])  # fmt: skip
    key = json.loads(keys.stdout)["key"]
    rng = random.Random(77)
    good, bad = random_citizen_id(rng), random_citizen_id(rng)
    body = {"records": [_person(good), _person(bad, 婚姻状况=f"已婚{MARK}", 月收入=f"{MARK}9")]}
    resp = httpx.post(f"{platform['api_url']}/api/records/natural_arrears", json=body,
                      headers={"Authorization": f"Bearer {key}"})  # fmt: skip
    answer = resp.json()
    assert [r["status"] for r in answer["results"]] == ["accepted", "rejected"]
    reasons = {e["reason"] for e in answer["results"][1]["errors"]}
    assert reasons == {"banned.personal_data"}
    assert MARK not in resp.text  # the refusal names the field and category, never the value
    fate = wait_fate(answer["upload_id"])
    assert (fate["stored"], fate["rejected"]) == (1, 1)

    # every table of the store, read raw once the platform is stopped (analyst SQL reaches
    # only the analysts' copies): the banned value is in none of them
    platform["proc"].terminate()
    platform["proc"].wait(timeout=60)
    hits = _raw_hits(Path(platform["data_dir"]), MARK)
    assert {"dead_letters", "outcomes", "cls_natural_arrears"} <= set(hits)
    assert {table: n for table, n in hits.items() if n} == {}
    time.sleep(1)  # let the processes flush their logs
    data_dir = Path(platform["data_dir"])
    for log in [*data_dir.glob("logs/*.log"), data_dir / "up.out"]:
        assert MARK not in log.read_text(errors="replace"), f"banned value in {log.name}"
