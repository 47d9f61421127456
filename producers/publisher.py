"""The SDK every channel uses: validate against the class's Avro schema, frame, produce.

Used by the file uploader, the HTTP gateway and the database poller, and by providers' own
Python code. A record that cannot be encoded is not dropped: it goes to the dead-letter topic
with its row and reason, so the upload still adds up.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, Message, Producer
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from fastavro.validation import ValidationError, validate

from credit.topics import DEAD_LETTER_TOPIC, UPLOADS_TOPIC
from producers.exceptions import PublishError
from schemas.avro import avro_schema
from schemas.catalog import InfoClass
from schemas.codec import AvroEncoder
from schemas.violations import Violation
from streams import envelope as env


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


class Publisher:
    """Publishes records of any class for one provider through one channel.

    `producer_conf` are librdkafka keys (bootstrap, security); `registry_url` is a Confluent
    compatible schema registry (the embedded platform serves one).
    """

    def __init__(
        self,
        producer_conf: Mapping[str, Any],
        registry_url: str,
        provider: str,
        channel: str,
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

    def _encoder(self, cls: InfoClass) -> AvroEncoder:
        enc = self._encoders.get(cls.code)
        if enc is None:
            schema = avro_schema(cls)
            import json

            text = json.dumps(schema, ensure_ascii=False)
            try:
                schema_id = self._registry.register_schema(
                    f"{cls.topic}-value", Schema(text, "AVRO")
                )
            except Exception as exc:
                raise PublishError(f"schema registry refused {cls.code}: {exc}") from exc
            enc = self._encoders[cls.code] = AvroEncoder(schema, schema_id)
        return enc

    def _on_delivery(self, row: int | None) -> Any:
        def callback(err: KafkaError | None, _msg: Message) -> None:
            if err is None:
                self.report.delivered += 1
            else:
                self.report.failed.append((row, str(err)))

        return callback

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
        value = {name: record.get(name) for name in cls.by_name}
        value.update(
            ingest_provider=self.provider,
            ingest_channel=self.channel,
            ingest_upload_id=upload_id,
            ingest_row=row,
            ingest_source_key=key,
            ingest_received_at=int(time.time() * 1000),
        )
        encoder = self._encoder(cls)
        try:
            validate(value, encoder.parsed, raise_errors=True)
        except ValidationError as exc:
            why = [Violation("avro.invalid", None, "记录不符合Avro模式", "; ".join(exc.errors))]
            self.reject(cls, record, upload_id, row, key, why)
            return why
        self._produce(cls.topic, encoder.encode(value), subject_key(cls, record),
                      self._headers(upload_id, row, key), row)  # fmt: skip
        return []

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
        self._produce(DEAD_LETTER_TOPIC, env.dumps(dead), upload_id.encode(), None, row)

    def _produce(
        self,
        topic: str,
        value: bytes,
        key: bytes,
        headers: list[tuple[str, str | bytes | None]] | None,
        row: int | None,
    ) -> None:
        while True:
            try:
                self._producer.produce(
                    topic, value, key, headers=headers, on_delivery=self._on_delivery(row)
                )
                break
            except BufferError:
                self._producer.poll(0.1)  # local queue full: wait for deliveries, then retry
        self._producer.poll(0)

    def record_upload(self, ledger: Mapping[str, Any]) -> None:
        """Publish the upload ledger entry (received / sent / rejected) for this upload."""
        self._produce(
            UPLOADS_TOPIC, env.dumps(ledger), str(ledger["upload_id"]).encode(), None, None
        )

    def flush(self, timeout: float = 60.0) -> DeliveryReport:
        remaining = self._producer.flush(timeout)
        if remaining:
            raise PublishError(
                f"{remaining} messages not acknowledged by the broker in {timeout:.0f}s"
            )
        return self.report
