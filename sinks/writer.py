"""The ClickHouse sink: internal topics in, batched inserts out, offsets committed after.

Ordered protocol per batch (see `Sink.write_batch`):
  1. consume up to `sink_batch_size` messages;
  2. turn them into rows per table;
  3. insert every table's rows — retrying with back-off while the store is unreachable (the
     stream waits; nothing is dropped);
  4. commit the consumer offsets synchronously.
A crash between 3 and 4 re-inserts the batch on restart; the ReplacingMergeTree keys
(record key, dead-letter key, row key, upload id) make that a no-op for every query that
reads with FINAL.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import defaultdict
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message

from credit.metrics import Metrics
from credit.topics import (
    AGGREGATES_TOPIC,
    DEAD_LETTER_TOPIC,
    SUBJECTS_TOPIC,
    UPLOADS_TOPIC,
    VALID_TOPIC,
)
from schemas.catalog import Catalog
from sinks import rows as R
from sinks.exceptions import StoreError
from sinks.store import Store
from streams import envelope as env
from streams.aggregates import AGGREGATE_COLUMNS

log = logging.getLogger("credit.sink")
SINK_GROUP = "credit-sink"
SINK_TOPICS = (VALID_TOPIC, DEAD_LETTER_TOPIC, UPLOADS_TOPIC, SUBJECTS_TOPIC, AGGREGATES_TOPIC)


class Sink:
    """One consumer of the internal topics writing to one store."""

    def __init__(
        self,
        store: Store,
        catalog: Catalog,
        consumer_conf: dict[str, Any],
        metrics: Metrics,
        batch_size: int = 20000,
        batch_seconds: float = 0.5,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.metrics = metrics
        self.batch_size = batch_size
        self.batch_seconds = batch_seconds
        self._class_rows = {c.code: R.ClassRows(c) for c in catalog}
        self._conf = {
            "group.id": SINK_GROUP,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",  # Tansu's end offsets are unreliable
            "session.timeout.ms": 6000,
            # Tansu answers a waiting fetch only at its deadline (streams/faust_transport.py)
            "fetch.wait.max.ms": 100,
            **consumer_conf,
        }
        self._consumer: Consumer | None = None
        self.stop_event = threading.Event()
        self.batches = 0
        self._received: list[tuple[str, float]] = []  # (class, provider receipt) of a batch

    def run(self) -> None:
        """Consume until `stop_event` is set; the last batch is stored and committed first."""
        self._consumer = Consumer(self._conf)
        self._consumer.subscribe(list(SINK_TOPICS))
        try:
            while not self.stop_event.is_set():
                msgs = self._consumer.consume(self.batch_size, timeout=self.batch_seconds)
                good = [m for m in msgs if not self._is_error(m)]
                if good:
                    self.write_batch(good)  # step 3
                    self._consumer.commit(asynchronous=False)  # step 4
        finally:
            self._consumer.close()

    def _is_error(self, msg: Message) -> bool:
        err = msg.error()
        if err is None:
            return False
        if err.code() != KafkaError._PARTITION_EOF:
            log.warning("sink consumer error: %s", err)
        return True

    def tables_for(self, msgs: list[Message]) -> dict[str, tuple[list[str], list[list[Any]]]]:
        """Step 2: rows per table for one batch of messages."""
        now = dt.datetime.now(dt.UTC)
        out: dict[str, tuple[list[str], list[list[Any]]]] = {}
        grouped: dict[str, list[list[Any]]] = defaultdict(list)
        for msg in msgs:
            data = env.loads(msg.value() or b"{}")
            topic = msg.topic()
            if topic == VALID_TOPIC:
                code = data["class_code"]
                for row in data["rows"] if "rows" in data else [data["row"]]:
                    grouped[f"cls_{code}"].append(self._class_rows[code].row(row, now))
                    grouped["outcomes"].append(R.stored_outcome(code, row, now))
                    self._observe_latency(code, row["ingest_received_at"], now)
            elif topic == DEAD_LETTER_TOPIC:
                grouped["dead_letters"].append(R.dead_letter_row(data))
                kind = self._kind(data["class_code"])
                grouped["outcomes"].append(R.rejected_outcome(data, kind, now))
            elif topic == UPLOADS_TOPIC:
                grouped["uploads"].append(R.upload_row(data))
            elif topic == SUBJECTS_TOPIC:
                for entry in data.get("rows", [data]):
                    grouped["subjects"].append(R.subject_row(entry, now))
            elif topic == AGGREGATES_TOPIC:
                for agg in data.get("rows", [data]):
                    grouped["aggregates"].append(R.aggregate_row(agg))
        for table, rows in grouped.items():
            out[table] = (self._columns(table), rows)
        return out

    def _kind(self, class_code: str) -> str:
        cls = self.catalog.classes.get(class_code)
        return cls.subject_kind if cls else ""

    def _columns(self, table: str) -> list[str]:
        fixed = {"outcomes": R.OUTCOME_COLUMNS, "dead_letters": R.DEAD_LETTER_COLUMNS,
                 "uploads": R.UPLOAD_COLUMNS, "subjects": R.SUBJECT_COLUMNS,
                 "aggregates": AGGREGATE_COLUMNS}  # fmt: skip
        if table in fixed:
            return list(fixed[table])
        return self._class_rows[table.removeprefix("cls_")].columns

    def _observe_latency(self, code: str, received_ms: Any, now: dt.datetime) -> None:
        # observed in `write_batch` once the rows are inserted: receipt → queryable
        if isinstance(received_ms, int):
            self._received.append((code, received_ms / 1000))

    def write_batch(self, msgs: list[Message]) -> None:
        started = time.perf_counter()
        tables, received_pairs = self.tables_for(msgs), self._received
        for table, (columns, rows) in tables.items():
            self._insert_with_retry(table, columns, rows)
            self.metrics.sink_rows.labels(table).inc(len(rows))
        stored_at, self._received = time.time(), []
        for code, received in received_pairs:
            self.metrics.end_to_end_seconds.labels(code).observe(stored_at - received)
        self.metrics.sink_batch_rows.observe(len(msgs))
        self.metrics.sink_batch_seconds.observe(time.perf_counter() - started)
        self.batches += 1

    def _insert_with_retry(self, table: str, columns: list[str], rows: list[list[Any]]) -> None:
        delay = 0.5
        while True:
            try:
                self.store.insert(table, rows, columns)
                return
            except StoreError as exc:
                self.metrics.sink_errors.labels(table).inc()
                if self.stop_event.is_set():
                    raise
                log.warning("insert into %s failed, retrying in %.1fs: %s", table, delay, exc)
                time.sleep(delay)
                delay = min(delay * 2, 30.0)
