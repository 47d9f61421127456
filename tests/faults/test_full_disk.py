"""A full disk under the store: nothing is stored, nothing is lost, and nobody is told
"ready" or "complete" until space returns (issue 17). The store's folder is a small tmpfs
mounted for the test (CI runs as root), filled to the last byte by a file."""

from __future__ import annotations

import datetime as dt
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

from credit.synthetic import reported_month, synthetic_month
from tests.faults.faultkit import FAST_ENV, Up, expected, provider_file, publish, start_up

pytestmark = pytest.mark.integration


def _mounted(folder: Path, size: str) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small disk needs root (CI runs as root)")
    folder.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                   check=True)  # fmt: skip
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """The store's folder on a 300 MB disk of its own."""
    yield from _mounted(tmp_path / "dir" / "chdb", "300m")


@pytest.fixture()
def small_intake(tmp_path: Path) -> Iterator[Path]:
    """The durable intake's folder on a 20 MB disk of its own."""
    yield from _mounted(tmp_path / "dir" / "intake", "20m")


def _fill(disk: Path) -> Path:
    filler = disk / "filler"
    with filler.open("wb") as out:
        try:
            while True:
                out.write(b"\0" * (1 << 20))
                out.flush()
        except OSError:
            pass
    return filler


def test_a_full_disk_is_reported_degraded_and_nothing_is_lost(
    small_disk: Path, tmp_path: Path, platforms: list[Up]
) -> None:
    up = start_up(small_disk.parent)
    platforms.append(up)
    up.wait_ready()
    filler = _fill(small_disk)
    rows = provider_file(tmp_path / "bills.csv", companies=500, seed=41)
    answer = publish(small_disk.parent, tmp_path / "bills.csv")
    assert answer["delivered"]  # accepted and in the broker: the store is what refuses
    deadline = time.monotonic() + 60
    health: dict[str, Any] = {}
    while time.monotonic() < deadline:
        resp = httpx.get(f"{up.api_url}/health", timeout=5)
        health = resp.json()
        if resp.status_code == 503 and any("store refuses" in d for d in health["degraded"]):
            break
        time.sleep(0.5)
    assert any("store refuses writes" in d for d in health["degraded"]), health
    fate = up.fate(answer["upload_id"])
    assert fate["pending"] > 0 and not fate["complete"], fate
    filler.unlink()  # space returns
    started = time.monotonic()
    fate = up.wait_complete(answer["upload_id"], timeout=120)
    want = expected(rows)
    assert (fate["received"], fate["stored"], fate["rejected"]) == (
        want["received"], want["stored"], want["rejected"])  # fmt: skip
    assert up.wait_ready() < 60
    print(f"full disk: sent {want['received']}, stored {fate['stored']}, rejected "
          f"{fate['rejected']}, lost 0, recovery {time.monotonic() - started:.1f}s after space returned")  # fmt: skip


def test_a_full_intake_disk_refuses_uploads_with_503_and_accepts_again_later(
    small_intake: Path, platforms: list[Up]
) -> None:
    data = small_intake.parent
    up = start_up(data)
    platforms.append(up)
    up.wait_ready()
    done = subprocess.run(
        [sys.executable, "-m", "credit.cli", "keys", "满盘水务", "--department", "供水公司",
         "--json", "--data-dir", str(data)],
        capture_output=True, text=True, timeout=60, env={**os.environ, **FAST_ENV},
    )  # fmt: skip
    key = json.loads(done.stdout)["key"]
    rows = [r.values for r in synthetic_month(reported_month(dt.date.today()), 3, 0, 5)
            if r.class_code == "legal_utility_payment" and not r.spoiled]  # fmt: skip

    def post() -> httpx.Response:
        return httpx.post(f"{up.api_url}/api/records/legal_utility_payment", json=rows,
                          headers={"Authorization": f"Bearer {key}"}, timeout=60)  # fmt: skip

    filler = _fill(small_intake)
    refused = post()
    assert refused.status_code == 503, refused.text[:300]
    assert refused.json()["error"] == "intake.unavailable"
    assert "not accepted" in refused.json()["message"]
    filler.unlink()
    accepted = post()
    assert accepted.status_code == 200, accepted.text[:300]
    fate = up.wait_complete(accepted.json()["upload_id"])
    assert (fate["received"], fate["stored"]) == (len(rows), len(rows))
