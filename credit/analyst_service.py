"""The embedded platform's side of analyst SQL: the `credit analyst` child process and the
thread that keeps its tables current (`sinks.read.analyst_export`)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from base.broker import free_port
from base.orphans import die_with_parent, stop_child
from base.settings import Settings
from schemas.catalog import Catalog
from sinks.read.analyst_export import AnalystExporter, pseudonym_key
from sinks.store import Store

log = logging.getLogger("credit.analyst")


# The export copies whole tables under the store's lock, and the sink waits meanwhile: at
# 400,000 stored records one export took 1.3 s, at 10 million ~30 s (`credit bench --scale`).
# Exports are spaced so that they hold the store at most this share of the time; the
# analysts' copy is then older (up to 10x the last export's length) rather than the sink slower.
MAX_EXPORT_SHARE = 0.1


def keep_exporting(export: Callable[[], object], every: float, stop: threading.Event) -> None:
    """Call `export` every `every` seconds until `stop`, or less often when it takes long:
    after an export of T seconds the next waits max(every, T / MAX_EXPORT_SHARE - T)."""
    wait = every
    while not stop.wait(wait):
        started = time.monotonic()
        try:
            export()
        except Exception:  # the store may be refusing reads for a moment: next round
            log.exception("exporting analyst tables failed")
        took = time.monotonic() - started
        wait = max(every, took / MAX_EXPORT_SHARE - took)


class AnalystService:
    """Starts, restarts and stops the analysts' engine process and feeds it."""

    def __init__(self, settings: Settings, store: Store, catalog: Catalog) -> None:
        self.settings = settings
        base = settings.analyst_dir
        key = pseudonym_key(base / "pseudonym.key")
        self.exporter = AnalystExporter(store, catalog, base / "exchange", key)
        self.port = settings.analyst_port or free_port("127.0.0.1")
        self.url = f"http://127.0.0.1:{self.port}"
        self.restarts = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> AnalystService:
        self.exporter.export_changed()  # the engine starts with every table to load
        self._spawn()
        self._thread = threading.Thread(target=self._refresh, name="analyst-export", daemon=True)
        self._thread.start()
        return self

    def _spawn(self) -> None:
        env = {**os.environ, "CREDIT_DATA_DIR": str(self.settings.data_dir),
               "CREDIT_ANALYST_PORT": str(self.port)}  # fmt: skip
        log_path = Path(self.settings.data_dir) / "logs" / "analyst.log"
        with log_path.open("ab") as out:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "credit.cli", "analyst"], env=env, stdout=out,
                stderr=subprocess.STDOUT, preexec_fn=die_with_parent(),
            )  # fmt: skip

    def _refresh(self) -> None:
        keep_exporting(self.exporter.export_changed, self.settings.analyst_refresh_seconds,
                       self._stop)  # fmt: skip

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def supervise(self) -> None:
        """Called every second: an engine process that died is started again."""
        if self._proc is not None and not self.alive() and not self._stop.is_set():
            self.restarts += 1
            log.error("the analyst SQL engine exited (%s); restarting", self._proc.returncode)
            self._spawn()

    def stop(self) -> None:
        self._stop.set()
        if self._proc is not None:
            stop_child(self._proc, 10)
        if self._thread is not None:
            self._thread.join(timeout=10)
