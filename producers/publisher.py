"""The SDK every channel uses: validate against the class's Avro schema, frame, produce.

Used by the file uploader, the HTTP gateway and the database poller, and by providers' own
Python code. A record that cannot be encoded is not dropped: it goes to the dead-letter topic
with its row and reason, so the upload still adds up.

Records are sent as record batches (`schemas/codec.py`): up to `batch_records` records of one
class, one upload and one partition per Kafka message, because per-message costs in the
broker and in Faust dominate otherwise. `batch_records=1` sends plain Confluent-framed
records, one per message, for consumers that only speak the Confluent wire format.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, Message, Producer
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from fastavro.validation import ValidationError, validate

from base.topics import DEAD_LETTER_TOPIC, UPLOADS_TOPIC
from producers.durable_intake import Frame, UploadRecorder
from producers.exceptions import PublishError
from schemas import envelope as env
from schemas.avro import avro_schema
from schemas.catalog import InfoClass
from schemas.codec import DEFAULT_BATCH_RECORDS, AvroEncoder, frame_batch
from schemas.partitioner import partition_for
from schemas.violations import Violation


@dataclass
class DeliveryReport:
    """What the broker acknowledged; `failed` lists (row, error) for anything it did not."""

    delivered: int = 0
    failed: list[tuple[int | None, str]] = field(default_factory=list)


def new_upload_id(channel: str) -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
    return f"{channel}-{stamp}-{uuid.uuid4().hex[:8]}"


def source_key_of(cls: InfoClass, record: Mapping[str, Any]) -> str:
    """The provider's identity of a record: its key fields, in catalog order."""
    parts = []
    for name in cls.key_fields:
        value = record.get(name)
        parts.append(value.isoformat() if isinstance(value, dt.date) else str(value or ""))
    return "|".join(parts)


def subject_key(cls: InfoClass, record: Mapping[str, Any]) -> bytes:
    """Kafka key = subject code, so one subject's records stay in one partition, in order."""
    for name in (cls.subject.code, *cls.subject.alt_codes):
        value = record.get(name)
        if value:
            return str(value).strip().upper().encode()
    return b""


@dataclass
class _Pending:
    """Records waiting to go out as one batch: one topic, partition, upload and schema."""

    topic: str
    partition: int
    upload_id: str
    schema_id: int
    since: float
    bodies: list[bytes] = field(default_factory=list)
    rows: list[int | None] = field(default_factory=list)
    size: int = 0


class Publisher:
    """Publishes records of any class for one provider through one channel.

    `producer_conf` are librdkafka keys (bootstrap, security); `registry_url` is a Confluent
    compatible schema registry (the embedded platform serves one). A batch leaves when it
    holds `batch_records` records or `batch_bytes` bytes, when it is `linger_s` old at the
    next `send`, and at `flush` — call `flush` when a unit of work ends.
    """

    def __init__(
        self,
        producer_conf: Mapping[str, Any],
        registry_url: str,
        provider: str,
        channel: str,
        batch_records: int = DEFAULT_BATCH_RECORDS,
        batch_bytes: int = 512 * 1024,
        linger_s: float = 0.05,
    ) -> None:
        conf = {
            "enable.idempotence": True,
            "linger.ms": 20,
            "compression.type": "lz4",
            # the Java client's partitioner, so keys land where Kafka Streams / Faust expect
            "partitioner": "murmur2_random",
            **producer_conf,
        }
        self._producer = Producer(conf)
        self._registry = SchemaRegistryClient({"url": registry_url})
        self._encoders: dict[str, AvroEncoder] = {}
        self.provider = provider
        self.channel = channel
        self.report = DeliveryReport()
        self.batch_records = max(1, batch_records)
        self.batch_bytes = batch_bytes
        self.linger_s = linger_s
        self._pending: dict[tuple[str, int, str], _Pending] = {}
        self._partitions: dict[str, int] = {}
        # the upload in hand and its rows' (class, source key) → (content, receipt ms)
        self._seen_upload = ""
        self._seen: dict[tuple[str, str], tuple[int, int]] = {}
        # while set, messages go to the durable intake instead of the broker (`record_to`)
        self._recorder: UploadRecorder | None = None

    def record_to(self, recorder: UploadRecorder | None) -> None:
        """Send the messages that follow into `recorder` (the durable intake) instead of the
        broker; `publish_frames` produces them once the intake committed the upload."""
        self._recorder = recorder

    def _encoder(self, cls: InfoClass) -> AvroEncoder:
        enc = self._encoders.get(cls.code)
        if enc is None:
            schema = avro_schema(cls)
            import json

            text = json.dumps(schema, ensure_ascii=False)
            try:
                schema_id = self._schema_id(f"{cls.topic}-value", Schema(text, "AVRO"))
            except Exception as exc:
                raise PublishError(f"schema registry refused {cls.code}: {exc}") from exc
            enc = self._encoders[cls.code] = AvroEncoder(schema, schema_id)
        return enc

    def _schema_id(self, subject: str, schema: Schema) -> int:
        """The id of a schema the registry knows (a read, open to every client); registering
        a new one is a write, which the embedded registry allows admins only — `credit up`
        registers every catalog class itself at start."""
        try:
            return int(self._registry.lookup_schema(subject, schema).schema_id or 0)
        except SchemaRegistryError as exc:
            if exc.http_status_code != 404:
                raise
        return int(self._registry.register_schema(subject, schema))

    def _on_delivery(self, rows: list[int | None]) -> Any:
        def callback(err: KafkaError | None, _msg: Message) -> None:
            if err is None:
                self.report.delivered += len(rows)
            else:
                self.report.failed.extend((row, str(err)) for row in rows)

        return callback

    def _partition_count(self, topic: str) -> int:
        count = self._partitions.get(topic)
        if count is None:
            try:
                meta = self._producer.list_topics(topic, timeout=10).topics[topic]
            except Exception as exc:
                raise PublishError(f"cannot read the partitions of {topic}: {exc}") from exc
            if meta.error is not None or not meta.partitions:
                raise PublishError(f"topic {topic} is not available: {meta.error}")
            count = self._partitions[topic] = len(meta.partitions)
        return count

    def _headers(
        self, upload_id: str, row: int | None, source_key: str
    ) -> list[tuple[str, str | bytes | None]]:
        return [
            (env.H_PROVIDER, self.provider.encode()),
            (env.H_CHANNEL, self.channel.encode()),
            (env.H_UPLOAD, upload_id.encode()),
            (env.H_ROW, b"" if row is None else str(row).encode()),
            (env.H_SOURCE_KEY, source_key.encode()),
        ]

    def value_of(
        self,
        cls: InfoClass,
        record: Mapping[str, Any],
        upload_id: str,
        row: int | None,
        source_key: str,
    ) -> dict[str, Any]:
        """The Avro value: the class's fields plus where the record came from."""
        value = {name: record.get(name) for name in cls.by_name}
        value.update(
            ingest_provider=self.provider,
            ingest_channel=self.channel,
            ingest_upload_id=upload_id,
            ingest_row=row,
            ingest_source_key=source_key,
            ingest_received_at=self._received_ms(cls, upload_id, source_key, value),
        )
        return value

    def _received_ms(
        self, cls: InfoClass, upload_id: str, source_key: str, value: Mapping[str, Any]
    ) -> int:
        """When the record was received — for a row repeated word for word in the same
        upload, when its first copy was. The receipt time orders versions of a record
        (`version`), so the copy is the same version and the store keeps one row, where a
        millisecond later it was a "newer" version stored beside the first until a merge."""
        now = int(time.time() * 1000)
        if upload_id != self._seen_upload:
            self._seen_upload, self._seen = upload_id, {}
        content = hash(tuple(map(repr, value.values())))
        first = self._seen.setdefault((cls.code, source_key), (content, now))
        return first[1] if first[0] == content else now

    def send(
        self,
        cls: InfoClass,
        record: Mapping[str, Any],
        upload_id: str,
        row: int | None = None,
        source_key: str | None = None,
    ) -> list[Violation]:
        """Queue one typed record; returns the Avro problems (then it was dead-lettered instead)."""
        key = source_key or source_key_of(cls, record)
        value = self.value_of(cls, record, upload_id, row, key)
        encoder = self._encoder(cls)
        try:
            body = encoder.body(value)
        except Exception as exc:  # fastavro raises several types; explain with `validate`
            why = [Violation("avro.invalid", None, "记录不符合Avro模式", _why_invalid(value, encoder, exc))]  # fmt: skip
            self.reject(cls, record, upload_id, row, key, why)
            return why
        subject = subject_key(cls, record)
        if self.batch_records == 1:
            self._produce(cls.topic, encoder.encode(value), subject,
                          self._headers(upload_id, row, key), [row])  # fmt: skip
        else:
            self._add(cls.topic, subject, upload_id, encoder.schema_id, body, row)
        return []

    def _add(
        self, topic: str, key: bytes, upload_id: str, schema_id: int, body: bytes, row: int | None
    ) -> None:
        part = partition_for(key, self._partition_count(topic))
        now = time.monotonic()
        slot = (topic, part, upload_id)
        pending = self._pending.get(slot)
        if pending is None:
            pending = self._pending[slot] = _Pending(topic, part, upload_id, schema_id, now)
        pending.bodies.append(body)
        pending.rows.append(row)
        pending.size += len(body)
        if len(pending.bodies) >= self.batch_records or pending.size >= self.batch_bytes:
            self._ship(slot)
        for stale in [s for s, p in self._pending.items() if now - p.since >= self.linger_s]:
            self._ship(stale)

    def _ship(self, slot: tuple[str, int, str]) -> None:
        p = self._pending.pop(slot)
        headers: list[tuple[str, str | bytes | None]] = [
            (env.H_PROVIDER, self.provider.encode()),
            (env.H_CHANNEL, self.channel.encode()),
            (env.H_UPLOAD, p.upload_id.encode()),
            (env.H_BATCH, str(len(p.bodies)).encode()),
            (env.H_ROWS, env.rows_header(p.rows).encode()),
        ]
        self._produce(p.topic, frame_batch(p.schema_id, p.bodies), None, headers, p.rows,
                      partition=p.partition)  # fmt: skip

    def reject(
        self,
        cls: InfoClass,
        payload: Mapping[str, Any] | None,
        upload_id: str,
        row: int | None,
        source_key: str,
        reasons: list[Violation],
    ) -> None:
        """Dead-letter a row the channel could not turn into a record (it is still accounted)."""
        meta = {"provider": self.provider, "channel": self.channel, "upload_id": upload_id,
                "row": row, "source_key": source_key}  # fmt: skip
        dead = env.dead_letter(cls.code, meta, "producer", reasons, payload, raw=None,
                               received_ms=int(time.time() * 1000), position=None)  # fmt: skip
        self._produce(DEAD_LETTER_TOPIC, env.dumps(dead), upload_id.encode(), None, [row])

    def _produce(
        self,
        topic: str,
        value: bytes,
        key: bytes | None,
        headers: list[tuple[str, str | bytes | None]] | None,
        rows: list[int | None],
        partition: int = -1,
    ) -> None:
        if self._recorder is not None:
            pairs = tuple((n, v if isinstance(v, bytes) else (v or "").encode())
                          for n, v in headers or ())  # fmt: skip
            self._recorder.append(Frame(topic, partition, key, pairs, value))
            self.report.delivered += len(rows)  # counted once, when recorded
            return
        self._produce_now(topic, value, key, headers, partition, self._on_delivery(rows))

    def publish_frames(self, frames: Iterable[Frame], timeout: float = 120.0) -> int:
        """Produce recorded frames to the broker and wait for every acknowledgement (after
        the intake's commit, or again after the broker lost them); returns how many."""
        failed: list[str] = []

        def callback(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                failed.append(str(err))

        sent = 0
        for f in frames:
            self._produce_now(f.topic, f.value, f.key, list(f.headers), f.partition, callback)
            sent += 1
        remaining = self._producer.flush(timeout)
        if remaining or failed:
            first = failed[0] if failed else "timed out"
            raise PublishError(f"{remaining + len(failed)} of {sent} messages were not "
                               f"acknowledged by the broker ({first}); the intake keeps them")  # fmt: skip
        return sent

    def _produce_now(
        self,
        topic: str,
        value: bytes,
        key: bytes | None,
        headers: list[tuple[str, str | bytes | None]] | None,
        partition: int,
        callback: Any,
    ) -> None:
        while True:
            try:
                if partition >= 0:
                    self._producer.produce(topic, value, key, partition, headers=headers,
                                           on_delivery=callback)  # fmt: skip
                else:
                    self._producer.produce(topic, value, key, headers=headers, on_delivery=callback)
                break
            except BufferError:
                self._producer.poll(0.1)  # local queue full: wait for deliveries, then retry
        self._producer.poll(0)

    def record_upload(self, ledger: Mapping[str, Any]) -> None:
        """Publish the upload ledger entry (received / sent / rejected) for this upload."""
        self._produce(UPLOADS_TOPIC, env.dumps(ledger), str(ledger["upload_id"]).encode(), None, [])

    def flush(self, timeout: float = 60.0) -> DeliveryReport:
        """Send every pending batch and wait until the broker acknowledged everything."""
        for slot in list(self._pending):
            self._ship(slot)
        remaining = self._producer.flush(timeout)
        if remaining:
            raise PublishError(
                f"{remaining} messages not acknowledged by the broker in {timeout:.0f}s"
            )
        return self.report


def _why_invalid(value: Mapping[str, Any], encoder: AvroEncoder, exc: Exception) -> str:
    """The field-level explanation of a record the encoder refused (only on that path:
    validating every record up front cost more than encoding it)."""
    try:
        validate(value, encoder.parsed, raise_errors=True)
    except ValidationError as err:
        return "; ".join(str(e) for e in err.errors)
    return f"{type(exc).__name__}: {exc}"
