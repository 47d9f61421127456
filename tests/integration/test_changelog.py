"""The worker's changelog writer on the real broker: it writes what Faust's own table write
would (same key and value bytes, same partition), persists the last offset per partition,
and a record the broker refuses fails the batch instead of vanishing."""

from __future__ import annotations

from typing import Any

import faust
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from base.broker import EmbeddedBroker
from streams.exceptions import ChangelogError
from streams.faust.changelog import FENCE_KEY, Changelog
from streams.faust.state_store import partition_of

pytestmark = pytest.mark.integration


def _table(broker: EmbeddedBroker, app_id: str, partitions: int) -> Any:
    """A Faust table as the worker declares it (memory store; the app is never started)."""
    app = faust.App(app_id, broker=f"kafka://{broker.bootstrap}", store="memory://",
                    topic_partitions=partitions)  # fmt: skip
    schema: faust.Schema[str, Any] = faust.Schema(
        key_type=str, key_serializer="raw", value_serializer="json"
    )
    return app.Table("state", default=None, schema=schema, use_partitioner=True)


def _create(broker: EmbeddedBroker, topic: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(10)


def _read(broker: EmbeddedBroker, topic: str, partitions: int, count: int) -> list[Any]:
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": f"r-{topic}",
                         "auto.offset.reset": "earliest"})  # fmt: skip
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got: list[Any] = []
    for _ in range(50):
        got += [m for m in consumer.consume(count, timeout=0.5) if m.error() is None]
        if len(got) >= count:
            break
    consumer.close()
    return got


def test_records_match_fausts_own_encoding_and_offsets_are_persisted(
    broker: EmbeddedBroker, unique: str
) -> None:
    table = _table(broker, f"cl-{unique}", 2)
    topic = table.changelog_topic.get_topic_name()
    _create(broker, topic, 2)
    changelog = Changelog(Producer({"bootstrap.servers": broker.bootstrap}))
    persisted: dict[Any, int] = {}
    table.data.set_persisted_offset = lambda tp, offset: persisted.__setitem__(tp, offset)
    values = {f"91320281MA{n:08d}": {"kinds": {"power": n}} for n in range(20)}
    for key, value in values.items():
        changelog.write(table, key, value)
    changelog.write(table, "gone", {"x": 1})
    changelog.write(table, "gone", None)  # a delete: a tombstone, and gone from the store
    changelog.producer.flush(10)
    changelog.settle()

    assert dict(table.data) == values
    everything = _read(broker, topic, 2, 24)
    assert len(everything) == 24  # 22 records and one fence per partition
    for p in (0, 1):  # the fence is the last record of each partition written, alone
        mine = sorted((m for m in everything if m.partition() == p), key=lambda m: m.offset())
        assert (mine[-1].key(), mine[-1].value()) == (FENCE_KEY, None)
    records = [m for m in everything if m.key() != FENCE_KEY]
    assert len(records) == 22
    for msg in records:
        key = table.data._encode_key(msg.key().decode().strip('"'))
        assert msg.key() == key  # the key as Faust's serializer writes it (JSON)
        assert msg.partition() == partition_of(key, 2)
    by_key = {m.key(): m.value() for m in records}
    assert by_key[b'"gone"'] is None
    for key, value in values.items():
        assert by_key[table.data._encode_key(key)] == table.data._encode_value(value)
    last = {p: max(m.offset() for m in records if m.partition() == p) for p in (0, 1)}
    assert {tp.partition: offset for tp, offset in persisted.items()} == last


def test_a_record_the_broker_refuses_fails_the_batch(broker: EmbeddedBroker, unique: str) -> None:
    table = _table(broker, f"cl-bad-{unique}", 8)  # the table expects 8 partitions...
    _create(broker, table.changelog_topic.get_topic_name(), 1)  # ...the topic has one
    changelog = Changelog(Producer({"bootstrap.servers": broker.bootstrap,
                                    "message.timeout.ms": 3000}))  # fmt: skip
    keys = [k for k in (f"s{n}" for n in range(40))
            if partition_of(table.data._encode_key(k), 8) > 0]  # fmt: skip
    # refused at once if the producer knows the topic already, else on delivery: either way
    # the batch fails (ChangelogError) rather than being acknowledged
    with pytest.raises(ChangelogError, match="changelog record"):
        for key in keys[:3]:
            changelog.write(table, key, {"n": 1})
        changelog.producer.flush(10)
        changelog.settle()
    changelog.settle()  # reported once: the next batch starts clean
