"""Restarts at the worst moment lose nothing: every received row ends stored or rejected,
exactly once, and a used data dir starts again without a crash loop (issue 17)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from faultkit import Up, expected, provider_file, publish, start_up, store_counts

pytestmark = pytest.mark.integration
TABLE = "cls_legal_utility_payment"


def _kill(up: Up, how: str) -> None:
    """Stop the platform the way `how` names, right after an upload was accepted."""
    if how == "sigint":
        assert up.stop(signal.SIGINT) == 0, up.log()[-2000:]
    elif how == "kill-tree":
        up.kill_tree(signal.SIGKILL)
    elif how == "kill-platform":  # the parent alone: its children must not outlive it
        os.kill(up.proc.pid, signal.SIGKILL)
        up.proc.wait(timeout=30)
    else:
        raise AssertionError(how)


def _worker_pid(up: Up) -> int:
    return int(json.loads((up.data_dir / "runtime.json").read_text())["worker_pid"])


def test_kill_9_of_the_whole_tree_mid_upload_loses_nothing(
    tmp_path: Path, platforms: list[Up]
) -> None:
    data = tmp_path / "dir"
    data.mkdir()
    rows = provider_file(tmp_path / "bills.csv", companies=5000)
    up = start_up(data)
    platforms.append(up)
    up.wait_ready()
    answer = publish(data, tmp_path / "bills.csv")
    assert up.fate(answer["upload_id"])["pending"] > 0  # the stream is in the middle of it
    _kill(up, "kill-tree")
    again = start_up(data)
    platforms.append(again)
    recovery_s = again.wait_ready()
    fate = again.wait_complete(answer["upload_id"], timeout=180)
    want = expected(rows)
    assert (fate["received"], fate["stored"], fate["rejected"], fate["lost"]) == (
        want["received"], want["stored"], want["rejected"], 0)  # fmt: skip
    assert again.stop() == 0
    counts = store_counts(data, [TABLE])[TABLE]
    assert counts == {"count": want["distinct_records"], "final": want["distinct_records"],
                      "uniq": want["distinct_records"]}  # fmt: skip
    print(f"kill -9 tree: sent {want['received']}, stored {fate['stored']}, rejected "
          f"{fate['rejected']}, lost 0, duplicated {counts['count'] - counts['final']}, "
          f"recovery {recovery_s:.1f}s")  # fmt: skip
