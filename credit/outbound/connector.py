"""Delivers one target's topic to its endpoint: an HTTP URL or a file-drop directory.

A thread per target. It reads `credit.out.<target>` in batches (its one partition assigned,
offsets committed under group `credit-out-<target>` only after the target took the batch), drops the
changes the ledger says the target already acknowledged (a topic filled again after a restart
repeats some), and delivers the rest until they get through: a refused or unreachable
endpoint is tried again with a growing pause (1 s doubling to a minute) — the batch read again
from its first offset each time, so the consumer keeps polling — each attempt counted on the
changes in the ledger (state `failed`, last error). Then the ledger marks them acked, and the
offsets are committed. A crash between the target's answer and the ledger sends the
batch again: the same delivery ids, which the target drops.

HTTP: `POST <url>` with `{"target": …, "deliveries": [...]}` and `Idempotency-Key` (a digest of
the batch's delivery ids); any 2xx is an acknowledgement. Directory (前置系统 exchange
folder): one JSON-lines file per batch, written under a temporary name, synced, then renamed
to `<target>-<first queued time>-<digest>.jsonl`, so the exchange never sees half a file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition

from base.metrics import Metrics
from sinks.read import outbound
from sinks.store import Store

log = logging.getLogger("credit.outbound")
MAX_PAUSE = 60.0


def batch_id(values: Sequence[Mapping[str, Any]]) -> str:
    joined = "|".join(str(v["delivery_id"]) for v in values)
    return hashlib.sha256(joined.encode()).hexdigest()[:32]


def _ledger_row(value: Mapping[str, Any], target: str, state: str, attempts: int, error: str,
                acked: dt.datetime | None) -> dict[str, Any]:  # fmt: skip
    """The ledger row of a delivered (or failed) change, from the message it travelled in."""
    return {"target": target, "delivery_id": value["delivery_id"],
            "class_code": value["class_code"], "record_key": value["record_key"],
            "record_version": int(value["record_version"]), "subject_id": value["subject_id"],
            "action": value["action"], "seq": int(value["seq"]), "state": state,
            "attempts": attempts, "last_error": error[:500],
            "queued_at": dt.datetime.fromisoformat(str(value["queued_at"])),
            "acked_at": acked}  # fmt: skip


def _first_offsets(msgs: list[Message]) -> list[TopicPartition]:
    """Where each partition of a batch began (to read it again)."""
    first: dict[int, int] = {}
    for m in msgs:
        first[m.partition() or 0] = min(
            first.get(m.partition() or 0, m.offset() or 0), m.offset() or 0
        )
    return [TopicPartition(msgs[0].topic() or "", p, o) for p, o in first.items()]


def _assign_from_committed(consumer: Consumer, topic: str) -> None:
    """The target's one partition, from the group's committed offset (the start when none).
    Assigned, not subscribed: one connector reads a target's topic, and a group join costs
    seconds on every start (the old member's session must run out first)."""
    (committed,) = consumer.committed([TopicPartition(topic, 0)], timeout=30)
    start = committed.offset if committed.offset >= 0 else OFFSET_BEGINNING
    consumer.assign([TopicPartition(topic, 0, start)])


class Connector:
    """One target's delivery thread (`start`/`stop`)."""

    def __init__(self, target: Mapping[str, Any], store: Store, kafka_conf: dict[str, Any],
                 metrics: Metrics, batch: int = 500) -> None:  # fmt: skip
        self.target = dict(target)
        self.name = str(target["name"])
        self.store, self.metrics, self.batch = store, metrics, batch
        self.conf = {**kafka_conf, "group.id": f"credit-out-{self.name}",
                     "enable.auto.commit": False, "auto.offset.reset": "earliest"}  # fmt: skip
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._acked: set[str] = set()  # delivery ids acknowledged in this process
        self._failures = 0  # attempts in a row the endpoint did not take
        self._http = httpx.Client(timeout=10.0)

    def start(self) -> Connector:
        self._thread = threading.Thread(target=self._run, name=f"out-{self.name}", daemon=True)
        self._thread.start()
        return self

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
        self._http.close()

    def _run(self) -> None:
        consumer = Consumer(self.conf)
        try:
            _assign_from_committed(consumer, outbound.topic_of(self.name))
            while not self._stop.is_set():
                msgs = [m for m in consumer.consume(self.batch, timeout=0.5) if not m.error()]
                if not msgs:
                    continue
                if self._deliver([orjson.loads(m.value() or b"{}") for m in msgs]):
                    consumer.commit(asynchronous=False)
                    continue
                # not taken: read the same batch again after a pause
                for first in _first_offsets(msgs):
                    consumer.seek(first)
                self._stop.wait(min(2.0 ** (self._failures - 1), MAX_PAUSE))
        except KafkaException as exc:
            log.error("outbound %s: the broker failed the connector: %s", self.name, exc)
        finally:
            consumer.close()

    def _deliver(self, values: list[dict[str, Any]]) -> bool:
        """One attempt to deliver what the target has not acknowledged yet; True when it
        took them (or had them all)."""
        fresh = self._not_acked(values)
        if not fresh:
            return True
        error = self._send(fresh)
        attempts = self._failures + 1
        if not error:
            now = dt.datetime.now(dt.UTC)
            outbound.save_ledger(self.store, [_ledger_row(v, self.name, "acked", attempts, "", now)
                                              for v in fresh])  # fmt: skip
            self._acked.update(str(v["delivery_id"]) for v in fresh)
            self.metrics.outbound.labels(self.name, "acked").inc(len(fresh))
            self._failures = 0
            return True
        self._failures = attempts
        self.metrics.outbound.labels(self.name, "failed").inc(len(fresh))
        log.warning("outbound %s: %d changes not delivered (attempt %d): %s", self.name,
                    len(fresh), attempts, error)  # fmt: skip
        outbound.save_ledger(self.store, [_ledger_row(v, self.name, "failed", attempts, error, None)
                                          for v in fresh])  # fmt: skip
        return False

    def _not_acked(self, values: list[dict[str, Any]]) -> list[dict[str, Any]]:
        unique = {str(v["delivery_id"]): v for v in values if v["delivery_id"] not in self._acked}
        known = outbound.deliveries(self.store, self.name, list(unique))
        return [v for d, v in unique.items()
                if known.get(d, {}).get("state") not in ("acked", "superseded")]  # fmt: skip

    def _send(self, values: list[dict[str, Any]]) -> str:
        """'' when the target took the batch, else why not."""
        try:
            if self.target["kind"] == "directory":
                self._drop_file(values)
                return ""
            resp = self._http.post(str(self.target["address"]),
                                   content=orjson.dumps({"target": self.name, "deliveries": values}),
                                   headers={"Idempotency-Key": batch_id(values),
                                            "Content-Type": "application/json"})  # fmt: skip
            return "" if resp.status_code < 300 else f"HTTP {resp.status_code}: {resp.text[:200]}"
        except (httpx.HTTPError, OSError) as exc:
            return f"{type(exc).__name__}: {exc}"

    def _drop_file(self, values: list[dict[str, Any]]) -> None:
        folder = Path(str(self.target["address"]))
        folder.mkdir(parents=True, exist_ok=True)
        first = str(values[0]["queued_at"]).replace("-", "").replace(":", "")[:15]
        final = folder / f"{self.name}-{first}-{batch_id(values)[:16]}.jsonl"
        tmp = folder / f".{final.name}.tmp"
        with tmp.open("wb") as handle:
            for v in values:
                handle.write(orjson.dumps(v) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(final)
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
