"""The worker's disk store (RocksDB) against the real broker: a worker that restarts without
its local databases rebuilds every table from the changelog topics."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import random
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from schemas.catalog import Catalog
from schemas.codes import random_uscc
from tests.integration.bills import bill, send

if TYPE_CHECKING:
    from tests.integration.conftest import WaitFate

pytestmark = pytest.mark.integration


def _bill(uscc: str, month: dt.date, amount: float) -> dict[str, str]:
    return bill(uscc, month, amount / 2, amount, name="状态恢复测试有限公司", kind="电费",
                unit="千瓦时", provider="供电公司")  # fmt: skip


def _send(platform: dict[str, Any], catalog: Catalog, rows: list[dict[str, str]]) -> str:
    return send(platform, catalog, rows, "供电公司")


def _hold_slot(lock_file: Path, timeout: float = 10) -> Any:
    """Take a worker slot's lock as soon as its killed owner has released it."""
    handle = lock_file.open("a")
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def test_worker_without_its_local_state_recovers_it_from_the_changelog(
    platform: dict[str, Any], catalog: Catalog, wait_fate: WaitFate
) -> None:
    first = dt.date.today().replace(day=1)
    months = []
    for _ in range(4):
        first = (first - dt.timedelta(days=1)).replace(day=1)
        months.append(first)
    months.reverse()
    uscc = random_uscc(random.Random(4242))
    amounts = [100.0, 110.0, 120.0, 130.0]
    bills = [_bill(uscc, m, a) for m, a in zip(months, amounts, strict=True)]
    wait_fate(_send(platform, catalog, bills[:2]))
    time.sleep(3)  # one offset commit (see test_aggregates_e2e)
    slots = platform["data_dir"] / "worker"
    assert list((slots / "slot-0" / "v1" / "tables").glob("subjects*.db"))  # RocksDB on disk
    runtime = json.loads((platform["data_dir"] / "runtime.json").read_text())
    os.kill(runtime["worker_pid"], signal.SIGKILL)
    # the restarted worker finds slot-0 taken: it starts in slot-1 with empty databases
    held = _hold_slot(slots / "slot-0" / "worker.lock")
    try:
        wait_fate(_send(platform, catalog, bills[2:]), timeout=120)
        deadline = time.monotonic() + 60
        power: dict[str, Any] = {}
        while time.monotonic() < deadline:
            resp = httpx.get(f"{platform['api_url']}/api/aggregates", params={"subject": uscc})
            rows = [r for r in resp.json()["aggregates"] if r["kind"] == "power"]
            power = rows[0] if rows else {}
            if power.get("last_month") == months[-1].isoformat()[:7]:
                break
            time.sleep(0.5)
        assert (slots / "slot-1" / "v1" / "tables").exists()
        # the figures come from the store's facts, whichever worker decided them
        assert power["avg_amount_6"] == pytest.approx(sum(amounts) / 4)
        assert [m["month"][:7] for m in power["history"]] == [m.isoformat()[:7] for m in months]
        assert power["consecutive_paid_months"] == 4
    finally:
        held.close()
