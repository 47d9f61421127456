"""One Faust worker child of `credit up`: started, watched and stopped by the platform.

`credit up` runs `Settings.worker_count` of them in one consumer group; Kafka gives each a
share of the class topics' partitions and moves a dead one's share to the others. Each has
its own log, readiness file and (through `streams.faust.state_store.claim_datadir`) its own
RocksDB slot. The worker keeps no state partitioned by subject (the figures are computed by
the sink), so a partition can move between workers without anything following it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from base.orphans import die_with_parent, stop_child
from base.settings import worker_file

# A ready file older than this says the worker froze (it rewrites it every second).
WORKER_READY_STALE_SECONDS = 60.0


class WorkerProcess:
    """The child process of worker `index`, with what tells whether it is alive and ready."""

    def __init__(self, index: int, data_dir: Path, env: dict[str, str]) -> None:
        self.index = index
        self.data_dir = data_dir
        self.env = {**env, "CREDIT_WORKER_INDEX": str(index)}
        self.process: subprocess.Popen[bytes] | None = None
        self.unready_since = 0.0

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def log_path(self) -> Path:
        return worker_file(self.data_dir / "logs", "worker", ".log", self.index)

    @property
    def ready_file(self) -> Path:
        return worker_file(self.data_dir, "worker-ready", ".json", self.index)

    def spawn(self) -> None:
        cmd = [sys.executable, "-m", "credit.cli", "worker"]
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(cmd, env=self.env, stdout=out,
                                            stderr=subprocess.STDOUT,
                                            preexec_fn=die_with_parent())  # fmt: skip
        self.unready_since = time.monotonic()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def recovered(self) -> bool:
        """The child says it holds its assignment and has read its tables, and said so lately
        (it rewrites the file every second: a stale file is a frozen worker)."""
        if self.process is None:
            return False
        try:
            state = json.loads(self.ready_file.read_text())
            age = time.time() - self.ready_file.stat().st_mtime
        except (OSError, json.JSONDecodeError):
            return False
        fresh = age < WORKER_READY_STALE_SECONDS
        return bool(fresh and state.get("pid") == self.process.pid and state.get("ready"))

    def failed(self) -> str | None:
        """The child's exit, with the tail of its log, if it has died."""
        if self.process is None or self.process.poll() is None:
            return None
        tail = self.log_path.read_text(errors="replace")[-3000:]
        return f"worker {self.index} exited with {self.process.returncode}:\n{tail}"

    def stuck(self, timeout: float) -> str | None:
        """Why a live child is restarted: not ready for `timeout` seconds on end (hung in
        its group join or table recovery, or frozen). It is killed here."""
        if not self.alive():
            return None
        if self.recovered():
            self.unready_since = time.monotonic()
            return None
        waited = time.monotonic() - self.unready_since
        if waited < timeout:
            return None
        self.stop(kill=True)
        return f"worker {self.index} not ready for {waited:.0f}s: killed and started again"

    def stop(self, kill: bool = False) -> None:
        """SIGTERM (Faust finishes its batch and commits) or, when its broker is gone, SIGKILL."""
        if self.process is not None:
            stop_child(self.process, 20, kill)
            self.process = None
