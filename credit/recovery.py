"""Nothing accepted is lost: the broker's epoch, and the intake kept in step with the store.

The broker epoch. The platform marks the broker it works with by a topic of its own,
`credit.epoch.<id>`, and remembers `<id>` in the data dir. A broker without that topic has
lost what it held (the embedded Tansu after any restart; a real cluster rebuilt): then the
sink forgets its offset intents, the worker's tables are re-seeded into their changelogs
(`streams.faust.reseed`), and every upload the intake holds undecided is sent again.

The intake keeper, every `intake_check_seconds` (`IntakeKeeper.check`, in order):
  1. count the decided rows (stored or rejected, `outcomes FINAL`) of every undecided
     upload; an upload whose rows are all decided is marked decided in the intake;
  2. an upload accepted but never acknowledged by the broker (its publisher died or the
     broker was down) is sent from the intake; so is one whose decided rows have not grown
     for `stall_s` (then 2x, 4x … that long) while no other upload gained any either (one
     queued behind a big upload is waiting, not stalled): a safety net for rows a stage
     dropped — with two workers on Tansu, a killed member's partition was once left with
     no committed offset and its new owner never read it (issue 20's notes). The sink
     stores each record version once, so what was already decided is dropped again;
  3. an undecided upload whose messages the intake no longer has (pruned, damaged) and
     that the broker lost is counted `lost` — never reported complete;
  4. decided uploads past their retention are pruned.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient

from base.metrics import Metrics
from base.topics import ensure_named_topics
from producers.durable_intake import DurableIntake, IntakeEntry
from producers.exceptions import IntakeError, PublishError
from producers.publisher import Publisher
from sinks.store import Store

log = logging.getLogger("credit.recovery")
EPOCH_PREFIX = "credit.epoch."
EPOCH_FILE = "broker-epoch"
UNPUBLISHED_GRACE_S = 30.0  # a publisher may still be sending an upload it just committed


@dataclass(frozen=True)
class Epoch:
    """The broker's epoch; `lost` when the broker no longer holds what this data dir sent."""

    id: str
    lost: bool


def broker_epoch(admin_conf: dict[str, Any], data_dir: Path, replication: int = 1) -> Epoch:
    """Check (or start) the epoch marker of the broker at `admin_conf`."""
    admin = AdminClient(admin_conf)
    path = data_dir / EPOCH_FILE
    known = path.read_text().strip() if path.exists() else ""
    topics = admin.list_topics(timeout=15).topics
    if known and f"{EPOCH_PREFIX}{known}" in topics:
        return Epoch(known, lost=False)
    new = uuid.uuid4().hex[:12]
    ensure_named_topics(admin_conf, [f"{EPOCH_PREFIX}{new}"], 1, replication)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(new)
    tmp.replace(path)
    # a data dir that sent something before (an epoch, or worker state from before epochs)
    lost = bool(known) or (data_dir / "worker").exists() or (data_dir / "intake").exists()
    if lost:
        log.warning("the broker lost what it held (epoch %s is gone): recovering from the "
                    "data dir", known or "(none recorded)")  # fmt: skip
    return Epoch(new, lost=lost)


def broker_lost(admin_conf: dict[str, Any], epoch: str) -> bool:
    """True when the running broker no longer has this epoch's marker (checked while up)."""
    try:
        topics = AdminClient(admin_conf).list_topics(timeout=5).topics
    except Exception:  # unreachable is not lost; health reports the broker itself
        return False
    return f"{EPOCH_PREFIX}{epoch}" not in topics


@dataclass
class KeeperState:
    """What `credit status` and `/health` show of the intake."""

    recovering: bool = False
    lost_rows: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Progress:
    """An undecided upload's decided rows, since when they are that many, and how long a
    stall may last before the upload is sent again."""

    decided: int
    since: float
    wait: float


def stalled(seen: _Progress, decided: int, now: float, moved_at: float) -> bool:
    """No row of this upload decided for its wait, and none of any other upload either
    (`moved_at`: one queued behind a big upload is waiting, not stalled)."""
    return (decided == seen.decided and now - seen.since >= seen.wait
            and now - moved_at >= seen.wait)  # fmt: skip


class IntakeKeeper:
    """Keeps the intake in step with the store (module docstring, steps 1-4)."""

    def __init__(
        self,
        intake: DurableIntake,
        store: Store,
        publisher: Callable[[], Publisher],
        metrics: Metrics,
        interval_s: float = 2.0,
        retention_s: float = 86400.0,
        source_retention_s: float = 5 * 365 * 86400.0,
        stall_s: float = 60.0,
    ) -> None:
        self.intake = intake
        self.stall_s = stall_s
        self._progress: dict[str, _Progress] = {}  # undecided uploads the broker has
        self._moved_at = time.monotonic()  # when any undecided upload last gained a row
        self.store = store
        self._publisher_factory = publisher
        self._publisher: Publisher | None = None
        self.metrics = metrics
        self.recovering: set[str] = set()  # uploads sent again, until decided
        self.interval_s = interval_s
        self.retention_s = retention_s
        self.source_retention_s = source_retention_s
        self.state = KeeperState()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- recovery ------------------------------------------------------------------------------
    def republish_undecided(self) -> int:
        """After a broker loss: send every undecided upload again; returns how many."""
        with self._lock:
            self.state.recovering = True
            sent = 0
            for entry in self.intake.undecided():
                if self._republish(entry):
                    sent += 1
            return sent

    def _republish(self, entry: IntakeEntry) -> bool:
        if not entry.has_messages:
            return False  # counted in `_count_lost`
        self.recovering.add(entry.upload_id)
        try:
            n = self.publisher().publish_frames(self.intake.frames(entry.upload_id))
        except IntakeError as exc:
            log.error("cannot send upload %s again: %s", entry.upload_id, exc)
            return False
        except PublishError as exc:
            log.warning("upload %s not sent again yet (broker): %s", entry.upload_id, exc)
            return False
        self.intake.mark_published(entry.upload_id)
        self.metrics.intake_republished.inc()
        log.info("upload %s sent again from the intake (%d messages)", entry.upload_id, n)
        return True

    def publisher(self) -> Publisher:
        if self._publisher is None:
            self._publisher = self._publisher_factory()
        return self._publisher

    # -- the periodic check --------------------------------------------------------------------
    def check(self) -> None:
        """Steps 1-4 of the module docstring, once."""
        with self._lock:
            undecided = self.intake.undecided()
            decided = self._decided_counts([e.upload_id for e in undecided])
            still: list[IntakeEntry] = []
            for e in undecided:  # step 1
                got = decided.get(e.upload_id, 0)
                if got >= int(e.ledger.get("received", 0)):
                    self.intake.mark_decided(e.upload_id, {"decided": got})
                    self.recovering.discard(e.upload_id)
                    self.state.lost_rows.pop(e.upload_id, None)
                else:
                    still.append(e)
            sent = [e for e in still if e.has_messages and self.intake.is_published(e.upload_id)]
            self._track(sent, decided, finished=len(still) < len(undecided))
            now_ms = time.time() * 1000
            for e in still:  # step 2
                late = now_ms - e.accepted_ms > UNPUBLISHED_GRACE_S * 1000
                if e.upload_id in self._progress:
                    self._resend_if_stalled(e, decided.get(e.upload_id, 0))
                elif late and e.has_messages:
                    self._republish(e)
            self._count_lost(still, decided)  # step 3
            self.intake.prune(self.retention_s, self.source_retention_s)  # step 4
            self.intake.discard_unaccepted()
            self._gauges(still)
            self.state.recovering = bool(self.recovering)

    def _track(self, sent: list[IntakeEntry], decided: dict[str, int], finished: bool) -> None:
        """Each undecided upload's decided rows and since when, for those the broker has;
        `_moved_at` when any of them gained a row or an upload finished (the pipeline is
        busy, not stuck)."""
        now, moved = time.monotonic(), finished
        progress = {}
        for e in sent:
            got, seen = decided.get(e.upload_id, 0), self._progress.get(e.upload_id)
            if seen is None or got != seen.decided:
                moved = moved or seen is not None
                seen = _Progress(got, now, seen.wait if seen else self.stall_s)
            progress[e.upload_id] = seen
        self._progress = progress
        if moved:
            self._moved_at = now

    def _resend_if_stalled(self, e: IntakeEntry, decided: int) -> None:
        now = time.monotonic()
        seen = self._progress[e.upload_id]
        if not stalled(seen, decided, now, self._moved_at):
            return
        received = int(e.ledger.get("received", 0))
        log.warning("upload %s: %d of %d rows undecided and none decided for %.0f s: sending "
                    "it again from the intake", e.upload_id, received - decided, received,
                    now - seen.since)  # fmt: skip
        if self._republish(e):
            self._progress[e.upload_id] = _Progress(decided, now, seen.wait * 2)

    def _decided_counts(self, upload_ids: list[str]) -> dict[str, int]:
        if not upload_ids:
            return {}
        rows = self.store.query(
            f"SELECT upload_id, count() AS n FROM {self.store.database}.outcomes FINAL "
            "WHERE upload_id IN {u:Array(String)} GROUP BY upload_id",
            {"u": upload_ids},
        )
        return {str(r["upload_id"]): int(r["n"]) for r in rows}

    def _count_lost(self, still: list[IntakeEntry], decided: dict[str, int]) -> None:
        for e in still:
            if e.has_messages or e.upload_id in self.state.lost_rows:
                continue
            lost = int(e.ledger.get("received", 0)) - decided.get(e.upload_id, 0)
            self.state.lost_rows[e.upload_id] = lost
            self.metrics.rows_lost.labels(str(e.ledger.get("class_code", ""))).inc(lost)
            log.error("upload %s: %d rows are neither stored nor rejected and the intake no "
                      "longer holds them: counted lost", e.upload_id, lost)  # fmt: skip

    def _gauges(self, still: list[IntakeEntry]) -> None:
        stats = self.intake.stats()
        self.metrics.intake_bytes.set(stats["bytes_held"])
        self.metrics.intake_undecided.set(len(still))

    def lost_of(self, upload_id: str) -> int:
        return self.state.lost_rows.get(upload_id, 0)

    # -- thread --------------------------------------------------------------------------------
    def start(self, recover: bool = False) -> IntakeKeeper:
        """Run the checks in a thread; with `recover` (a broker loss) first send every
        undecided upload again (`credit status` says "recovering" meanwhile)."""
        self.state.recovering = recover
        self._thread = threading.Thread(target=self._run, args=(recover,), name="intake-keeper",
                                        daemon=True)  # fmt: skip
        self._thread.start()
        return self

    def _run(self, recover: bool) -> None:
        if recover:
            try:
                self.republish_undecided()
            except Exception as exc:  # the checks below retry what was not sent
                log.warning("re-sending undecided uploads failed: %s", exc)
        while not self._stop.wait(self.interval_s):
            try:
                self.check()
            except Exception as exc:  # the store may refuse for a while; say so and go on
                log.warning("intake check failed: %s", exc)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
