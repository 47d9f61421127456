"""The ClickHouse sink: internal topics in, batched inserts out, offsets committed after.

Ordered protocol per batch (see `Sink.run`, `Sink.write_batch` and `sinks.write.batches`):
  1. consume up to `sink_batch_size` messages; a partition whose messages fall inside its
     last recorded intent belongs to a batch that may be half inserted: that batch is read
     again from its recorded ranges and goes through steps 3-4 first, whole;
  2. record the batch's intent: per source partition, the offset range about to be inserted,
     each row naming the whole batch;
  3. turn the messages into rows per table and insert each table's rows once, with the token
     `table/<digest of the batch's ranges>` — retrying with back-off while the store is
     unreachable (the stream waits; nothing is dropped). Rows ClickHouse refuses are found by
     bisection and dead-lettered (stage `sink`, `store.rejected`), the others stored;
  4. commit the pieces' offsets synchronously.
A crash between 2 and 4 re-forms the same batch on restart, whose inserts ClickHouse drops
as duplicates of the tokens it has seen (`non_replicated_deduplication_window`): no row is
stored twice, not even before a merge.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import pyarrow as pa
from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from base import gc_pause
from base.broker import FETCH_MAX_WAIT_MS
from base.metrics import Metrics
from base.topics import (
    DEAD_LETTER_TOPIC,
    SUBJECTS_TOPIC,
    UPLOADS_TOPIC,
    VALID_TOPIC,
)
from schemas import envelope as env
from schemas.catalog import Catalog
from sinks.ddl.tables import INTENT_TABLE, class_columns
from sinks.exceptions import StoreError, StoreRejectedError
from sinks.store import Store
from sinks.write import arrow_rows as A
from sinks.write import batches as B
from sinks.write import rows as R
from sinks.write.figures import FigureKeeper, aggregate_classes

log = logging.getLogger("credit.sink")
SINK_GROUP = "credit-sink"


class SinkTopics(NamedTuple):
    """The internal topics the sink reads (tests give each run its own)."""

    valid: str = VALID_TOPIC
    dead_letters: str = DEAD_LETTER_TOPIC
    uploads: str = UPLOADS_TOPIC
    subjects: str = SUBJECTS_TOPIC

    def suffixed(self, suffix: str) -> SinkTopics:
        return SinkTopics(*(f"{t}.{suffix}" for t in self))


DEFAULT_TOPICS = SinkTopics()
SINK_TOPICS = tuple(DEFAULT_TOPICS)
_FIXED_COLUMNS: dict[str, tuple[str, ...]] = {
    "outcomes": R.OUTCOME_COLUMNS, "dead_letters": R.DEAD_LETTER_COLUMNS,
    "uploads": R.UPLOAD_COLUMNS, "subjects": R.SUBJECT_COLUMNS,
}  # fmt: skip


class Source(NamedTuple):
    """Where a row came from: what to dead-letter if ClickHouse refuses it."""

    msg: Message
    class_code: str
    record: Mapping[str, Any]
    outcome: int | None  # index of its `stored` outcome row, replaced when refused


@dataclass
class TableRows:
    """The rows of one table for one batch, each with its source."""

    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)

    def add(self, row: list[Any], source: Source) -> None:
        self.rows.append(row)
        self.sources.append(source)


@dataclass
class _Columns:
    """What the columnar inserts of a batch left for later steps."""

    outcomes: list[pa.Table] = field(default_factory=list)  # inserted after the figures
    subjects: set[str] = field(default_factory=set)  # whose figures to recompute
    as_rows: set[str] = field(default_factory=set)  # classes refused as columns


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
        topics: SinkTopics = DEFAULT_TOPICS,
        epoch: str = "",
        figures: FigureKeeper | None = None,
    ) -> None:
        # the broker's epoch (credit/recovery.py) is part of every insert token: offsets
        # start again at 0 on a broker that lost its topics, and the same ranges must not
        # be dropped as repeats of inserts made from the old broker's messages
        self.epoch = epoch
        self.store_error = ""  # the store's last refusal while the sink waits for it
        for table in (*_FIXED_COLUMNS, INTENT_TABLE):  # at 0 from the start
            metrics.sink_errors.labels(table)
        self.store = store
        self.catalog = catalog
        self.metrics = metrics
        # the figures of the subjects a batch touched are recomputed before it is committed
        self.figures = figures or FigureKeeper(store, catalog, metrics)
        self._figure_tables = {f"cls_{c.code}" for c in aggregate_classes(catalog)}
        self.batch_size = batch_size
        self.batch_seconds = batch_seconds
        self.topics = topics
        self._class_rows = {c.code: R.ClassRows(c) for c in catalog}
        self._decimals = {c.table: A.decimal_columns(class_columns(c)) for c in catalog}
        self._conf = {
            "group.id": SINK_GROUP,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",  # Tansu's end offsets are unreliable
            "session.timeout.ms": 6000,
            # Tansu looks for data only at a few points of the wait (base/broker.py)
            "fetch.wait.max.ms": FETCH_MAX_WAIT_MS,
            **consumer_conf,
        }
        self._consumer: Consumer | None = None
        self._intents = B.Intents()
        self._intents_stale = True
        self._latency: dict[str, Any] = {}
        self.stop_event = threading.Event()
        self.batches = 0
        self._received: list[tuple[str, float]] = []  # (class, provider receipt) of a batch

    @property
    def group(self) -> str:
        return str(self._conf["group.id"])

    # -- the loop -------------------------------------------------------------------------------

    def run(self) -> None:
        """Consume until `stop_event` is set; the last batch is stored and committed first."""
        self._consumer = Consumer(self._conf)
        self._consumer.subscribe(list(self.topics), on_assign=self._assigned,
                                 on_revoke=self._revoked)  # fmt: skip
        try:
            while not self.stop_event.is_set():
                msgs = self._consumer.consume(self.batch_size, timeout=self.batch_seconds)
                self._handle([m for m in msgs if not self._is_error(m)])
                self._refresh_stale_figures()
        finally:
            self._consumer.close()

    def _handle(self, consumed: list[Message]) -> None:
        """Step 1's replay split, then steps 3-4 for recorded batches and 2-4 for the rest."""
        if self._intents_stale:
            self._intents = self._with_retry(INTENT_TABLE, self._load_intents)
            self._intents_stale = False
        split = self._intents.split(consumed)
        for description in split.replay:
            self.replay(description)
        if split.rest:
            self.write_batch(split.rest)  # steps 2-3
            self.commit(split.rest)  # step 4

    def replay(self, description: str) -> None:
        """Steps 3-4 for a recorded batch: read its ranges again and insert it whole with
        its recorded tokens (unless it is known to be inserted), then commit the pieces of
        this sink's partitions."""
        assert self._consumer is not None
        ranges = B.ranges_of(description)
        if not self._intents.done_elsewhere(description):
            log.warning("replaying a batch that may be half inserted: %s", description)
            msgs = self.read_ranges(ranges)
            self._write(B.Batch(B.pieces(msgs), description))
        owned = {(tp.topic, tp.partition) for tp in self._consumer.assignment()}
        offsets = [TopicPartition(r.topic, r.partition, r.last + 1) for r in ranges
                   if r.key in owned]  # fmt: skip
        if offsets:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        self._intents.replayed(description, owned)

    def read_ranges(self, ranges: list[B.Range]) -> list[Message]:
        """The messages of recorded ranges, read with a consumer of their own (no group
        offsets): some may be of partitions another sink owns now."""
        conf = {k: v for k, v in self._conf.items() if k != "group.id"}
        reader = Consumer({**conf, "group.id": f"{self.group}.replay",
                           "enable.partition.eof": False})  # fmt: skip
        wanted = {r.key: r for r in ranges}
        got: list[Message] = []
        try:
            reader.assign([TopicPartition(r.topic, r.partition, r.first) for r in ranges])
            while wanted and not self.stop_event.is_set():
                for msg in reader.consume(1000, timeout=1.0):
                    key = (msg.topic() or "", msg.partition() or 0)
                    if msg.error() is not None or key not in wanted:
                        continue
                    if (msg.offset() or 0) <= wanted[key].last:
                        got.append(msg)
                    if (msg.offset() or 0) >= wanted[key].last:
                        del wanted[key]
        finally:
            reader.close()
        if wanted:
            raise StoreError(f"stopped before reading the recorded ranges {list(wanted)}")
        return got

    def _load_intents(self) -> B.Intents:
        return B.Intents.load(self.store, self.group)

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._intents_stale = True  # another sink may have left an intent on these partitions

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._intents.forget((tp.topic, tp.partition) for tp in partitions)

    def commit(self, msgs: list[Message]) -> None:
        """Step 4: commit the next offset of every source partition in `msgs`."""
        assert self._consumer is not None
        offsets = [TopicPartition(p.topic, p.partition, p.last + 1) for p in B.pieces(msgs)]
        self._consumer.commit(offsets=offsets, asynchronous=False)

    def _is_error(self, msg: Message) -> bool:
        err = msg.error()
        if err is None:
            return False
        if err.code() != KafkaError._PARTITION_EOF:
            log.warning("sink consumer error: %s", err)
        return True

    # -- messages to rows -----------------------------------------------------------------------

    def tables_for(
        self, msgs: list[Message], as_rows: frozenset[str] | None = None
    ) -> dict[str, TableRows]:
        """Rows per table for messages of any internal topic, in either message shape
        (`sinks.write.rows`); class tables first, `outcomes` last. Valid records in columns are
        left to `_insert_columns`, but for the classes in `as_rows` (None: all of them)."""
        now = R.to_ms(dt.datetime.now(dt.UTC))  # epoch ms: sent as it is (`R.to_ms`)
        tables: dict[str, TableRows] = {}

        def table(name: str) -> TableRows:
            if name not in tables:
                tables[name] = TableRows(self._columns(name))
            return tables[name]

        for msg in msgs:
            value = msg.value() or b"{}"
            topic = msg.topic()
            if topic == self.topics.valid and env.is_columns(value):
                code, columns = env.read_valid(value)
                if as_rows is None or code in as_rows:
                    self._valid_rows(msg, {"class_code": code, "rows": A.records(columns)},
                                     now, table)  # fmt: skip
                continue
            data = env.loads(value)
            if topic == self.topics.valid:
                self._valid_rows(msg, data, now, table)
            elif topic == self.topics.dead_letters:
                self._count_channel_rejection(data)
                kind = self._kind(data["class_code"])
                table("dead_letters").add(
                    R.dead_letter_row(data), Source(msg, data["class_code"], data, None)
                )
                table("outcomes").add(
                    R.rejected_outcome(data, kind, now), Source(msg, data["class_code"], data, None)
                )
            elif topic == self.topics.uploads:
                self.metrics.received.labels(data.get("class_code", ""), data.get("provider", ""),
                                             data.get("channel", "")).inc(int(data.get("received", 0)))  # fmt: skip
                table("uploads").add(
                    R.upload_row(data), Source(msg, data.get("class_code", ""), data, None)
                )
            elif topic == self.topics.subjects:
                for entry in R.entries(data):
                    table("subjects").add(R.subject_row(entry, now), Source(msg, "", entry, None))
        outcomes = tables.pop("outcomes", None)
        ordered = dict(sorted(tables.items(), key=lambda kv: not kv[0].startswith("cls_")))
        return ordered | ({"outcomes": outcomes} if outcomes else {})

    def _valid_rows(self, msg: Message, data: Mapping[str, Any], now: int,
                    table: Any) -> None:  # fmt: skip
        code = data["class_code"]
        class_rows, outcomes = table(f"cls_{code}"), table("outcomes")
        for record in R.valid_records(data):
            outcomes.add(R.stored_outcome(code, record, now), Source(msg, code, record, None))
            source = Source(msg, code, record, len(outcomes.rows) - 1)
            class_rows.add(self._class_rows[code].row(record, now), source)
            self._observe_latency(code, record["ingest_received_at"])

    def _count_channel_rejection(self, dead: Mapping[str, Any]) -> None:
        """Rows refused by a channel (any process) are counted where they are stored, once
        per reason; the ledger entries count what was received (`credit_records_received`)."""
        if dead.get("stage") != "producer":
            return
        for code in {r.get("code", "") for r in dead.get("reasons") or ()}:
            self.metrics.producer_rejected.labels(dead.get("class_code", ""),
                                                  dead.get("provider", ""), code).inc()  # fmt: skip

    def _kind(self, class_code: str) -> str:
        cls = self.catalog.classes.get(class_code)
        return cls.subject_kind if cls else ""

    def _columns(self, table: str) -> list[str]:
        if table in _FIXED_COLUMNS:
            return list(_FIXED_COLUMNS[table])
        return self._class_rows[table.removeprefix("cls_")].columns

    def _observe_latency(self, code: str, received_ms: Any) -> None:
        # observed in `write_batch` once the rows are inserted: receipt → queryable
        if isinstance(received_ms, int):
            self._received.append((code, received_ms / 1000))

    def _observe_stored(self) -> None:
        stored_at, received, self._received = time.time(), self._received, []
        for code, at in received:
            if code not in self._latency:  # `labels()` per record costs more than the observe
                self._latency[code] = self.metrics.end_to_end_seconds.labels(code)
            self._latency[code].observe(stored_at - at)

    # -- inserts --------------------------------------------------------------------------------

    def write_batch(self, msgs: list[Message]) -> None:
        """Steps 2-3: record the intent, then insert table by table (no commit)."""
        batch = B.Batch.of(msgs)
        intents = B.intent_rows(self.group, batch, dt.datetime.now(dt.UTC))
        self._with_retry(INTENT_TABLE, lambda: self.store.insert(
            INTENT_TABLE, intents, B.INTENT_COLUMNS))  # fmt: skip
        self._write(batch)

    def _write(self, batch: B.Batch) -> None:
        """Step 3: one insert per table, class tables first, `outcomes` last (so a refused
        class row's outcome is already turned `rejected`)."""
        with gc_pause.paused():  # a batch makes ≈10^5 acyclic objects (base/gc_pause.py)
            self._write_tables(batch)

    def _write_tables(self, batch: B.Batch) -> None:
        started = time.perf_counter()
        msgs = batch.msgs
        columns = self._insert_columns(batch)
        tables = self.tables_for(msgs, frozenset(columns.as_rows))
        outcomes = tables.pop("outcomes", None)
        refused: list[tuple[Source, str]] = []
        for name, rows in tables.items():
            if name.startswith("cls_"):
                rows = self._without_stored(name, rows)
            refused += self._insert_rows(name, rows, self._token(batch, name))
        if refused:
            self._dead_letter(batch, refused, outcomes)
        # the figures before the outcomes: an upload that says "complete" has its figures
        # (read right after it, they must agree); a crash before the commit replays both
        self._refresh_figures(tables, columns.subjects)
        if outcomes:
            self._insert_rows("outcomes", outcomes, self._token(batch, "outcomes"))
        if columns.outcomes:
            stored = pa.concat_tables(columns.outcomes)
            token = self._token(batch, "outcomes.columns")
            self._with_retry("outcomes", lambda: self.store.insert_arrow("outcomes", stored, token))
            self.metrics.sink_rows.labels("outcomes").inc(stored.num_rows)
        self._observe_stored()
        self.metrics.sink_batch_rows.observe(len(msgs))
        self.metrics.sink_batch_seconds.observe(time.perf_counter() - started)
        self.batches += 1

    def _refresh_figures(self, tables: Mapping[str, TableRows], subjects: set[str]) -> None:
        """The figures of every subject whose facts the batch brought (stored now or before:
        a replayed batch recomputes them too; `subjects`: those of the columns). A store
        that refuses them costs the figures, not the batch: they are recomputed at the
        subject's next fact or the daily pass."""
        for name, rows in tables.items():
            if name in self._figure_tables and rows.rows:
                si = rows.columns.index("subject_id")
                subjects.update(str(row[si]) for row in rows.rows)
        if not subjects:
            return
        try:
            self._with_retry("aggregates", lambda: self.figures.refresh(subjects, "batch"))
        except StoreRejectedError as exc:
            self.metrics.sink_errors.labels("aggregates").inc()
            log.error("figures of %d subjects not recomputed: %s", len(subjects), exc)

    def _refresh_stale_figures(self) -> None:
        """One step of the daily pass between batches (`FigureKeeper.refresh_stale`)."""
        try:
            self._with_retry("aggregates", self.figures.refresh_stale)
        except StoreRejectedError as exc:
            self.metrics.sink_errors.labels("aggregates").inc()
            log.error("daily figures pass failed: %s", exc)

    def _insert_columns(self, batch: B.Batch) -> _Columns:
        """Step 3 for valid records in columns: one `insert_arrow` per class table (the
        newest version of each record the store lacks), with its token; their `stored`
        outcomes wait for the figures. A class whose insert ClickHouse refuses goes the
        row way instead (`as_rows`), which bisects down to the rows it refuses."""
        now = R.to_ms(dt.datetime.now(dt.UTC))
        parts: dict[str, list[pa.Table]] = {}
        for msg in batch.msgs:
            value = msg.value() or b""
            if msg.topic() == self.topics.valid and env.is_columns(value):
                code, table = env.read_valid(value)
                parts.setdefault(code, []).append(table)
        done = _Columns()
        for code, tables in parts.items():
            full = A.class_table(tables, self._class_rows[code].columns, now)
            if not self._insert_class(batch, f"cls_{code}", full):
                done.as_rows.add(code)
                continue
            done.outcomes.append(A.stored_outcomes(code, full, now))
            if f"cls_{code}" in self._figure_tables:
                done.subjects.update(full["subject_id"].to_pylist())
            received = full["ingest_received_at"].cast(pa.int64()).to_pylist()
            self._received += [(code, ms / 1000) for ms in received]
        return done

    def _insert_class(self, batch: B.Batch, name: str, full: pa.Table) -> bool:
        """Insert the rows of `full` that can change the table (`_without_stored`); False
        when ClickHouse refuses them."""
        stored = self._stored_versions(name, full["subject_id"].to_pylist(),
                                       full["record_key"].to_pylist())  # fmt: skip
        fresh = A.newest(full, stored)
        if full.num_rows > fresh.num_rows:
            log.info("%s: %d rows repeated records already stored", name,
                     full.num_rows - fresh.num_rows)  # fmt: skip
        if not fresh.num_rows:
            return True
        token = self._token(batch, f"{name}.columns")
        try:
            typed = A.as_decimals(fresh, self._decimals[name])
            self._with_retry(name, lambda: self.store.insert_arrow(name, typed, token))
        except (StoreRejectedError, pa.ArrowInvalid) as exc:
            self.metrics.sink_errors.labels(name).inc()
            log.warning("%s refused %d rows as columns; finding the refused ones: %s",
                        name, fresh.num_rows, exc)  # fmt: skip
            return False
        self.metrics.sink_rows.labels(name).inc(fresh.num_rows)
        return True

    def _stored_versions(
        self, table: str, subjects: Iterable[str], keys: Iterable[str]
    ) -> dict[str, int]:
        """Record key → highest version the store holds, for `keys` of `subjects` (the
        look-up goes by the table's primary key, subject_id)."""
        found = self._with_retry(table, lambda: self.store.query_keyed(
            f"SELECT record_key, max(version) AS v FROM {self.store.database}.{table} "
            "WHERE subject_id IN {s:Keys} AND record_key IN {k:Keys} "
            "GROUP BY record_key", {"s": sorted(set(subjects)), "k": list(keys)}))  # fmt: skip
        return {str(r["record_key"]): int(r["v"]) for r in found}

    def _token(self, batch: B.Batch, table: str) -> str:
        token = batch.token(table)
        return f"{self.epoch}/{token}" if self.epoch else token

    def _without_stored(self, table: str, rows: TableRows) -> TableRows:
        """The rows of `table` that can change it: per record key the highest version in
        the batch, and only if the store holds no version as high.

        Why: a record reaches the sink again whenever an earlier stage repeats itself — the
        worker re-reading input it had not committed when it was killed, an upload sent again
        from the intake after the broker lost it. ReplacingMergeTree would fold the copies
        at its next merge, but until then `count()` and every query without FINAL would see
        them. A row whose version the store already holds cannot win a merge, so leaving it
        out changes nothing else. The look-up uses the table's primary key (subject_id).
        """
        cols = {name: i for i, name in enumerate(rows.columns)}
        ki, vi, si = cols["record_key"], cols["version"], cols["subject_id"]
        best: dict[str, int] = {}
        for i, row in enumerate(rows.rows):
            j = best.get(row[ki])
            if j is None or int(row[vi]) > int(rows.rows[j][vi]):
                best[row[ki]] = i
        subjects = [rows.rows[i][si] for i in best.values()]
        stored = self._stored_versions(table, subjects, best)
        kept = TableRows(rows.columns)
        for i in sorted(best.values()):
            row = rows.rows[i]
            if int(row[vi]) > stored.get(row[ki], -1):
                kept.add(row, rows.sources[i])
        if len(kept.rows) < len(rows.rows):
            log.info("%s: %d rows repeated records already stored", table,
                     len(rows.rows) - len(kept.rows))  # fmt: skip
        return kept

    def forget_intents(self) -> None:
        """After the broker lost its topics: the recorded offset ranges name messages that
        no longer exist (their uploads are sent again from the intake)."""
        self.store.command(f"TRUNCATE TABLE IF EXISTS {self.store.database}.{INTENT_TABLE}")
        self._intents = B.Intents()
        self._intents_stale = True

    def _insert_rows(self, table: str, rows: TableRows, token: str) -> list[tuple[Source, str]]:
        """Insert, or bisect a refused insert down to the rows ClickHouse refuses; returns
        those with ClickHouse's message. Sub-inserts get tokens derived from `token`, so a
        replay bisects into the same inserts. Nothing to insert is no insert."""
        if not rows.rows:
            return []
        refused = self._bisect(table, rows.columns, rows.rows, rows.sources, token)
        self.metrics.sink_rows.labels(table).inc(len(rows.rows) - len(refused))
        return refused

    def _bisect(self, table: str, columns: list[str], rows: list[list[Any]],
                sources: list[Source], token: str) -> list[tuple[Source, str]]:  # fmt: skip
        try:
            self._with_retry(table, lambda: self.store.insert(table, rows, columns, token))
            return []
        except StoreRejectedError as exc:
            self.metrics.sink_errors.labels(table).inc()
            if len(rows) == 1:
                log.error("ClickHouse refused a row of %s (dead-lettered): %s", table, exc)
                return [(sources[0], str(exc))]
        mid = len(rows) // 2
        return self._bisect(table, columns, rows[:mid], sources[:mid], f"{token}/a") + (
            self._bisect(table, columns, rows[mid:], sources[mid:], f"{token}/b"))  # fmt: skip

    def _dead_letter(self, batch: B.Batch, refused: list[tuple[Source, str]],
                     outcomes: TableRows | None) -> None:  # fmt: skip
        """Refused rows become dead letters; a refused class record's `stored` outcome turns
        `rejected`, so the upload still adds up (received = stored + rejected)."""
        now = dt.datetime.now(dt.UTC)
        dead = TableRows(list(R.DEAD_LETTER_COLUMNS))
        for source, reason in refused:
            msg = source.msg
            position = (msg.topic() or "", msg.partition() or 0, msg.offset() or 0)
            letter = R.store_dead_letter(source.class_code, source.record, reason, position, now)
            dead.add(R.dead_letter_row(letter), source)
            if outcomes is not None and source.outcome is not None:
                kind = self._kind(source.class_code)
                outcomes.rows[source.outcome] = R.rejected_outcome(letter, kind, now)
        for source, reason in self._insert_rows("dead_letters", dead,
                                                self._token(batch, "sink-dead")):  # fmt: skip
            log.error("a dead letter for a refused row was refused too (%s at %s:%s): %s",
                      source.class_code, source.msg.topic(), source.msg.offset(), reason)  # fmt: skip

    def _with_retry(self, what: str, call: Any) -> Any:
        """Run `call` until the store takes it: an unreachable store is waited for (the stream
        waits, nothing is dropped); StoreRejectedError goes to the caller."""
        delay = 0.5
        while True:
            try:
                result = call()
                self.store_error = ""
                return result
            except StoreRejectedError:
                raise
            except StoreError as exc:
                self.store_error = f"{what}: {exc}"[:300]  # /health says degraded meanwhile
                self.metrics.sink_errors.labels(what).inc()
                if self.stop_event.is_set():
                    raise
                log.warning("%s failed, retrying in %.1fs: %s", what, delay, exc)
                time.sleep(delay)
                delay = min(delay * 2, 30.0)
