"""Integration fixtures: a real platform started the way a user starts it (`credit up`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest

from base.orphans import die_with_parent

Fate = dict[str, Any]


class WaitFate(Protocol):
    """`wait_fate(upload_id, timeout=90)`: the upload's fate once every row is decided."""

    def __call__(self, upload_id: str, timeout: float = 90) -> Fate: ...


def run_credit(*args: str, data_dir: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The `credit` command in a subprocess, against the platform in `data_dir`."""
    return subprocess.run(
        [sys.executable, "-m", "credit.cli", *args, "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """`credit up` in its own data dir, one per test module; yields runtime.json + data_dir."""
    data_dir = tmp_path_factory.mktemp("platform")
    log = (data_dir / "up.out").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "credit.cli", "up", "--data-dir", str(data_dir)],
        stdout=log, stderr=subprocess.STDOUT,
        # development mode: these tests exercise ingestion and queries, test_governance the roles
        env={**os.environ, "CREDIT_TOPIC_PARTITIONS": "2", "CREDIT_API_OPEN": "true"},
        preexec_fn=die_with_parent(signal.SIGTERM),  # an interrupted run leaves no platform
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


@pytest.fixture()
def wait_fate(platform: dict[str, Any]) -> WaitFate:
    """Waits until every row of an upload is stored or rejected; returns `/api/uploads/{id}`."""

    def wait(upload_id: str, timeout: float = 90) -> Fate:
        deadline = time.monotonic() + timeout
        fate: Fate = {}
        while time.monotonic() < deadline:
            resp = httpx.get(f"{platform['api_url']}/api/uploads/{upload_id}")
            if resp.status_code == 200:
                fate = resp.json()
                if fate["complete"]:
                    return fate
            time.sleep(0.3)
        pytest.fail(f"upload {upload_id} not accounted in {timeout}s: {fate}")

    return wait


@pytest.fixture(scope="session")
def credit_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """`run_credit` as a fixture, so test modules need not import from conftest."""
    return run_credit
