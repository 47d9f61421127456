"""A full disk under the store: nothing is stored, nothing is lost, and nobody is told
"ready" or "complete" until space returns (issue 17). The store's folder is a small tmpfs
mounted for the test (CI runs as root), filled to the last byte by a file."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from faultkit import Up, expected, provider_file, publish, start_up

pytestmark = pytest.mark.integration


@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small disk needs root (CI runs as root)")
    store = tmp_path / "dir" / "chdb"
    store.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300m", "tmpfs", str(store)], check=True)
    try:
        yield store
    finally:
        subprocess.run(["umount", "-l", str(store)], check=False)


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
    health: dict[str, object] = {}
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
