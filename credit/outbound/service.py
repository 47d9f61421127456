"""The outbound connectors of `credit up` (issue 23: push upstream, exchange with other systems).

Every `every` seconds a round, for each target (`sinks.read.outbound`):

1. the changes the target has not been sent (`sinks.read.outbound_changes`): upserts of the
   stored versions its ledger lacks (classes whose parts did not change are skipped),
   withdrawals of records out of public use, restorations of records back in use;
2. each change is written to the ledger as `queued` first, then produced to its topic
   `credit.out.<target>` (one partition: a withdraw never overtakes its upsert) in the target's
   format (`credit.outbound.formats`);
3. one `Connector` thread per target delivers the topic to the target's endpoint.

Ledger first, then the topic: a crash in between leaves a change queued that no topic holds.
The topics are as durable as the broker (the embedded Tansu keeps them in memory), so at every
start — and after the platform recovers a lost broker — every change still unacknowledged is
produced again, with the same delivery id; the connector drops those the target has taken.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

import orjson
from confluent_kafka import Producer

from base.metrics import Metrics
from base.topics import ensure_named_topics
from credit.outbound.connector import Connector
from credit.outbound.formats import render
from schemas.catalog import Catalog, attribute_class
from sinks.read import outbound
from sinks.read import outbound_changes as oc
from sinks.read.repairs import hidden_record_keys
from sinks.store import Store

log = logging.getLogger("credit.outbound")
GAUGE_SECONDS = 15.0


class OutboundService:
    """Publisher rounds on a thread, a connector per target (`start`/`stop`, `run_once`)."""

    def __init__(self, store: Store, catalog: Catalog, kafka_conf: dict[str, Any],
                 metrics: Metrics, every: float = 2.0, limit: int = 5000,
                 replication: int = 1) -> None:  # fmt: skip
        self.store, self.catalog, self.metrics = store, catalog, metrics
        self.kafka_conf, self.every, self.limit = kafka_conf, every, limit
        self.replication = replication
        self.connectors: dict[str, Connector] = {}
        self._producer = Producer({**kafka_conf, "enable.idempotence": True, "linger.ms": 20})
        self._done: dict[tuple[str, str], oc.Signature] = {}  # (target, table) → read up to
        self._hidden: dict[str, frozenset[str]] = {}  # target → the withheld set last round
        self._requeued: set[str] = set()
        self._gauges_at = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- a round -------------------------------------------------------------------------------
    def run_once(self) -> int:
        """One round for every target; how many changes were queued."""
        targets = outbound.list_targets(self.store)
        self._sync_connectors(targets)
        if not targets:
            return 0
        signatures = oc.part_signatures(self.store)
        hidden = hidden_record_keys(self.store)
        queued = sum(self._round(t, signatures, hidden) for t in targets)
        if time.monotonic() - self._gauges_at > GAUGE_SECONDS:
            self._update_gauges(targets)
        return queued

    def _round(self, target: Mapping[str, Any], signatures: Mapping[str, oc.Signature],
               hidden: frozenset[str]) -> int:  # fmt: skip
        name = str(target["name"])
        if name not in self._requeued:
            self._requeue(target)
        self._forget_when_changed(target, signatures)
        queued = 0
        for cls in outbound.target_classes(self.catalog, target):
            sig = signatures.get(cls.table)
            if sig is None or self._done.get((name, cls.table)) == sig:
                continue
            rows = oc.pending(self.store, self.catalog, cls, target, self.limit)
            queued += self._send(target, oc.upserts(self.store, cls, target, rows, hidden))
            if len(rows) < self.limit:
                self._done[(name, cls.table)] = sig
        queued += self._send(target, oc.withdrawals(self.store, self.catalog, target, hidden))
        if self._hidden.get(name) != hidden:
            queued += self._send(target, oc.restorations(self.store, self.catalog, target, hidden))
            self._hidden[name] = hidden
        return queued

    def _forget_when_changed(self, target: Mapping[str, Any],
                             signatures: Mapping[str, oc.Signature]) -> None:  # fmt: skip
        """Every class is read again for a target whose settings changed (other districts,
        industries, classes), and for a target by industry when the industry class changed:
        a company's industry record arriving later makes its earlier records due."""
        name = str(target["name"])
        marks = {(name, "@settings"): (int(target["version"]), 0, "")}
        if target.get("industries"):
            sig = signatures.get("cls_" + attribute_class(self.catalog, "industry"))
            marks[(name, "@industry")] = sig or (0, 0, "")
        if any(self._done.get(k) != v for k, v in marks.items()):
            self._done = {k: v for k, v in self._done.items() if k[0] != name} | marks

    def _send(self, target: Mapping[str, Any], changes: list[oc.Change]) -> int:
        """Ledger (queued, or skipped for a hold), then the topic; how many were produced."""
        if not changes:
            return 0
        name = str(target["name"])
        outbound.save_ledger(self.store, [{k: v for k, v in c.items() if k != "record"}
                                          for c in changes])  # fmt: skip
        sent = [c for c in changes if c["action"] != "held"]
        self._produce(target, sent)
        for action in ("upsert", "withdraw", "held"):
            n = sum(1 for c in changes if c["action"] == action)
            if n:
                self.metrics.outbound.labels(name, action).inc(n)
        return len(sent)

    def _produce(self, target: Mapping[str, Any], changes: list[oc.Change]) -> None:
        topic = outbound.topic_of(str(target["name"]))
        for c in changes:
            value = render(str(target["format"]), self.catalog.get(str(c["class_code"])), c)
            while True:
                try:
                    self._producer.produce(topic, orjson.dumps(value), key=str(c["record_key"]))
                    break
                except BufferError:  # the local queue is full: let it drain
                    self._producer.poll(0.1)
        left = self._producer.flush(30)
        if left:
            log.warning("outbound %s: %d changes not yet on the topic; sent again at the next "
                        "start", target["name"], left)  # fmt: skip

    def _requeue(self, target: Mapping[str, Any]) -> None:
        """Produce again every change the target has not acknowledged (the topic may have
        lost them); an upsert whose record has a newer version since is superseded."""
        name = str(target["name"])  # its topic exists: `_sync_connectors` ran first
        rows = outbound.unacked(self.store, name)
        by_class: dict[str, list[str]] = {}
        for r in rows:
            by_class.setdefault(str(r["class_code"]), []).append(str(r["record_key"]))
        present = oc.present_rows(self.store, self.catalog, by_class)
        live, stale = [], []
        for r in rows:
            rec = present.get(str(r["record_key"]))
            if r["action"] == "upsert" and (
                rec is None or int(rec["version"]) != int(r["record_version"])
            ):
                stale.append({**r, "state": "superseded"})
            else:
                live.append({**r, "record": rec} if r["action"] == "upsert" else r)
        outbound.save_ledger(self.store, stale)
        self._produce(target, live)
        self._requeued.add(name)
        if live:
            log.info("outbound %s: %d unacknowledged changes queued again", name, len(live))

    def _sync_connectors(self, targets: list[dict[str, Any]]) -> None:
        """A connector per target; a changed or removed target's connector stops, and one
        whose thread ended (the broker failed it) starts again."""
        wanted = {str(t["name"]): t for t in targets}
        for name, conn in list(self.connectors.items()):
            t = wanted.get(name)
            same = t is not None and (t["kind"], t["address"]) == (conn.target["kind"],
                                                                  conn.target["address"])  # fmt: skip
            if not same or not conn.alive():
                conn.stop()
                del self.connectors[name]
        for name, t in wanted.items():
            if name not in self.connectors:
                ensure_named_topics(self.kafka_conf, [outbound.topic_of(name)], 1,
                                    self.replication)  # fmt: skip
                self.connectors[name] = Connector(t, self.store, self.kafka_conf,
                                                  self.metrics).start()  # fmt: skip

    def _update_gauges(self, targets: list[dict[str, Any]]) -> None:
        self._gauges_at = time.monotonic()
        lag = outbound.unacked_by_target(self.store)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        for t in targets:
            n, oldest = lag.get(str(t["name"]), (0, None))
            self.metrics.outbound_unacked.labels(t["name"]).set(n)
            age = (now - oldest.replace(tzinfo=None)).total_seconds() if oldest else 0.0
            self.metrics.outbound_oldest.labels(t["name"]).set(max(0.0, age))

    # -- the thread ----------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.run_once()
            except Exception:  # a store or broker hiccup costs one round, not the thread
                log.exception("outbound round failed; trying again in %.0f s", self.every)

    def start(self) -> OutboundService:
        self._thread = threading.Thread(target=self._loop, name="outbound", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        for conn in self.connectors.values():
            conn.stop()
        self.connectors = {}
        self._producer.flush(5)
