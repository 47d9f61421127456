"""A worker stopped mid-upload while the platform runs on — SIGTERM (a rolling restart) or
SIGKILL with a second worker sharing the stream — loses nothing: every row is decided once.

With two workers on Tansu, 1 run in 3 left 6,600 of 24,000 rows pending for good: a killed
member's partition had no committed offset and its new owner never fetched it (the cause is
not known). The intake now sends a stalled upload again (`CREDIT_INTAKE_STALL_SECONDS`),
which completes it. Small chunks make a stop between two chunks of a batch likely, which
Faust would acknowledge whole (`streams.faust.worker.handle_whole_batch`)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.faults.faultkit import Up, expected, provider_file, publish, start_up, store_counts

pytestmark = pytest.mark.integration
TABLE = "cls_legal_utility_payment"


def _worker_pids(up: Up) -> list[int]:
    return [int(p) for p in json.loads((up.data_dir / "runtime.json").read_text())["worker_pids"]]


@pytest.mark.parametrize(("workers", "sig"), [(1, signal.SIGTERM), (2, signal.SIGKILL)],
                         ids=["one-worker-sigterm", "two-workers-one-killed"])  # fmt: skip
def test_a_worker_stopped_mid_upload_loses_nothing(
    tmp_path: Path, platforms: list[Up], workers: int, sig: int
) -> None:
    data = tmp_path / "dir"
    rows = provider_file(tmp_path / "bills.csv", companies=4000)
    up = start_up(
        data,
        CREDIT_WORKERS=str(workers),
        CREDIT_TOPIC_PARTITIONS=str(workers),
        CREDIT_WORKER_CHUNK_RECORDS="500",  # a stop between two chunks is likely
        CREDIT_INTAKE_STALL_SECONDS="15",
    )
    platforms.append(up)
    up.wait_ready()
    pids = _worker_pids(up)
    assert len(pids) == workers
    answer = publish(data, tmp_path / "bills.csv")
    assert up.fate(answer["upload_id"])["pending"] > 0
    os.kill(pids[-1], sig)
    started = time.monotonic()
    fate = up.wait_complete(answer["upload_id"], timeout=240)
    took = time.monotonic() - started
    want = expected(rows)
    assert (fate["received"], fate["stored"], fate["rejected"], fate["lost"]) == (
        want["received"], want["stored"], want["rejected"], 0)  # fmt: skip
    assert up.stop() == 0
    counts = store_counts(data, [TABLE])[TABLE]
    assert counts == {"count": want["distinct_records"], "final": want["distinct_records"],
                      "uniq": want["distinct_records"]}  # fmt: skip
    resent = up.log().count("sending it again from the intake")
    print(f"{workers} worker(s), {signal.Signals(sig).name}: complete {took:.1f} s after it "
          f"({resent} stalled uploads sent again)")  # fmt: skip
