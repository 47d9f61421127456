"""Pushes watchlist alerts to the institutions (seed 004 #8: 及时推送接入机构).

A thread of `credit up`: every `every` seconds it scans for the watched subjects' records
stored since its watermark (`sinks.read.watchlists.scan`, one alert per record version) and
POSTs each undelivered alert to its watch's webhook, with the alert id as `Idempotency-Key`:
the id is the same however often an alert is sent, so a repeat after a timeout or a restart
is one the institution can drop. A refused or unreachable endpoint is tried again with a
growing pause (2 s doubling to 5 minutes) up to `max_attempts`; the alert keeps its attempts
and last error. The watermark lives in `<data_dir>/watch-watermark` and every scan looks back
`OVERLAP` before it, because a row's `stored_at` is set before its insert is visible; the ids
make the overlap harmless.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from base.metrics import Metrics
from schemas.catalog import Catalog
from sinks.read import watchlists
from sinks.store import Store

log = logging.getLogger("credit.watch")
OVERLAP = dt.timedelta(seconds=60)
MAX_PAUSE = 300.0


def alert_body(alert: dict[str, Any], catalog: Catalog) -> dict[str, Any]:
    """What the institution receives: the alert, never the record's contents."""
    cls = catalog.classes.get(str(alert["class_code"]))
    return {
        "alert_id": alert["alert_id"], "watch_id": alert["watch_id"],
        "institution": alert["institution"], "subject": alert["subject_id"],
        "kind": alert["kind"], "class_code": alert["class_code"],
        "class_name": cls.name if cls else "", "record_key": alert["record_key"],
        "event_date": str(alert["event_date"]), "detected_at": str(alert["detected_at"]),
    }  # fmt: skip


class WatchNotifier:
    """Scan and deliver, on a thread (`start`/`stop`) or one step at a time (`run_once`)."""

    def __init__(self, store: Store, catalog: Catalog, data_dir: Path, metrics: Metrics,
                 every: float = 2.0, max_attempts: int = 40) -> None:  # fmt: skip
        self.store, self.catalog, self.metrics = store, catalog, metrics
        self.every, self.max_attempts = every, max_attempts
        self.state = data_dir / "watch-watermark"
        self._next_try: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._http = httpx.Client(timeout=5.0)

    def _watermark(self) -> dt.datetime:
        try:
            return dt.datetime.fromisoformat(self.state.read_text().strip())
        except (OSError, ValueError):  # first start: watch from now on
            return dt.datetime.now(dt.UTC)

    def _save_watermark(self, at: dt.datetime) -> None:
        tmp = self.state.with_suffix(".tmp")
        tmp.write_text(at.isoformat())
        tmp.replace(self.state)

    def run_once(self) -> tuple[int, int]:
        """One scan and one delivery round: (alerts made, alerts delivered)."""
        started = dt.datetime.now(dt.UTC)
        since = (self._watermark() - OVERLAP).replace(tzinfo=None)
        made = watchlists.scan(self.store, self.catalog, since, dt.date.today())
        self._save_watermark(started)
        self.metrics.alerts.labels("detected").inc(len(made))
        delivered = sum(self._deliver(a) for a in watchlists.undelivered(self.store,
                                                                          self.max_attempts))  # fmt: skip
        return len(made), delivered

    def _deliver(self, alert: dict[str, Any]) -> bool:
        aid = str(alert["alert_id"])
        if self._next_try.get(aid, 0.0) > time.monotonic():
            return False
        try:
            resp = self._http.post(str(alert["webhook"]), json=alert_body(alert, self.catalog),
                                   headers={"Idempotency-Key": aid})  # fmt: skip
            error = "" if resp.status_code < 300 else f"HTTP {resp.status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        attempts = int(alert["attempts"]) + 1
        if error:
            self.metrics.alerts.labels("failed").inc()
            self._next_try[aid] = time.monotonic() + min(2.0**attempts, MAX_PAUSE)
            log.warning("alert %s to %s not delivered (attempt %d): %s", aid,
                        alert["institution"], attempts, error)  # fmt: skip
        else:
            self.metrics.alerts.labels("delivered").inc()
            self._next_try.pop(aid, None)
        done = dt.datetime.now(dt.UTC) if not error else None
        watchlists.save_alert(self.store, {**alert, "attempts": attempts, "last_error": error,
                                           "delivered_at": done})  # fmt: skip
        return not error

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.run_once()
            except Exception:  # a store hiccup costs one round, not the thread
                log.exception("watchlist round failed; trying again in %.0f s", self.every)

    def start(self) -> WatchNotifier:
        self._thread = threading.Thread(target=self._loop, name="watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._http.close()
