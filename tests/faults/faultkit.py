"""The fault suite's tools: a real `credit up` in its own process group that a test can kill
however it likes, provider files from the synthetic month, and the store read afterwards.

The store is read in a child process once the platform is down (chDB: one process owns a
path, and this test process may own the session's store already).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from base.orphans import die_with_parent
from credit.synthetic import Row, reported_month, synthetic_month

FAST_ENV = {"CREDIT_API_OPEN": "true", "CREDIT_INTAKE_CHECK_SECONDS": "0.5"}
COUNTS_SCRIPT = """
import json, sys
from pathlib import Path
from sinks.store import open_embedded
store = open_embedded(Path(sys.argv[1]) / "chdb", "credit")
out = {}
for table in sys.argv[2].split(","):
    r = store.query(f"SELECT count() AS n, uniqExact(record_key) AS u FROM credit.{table}")[0]
    f = store.query(f"SELECT count() AS n FROM credit.{table} FINAL")[0]
    out[table] = {"count": int(r["n"]), "final": int(f["n"]), "uniq": int(r["u"])}
print(json.dumps(out))
"""


@dataclass
class Up:
    """One `credit up` process group on a data dir."""

    data_dir: Path
    proc: subprocess.Popen[bytes]
    api_url: str = ""

    def wait_ready(self, timeout: float = 120) -> float:
        """Seconds until /health says ready (raises if the platform exits or never is)."""
        started = time.monotonic()
        runtime = self.data_dir / "runtime.json"
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                raise AssertionError(f"credit up exited {self.proc.returncode}: {self.log()}")
            if runtime.exists():
                try:
                    self.api_url = json.loads(runtime.read_text())["api_url"]
                    if httpx.get(f"{self.api_url}/health", timeout=2).status_code == 200:
                        return time.monotonic() - started
                except (httpx.HTTPError, json.JSONDecodeError, KeyError):
                    pass
            time.sleep(0.2)
        raise AssertionError(f"not ready in {timeout}s: {self.log()[-3000:]}")

    def log(self) -> str:
        return (self.data_dir / "up.out").read_text(errors="replace")

    def fate(self, upload_id: str) -> dict[str, Any]:
        return dict(httpx.get(f"{self.api_url}/api/uploads/{upload_id}", timeout=10).json())

    def wait_complete(self, upload_id: str, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        fate: dict[str, Any] = {}
        while time.monotonic() < deadline:
            fate = self.fate(upload_id)
            if fate.get("complete"):
                return fate
            time.sleep(0.3)
        raise AssertionError(f"upload {upload_id} not complete in {timeout}s: {fate}")

    def kill_tree(self, sig: int = signal.SIGKILL) -> None:
        with _suppress_missing():
            os.killpg(self.proc.pid, sig)
        self.proc.wait(timeout=60)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 60) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)


class _suppress_missing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, *_: Any) -> bool:
        return kind is ProcessLookupError


def start_up(data_dir: Path, **env: str) -> Up:
    data_dir.mkdir(parents=True, exist_ok=True)
    log = (data_dir / "up.out").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "credit.cli", "up", "--data-dir", str(data_dir)],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, **FAST_ENV, **env},
        preexec_fn=die_with_parent(signal.SIGTERM),  # an interrupted run leaves no platform
    )  # fmt: skip
    return Up(data_dir, proc)


def provider_file(path: Path, companies: int, seed: int = 11) -> list[Row]:
    """The legal utility bills of a synthetic month as one provider's CSV (Chinese headers)."""
    rows = [r for r in synthetic_month(reported_month(_today()), companies, 0, seed)
            if r.class_code == "legal_utility_payment"]  # fmt: skip
    header = list(dict.fromkeys(k for r in rows for k in r.values))
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        for r in rows:
            writer.writerow([r.values.get(h, "") for h in header])
    return rows


def _today() -> dt.date:
    return dt.date.today()


def publish(data_dir: Path, path: Path, timeout: float = 300) -> dict[str, Any]:
    """`credit publish` as a provider runs it; returns its JSON answer."""
    done = subprocess.run(
        [sys.executable, "-m", "credit.cli", "publish", str(path), "--class",
         "legal_utility_payment", "--provider", "江阴市水务集团有限公司", "--department", "供水公司", "--json",
         "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=timeout, env={**os.environ, **FAST_ENV},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout))


def store_counts(data_dir: Path, tables: list[str]) -> dict[str, dict[str, int]]:
    """count(), count() FINAL and uniqExact(record_key) per table (platform must be down)."""
    done = subprocess.run([sys.executable, "-c", COUNTS_SCRIPT, str(data_dir), ",".join(tables)],
                          capture_output=True, text=True, timeout=180)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def expected(rows: list[Row]) -> dict[str, int]:
    """What the platform must end with for these rows (planted bad rows rejected)."""
    good = [r for r in rows if not r.spoiled]
    keys = {json.dumps(r.values, sort_keys=True) for r in good}
    return {"received": len(rows), "stored": len(good), "rejected": len(rows) - len(good),
            "distinct_records": len(keys)}  # fmt: skip
