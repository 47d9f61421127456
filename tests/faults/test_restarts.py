"""Restarts at the worst moment lose nothing: every received row ends stored or rejected,
exactly once, and a used data dir starts again without a crash loop (issue 17)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.faults.faultkit import Up, expected, provider_file, publish, start_up, store_counts

pytestmark = pytest.mark.integration
TABLE = "cls_legal_utility_payment"
RECOVERY_BOUND_S = 60  # start to ready, every undecided upload sent again and decided


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
    assert recovery_s < RECOVERY_BOUND_S
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


def _processes_with(text: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if text.encode() in cmd:
                found.append(int(pid))
    return found


def _no_orphans(runtime: dict[str, object], timeout: float = 10) -> None:
    """The killed platform's broker and worker are gone (they die with their parent)."""
    port = str(runtime["bootstrap"]).rsplit(":", 1)[1]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = _processes_with(f"127.0.0.1:{port} ")
        worker_alive = Path(f"/proc/{runtime['worker_pid']}").exists()
        if not left and not worker_alive:
            return
        time.sleep(0.2)
    raise AssertionError(f"orphans left: broker {left}, worker alive {worker_alive}")


MODES = ("sigint", "kill-worker", "kill-platform", "kill-tree", "sigterm")


def test_five_restarts_in_a_row_each_mid_upload_store_every_row_once(
    tmp_path: Path, platforms: list[Up]
) -> None:
    data = tmp_path / "dir"
    data.mkdir()
    uploads: dict[str, dict[str, int]] = {}
    distinct = 0
    up = start_up(data)
    platforms.append(up)
    up.wait_ready()
    for i, how in enumerate(MODES):
        rows = provider_file(tmp_path / f"bills{i}.csv", companies=500, seed=100 + i)
        answer = publish(data, tmp_path / f"bills{i}.csv")
        uploads[answer["upload_id"]] = expected(rows)
        distinct += expected(rows)["distinct_records"]
        runtime = json.loads((data / "runtime.json").read_text())
        if how == "kill-worker":  # the platform starts a new worker; no crash loop
            os.kill(_worker_pid(up), signal.SIGKILL)
        else:
            if how == "sigterm":
                assert up.stop(signal.SIGTERM) == 0
            else:
                _kill(up, how)
            _no_orphans(runtime)
            up = start_up(data)
            platforms.append(up)
            recovery_s = up.wait_ready()
            assert recovery_s < RECOVERY_BOUND_S, how
            print(f"{how}: recovery {recovery_s:.1f}s")
        for upload_id, want in uploads.items():  # this one and every earlier one
            fate = up.wait_complete(upload_id, timeout=120)
            got = {k: fate[k] for k in ("received", "stored", "rejected")}
            assert got == {k: want[k] for k in got} and fate["lost"] == 0, (how, fate)
    health = httpx.get(f"{up.api_url}/health", timeout=5).json()
    assert health["worker"]["restarts"] <= 1, health  # the one kill, no loop
    assert up.stop() == 0
    counts = store_counts(data, [TABLE])[TABLE]
    assert counts == {"count": distinct, "final": distinct, "uniq": distinct}


def test_a_broker_that_dies_mid_upload_is_replaced_and_nothing_is_lost(
    tmp_path: Path, platforms: list[Up]
) -> None:
    data = tmp_path / "dir"
    data.mkdir()
    up = start_up(data)
    platforms.append(up)
    up.wait_ready()
    rows = provider_file(tmp_path / "a.csv", companies=2500, seed=31)
    first = publish(data, tmp_path / "a.csv")
    bootstrap = json.loads((data / "runtime.json").read_text())["bootstrap"]
    [tansu] = _processes_with(f"tcp://{bootstrap} ")
    os.kill(tansu, signal.SIGKILL)  # the memory broker forgets every topic
    started = time.monotonic()
    fate = up.wait_complete(first["upload_id"], timeout=180)
    recovery_s = time.monotonic() - started
    want = expected(rows)
    assert (fate["received"], fate["stored"], fate["rejected"], fate["lost"]) == (
        want["received"], want["stored"], want["rejected"], 0)  # fmt: skip
    assert recovery_s < RECOVERY_BOUND_S
    assert json.loads((data / "runtime.json").read_text())["bootstrap"] == bootstrap
    more = provider_file(tmp_path / "b.csv", companies=300, seed=32)  # and it goes on
    second = publish(data, tmp_path / "b.csv")
    assert up.wait_complete(second["upload_id"])["stored"] == expected(more)["stored"]
    up.wait_ready()
    assert up.stop() == 0
    distinct = want["distinct_records"] + expected(more)["distinct_records"]
    counts = store_counts(data, [TABLE])[TABLE]
    assert counts == {"count": distinct, "final": distinct, "uniq": distinct}
    print(f"broker killed: sent {want['received']}, stored {fate['stored']}, rejected "
          f"{fate['rejected']}, lost 0, duplicated 0, recovery {recovery_s:.1f}s")  # fmt: skip


def test_rows_whose_copy_is_gone_are_reported_lost_never_complete(
    tmp_path: Path, platforms: list[Up]
) -> None:
    """The broker lost an upload and the intake's copy is gone too (a damaged disk, a
    retention set too short): the upload says `lost: N`, /health says so, a metric counts it."""
    data = tmp_path / "dir"
    data.mkdir()
    provider_file(tmp_path / "bills.csv", companies=2500, seed=51)
    up = start_up(data)
    platforms.append(up)
    up.wait_ready()
    answer = publish(data, tmp_path / "bills.csv")
    _kill(up, "kill-tree")
    (data / "intake" / answer["upload_id"] / "messages.bin").unlink()
    again = start_up(data)
    platforms.append(again)
    deadline = time.monotonic() + 60
    fate: dict[str, int] = {}
    while time.monotonic() < deadline:
        if (data / "runtime.json").exists():
            again.api_url = json.loads((data / "runtime.json").read_text())["api_url"]
        try:
            fate = again.fate(answer["upload_id"]) if again.api_url else {}
        except httpx.HTTPError:
            fate = {}
        if fate.get("lost"):
            break
        time.sleep(0.5)
    assert fate.get("lost", 0) > 0 and not fate["complete"], (fate, again.log()[-2000:])
    assert fate["lost"] == fate["received"] - fate["stored"] - fate["rejected"]
    health = httpx.get(f"{again.api_url}/health", timeout=5)
    assert health.status_code == 503 and any("lost" in d for d in health.json()["degraded"])
    metrics = httpx.get(f"{again.api_url}/metrics", timeout=10).text
    assert (
        f'credit_rows_lost_total{{class_code="legal_utility_payment"}} {float(fate["lost"])}'
        in metrics
    )


def test_a_worker_that_never_becomes_ready_is_killed_and_started_again(
    tmp_path: Path, platforms: list[Up]
) -> None:
    """A worker frozen before it is ready (here: SIGSTOP while it joins its group) used to
    leave the platform degraded for good. After CREDIT_WORKER_RECOVERY_TIMEOUT_SECONDS the
    platform kills it and starts another, and the upload in flight is stored in full."""
    data = tmp_path / "dir"
    data.mkdir()
    up = start_up(data, CREDIT_WORKER_RECOVERY_TIMEOUT_SECONDS="8")
    platforms.append(up)
    up.wait_ready()
    rows = provider_file(tmp_path / "bills.csv", companies=200, seed=7)
    answer = publish(data, tmp_path / "bills.csv")
    first = _worker_pid(up)
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while (second := _worker_pid(up)) == first:
        assert time.monotonic() < deadline, "no new worker"
        time.sleep(0.05)
    os.kill(second, signal.SIGSTOP)  # frozen while it starts: it never says ready
    health = httpx.get(f"{up.api_url}/health", timeout=5)
    assert health.status_code == 503
    up.wait_ready(timeout=60)
    assert _worker_pid(up) not in (first, second)
    want = expected(rows)
    fate = up.wait_complete(answer["upload_id"], timeout=120)
    assert {k: fate[k] for k in ("received", "stored", "rejected")} == {
        k: want[k] for k in ("received", "stored", "rejected")
    }
    assert "not ready for" in up.log()
    assert httpx.get(f"{up.api_url}/health", timeout=5).json()["worker"]["restarts"] == 2


def test_a_broker_whose_port_was_taken_comes_back_on_another(
    tmp_path: Path, platforms: list[Up]
) -> None:
    """Tansu dies and another program takes its port before the platform restarts it: the
    broker comes back on a new port, runtime.json says so, and the upload is stored in full."""
    import socket

    data = tmp_path / "dir"
    data.mkdir()
    up = start_up(data)
    platforms.append(up)
    up.wait_ready()
    rows = provider_file(tmp_path / "a.csv", companies=300, seed=41)
    first = publish(data, tmp_path / "a.csv")
    bootstrap = json.loads((data / "runtime.json").read_text())["bootstrap"]
    host, port = bootstrap.rsplit(":", 1)
    [tansu] = _processes_with(f"tcp://{bootstrap} ")
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        os.kill(tansu, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while True:
            try:
                squatter.bind((host, int(port)))
                break
            except OSError:
                assert time.monotonic() < deadline, "the port never came free"
                time.sleep(0.01)
        squatter.listen()
        fate = up.wait_complete(first["upload_id"], timeout=180)
        # the upload may be complete before the platform sees its broker gone: wait for the
        # new broker as a user would, by reading what the platform says
        deadline = time.monotonic() + 60
        moved = bootstrap
        while moved == bootstrap and time.monotonic() < deadline:
            time.sleep(0.2)
            moved = json.loads((data / "runtime.json").read_text())["bootstrap"]
    want = expected(rows)
    assert (fate["received"], fate["stored"], fate["rejected"], fate["lost"]) == (
        want["received"], want["stored"], want["rejected"], 0)  # fmt: skip
    assert moved != bootstrap
    assert "port" in up.log() and "is taken" in up.log()
    more = provider_file(tmp_path / "b.csv", companies=100, seed=42)  # the CLI finds it
    second = publish(data, tmp_path / "b.csv")
    assert up.wait_complete(second["upload_id"])["stored"] == expected(more)["stored"]
    assert up.stop() == 0
