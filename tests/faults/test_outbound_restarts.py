"""The provincial push across restarts of either side (issue 23): a real `credit up` pushes
what it stores to a fake provincial endpoint (which applies each delivery id once, as the
real one does); the platform is killed with -9 mid-delivery, the province goes down while
records arrive and the platform is stopped and started again meanwhile (its embedded broker
loses the outbound topic). In the end the province holds every stored record exactly once and
none of the records its own 回流 feed sent in."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.faults.faultkit import FAST_ENV, Up, expected, provider_file, publish, start_up
from tests.integration.test_outbound import RETURN, Province

pytestmark = pytest.mark.integration
ENV = {"CREDIT_OUTBOUND_SECONDS": "0.5"}


def _credit(data: Path, *args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "credit.cli", *args, "--data-dir", str(data)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, **FAST_ENV})  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return dict(json.loads(done.stdout)) if done.stdout.strip().startswith("{") else {}


def _returned_feed(data: Path, path: Path) -> dict[str, Any]:
    """The province's 回流 file through the platform's own publish channel, as its provider."""
    provider_file(path, companies=60, seed=99)
    return _credit(data, "publish", str(path), "--class", "legal_utility_payment", "--provider",
                   RETURN, "--department", "供水公司", "--json")  # fmt: skip


def _until(check: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError("not reached in time")


def test_the_province_gets_every_stored_record_once_across_restarts_of_either_side(
    tmp_path: Path, platforms: list[Up]
) -> None:
    data = tmp_path / "dir"
    first = provider_file(tmp_path / "first.csv", companies=400, seed=11)
    second = provider_file(tmp_path / "second.csv", companies=150, seed=12)
    province = Province()
    port, province.delay = province.port, 0.5
    up = start_up(data, **ENV)
    platforms.append(up)
    up.wait_ready()
    _credit(data, "targets", "add", "province", "--url", province.url, "--format", "province",
            "--returns-as", RETURN)  # fmt: skip
    returned = _returned_feed(data, tmp_path / "returned.csv")
    fate = up.wait_complete(str(publish(data, tmp_path / "first.csv")["upload_id"]))
    up.wait_complete(str(returned["upload_id"]))
    _until(lambda: len(province.applied) > 0)
    up.kill_tree(signal.SIGKILL)  # mid-delivery: the province is slow
    assert len(province.applied) < expected(first)["distinct_records"]

    again = start_up(data, **ENV)
    platforms.append(again)
    again.wait_ready()
    _until(lambda: len(province.applied) == expected(first)["distinct_records"])
    province.stop()  # the province goes down; records keep arriving
    fate = again.wait_complete(str(publish(data, tmp_path / "second.csv")["upload_id"]))
    time.sleep(3)  # the connector fails against the closed port meanwhile
    assert again.stop() == 0  # and the platform is stopped, its broker with it

    back = Province(port)
    back.applied = dict(province.applied)
    third = start_up(data, **ENV)
    platforms.append(third)
    third.wait_ready()
    want = expected(first)["distinct_records"] + expected(second)["distinct_records"]
    _until(lambda: len(back.applied) == want)
    time.sleep(3)  # nothing more arrives
    status = _credit(data, "targets", "list", "--json")
    assert third.stop() == 0
    back.stop()

    applied = list(back.applied.values())
    keys = [d["record_key"] for d in applied]
    assert len(applied) == want == len(set(keys)) and fate["lost"] == 0
    assert {d["action"] for d in applied} == {"upsert"}
    assert not [d for d in applied if d["报送单位"] == RETURN]
    (target,) = status["targets"]
    assert (target["lag"], target["failing"], target["records_due"], target["records_acked"]) == (
        0, 0, want, want)  # fmt: skip
    raw = len(province.posts) + len(back.posts)
    print(
        f"province push: {want} records applied once; {raw} POSTs, "
        f"{sum(len(p['deliveries']) for p in province.posts + back.posts) - want} repeats dropped"
    )
