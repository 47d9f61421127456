"""Record batches on the real broker: the SDK's partitioning agrees with librdkafka's, a
batched upload lands record by record, and the plain Confluent wire still works."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from base.broker import EmbeddedBroker
from producers.channel import publish_rows
from producers.publisher import Publisher, new_upload_id
from schemas import envelope as env
from schemas.catalog import Catalog
from schemas.codes import random_uscc
from schemas.partitioner import partition_for

if TYPE_CHECKING:
    from tests.integration.conftest import WaitFate

pytestmark = pytest.mark.integration
CODE = "legal_arrears"


def _row(uscc: str, n: int) -> dict[str, str]:
    return {
        "机构全称": f"企业{n}", "统一社会信用代码": uscc, "账号": f"W{n}", "欠缴类型名称": "水费",
        "欠缴统计开始日期": "2026-07-01", "欠缴统计截止日期": "2026-09-30", "拖欠天数": "92",
        "欠费金额": "100.00", "信息来源部门全称": "水务集团", "提供单位全称": "水务集团",
        "提供日期": "2026-10-20",
    }  # fmt: skip


def test_sdk_partitions_like_librdkafkas_murmur2_random(broker: EmbeddedBroker) -> None:
    topic = f"partitioner-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for future in admin.create_topics([NewTopic(topic, 5, 1)]).values():
        future.result(30)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "partitioner": "murmur2_random"})
    landed: dict[bytes | None, int | None] = {}
    keys = [random_uscc(random.Random(i)).encode() for i in range(300)]
    for key in keys:
        producer.produce(topic, b"x", key, on_delivery=lambda _e, m: landed.update({m.key(): m.partition()}))  # fmt: skip
    assert producer.flush(30) == 0
    assert {k: partition_for(k, 5) for k in keys} == landed
    assert len(set(landed.values())) == 5


def _messages_of(bootstrap: str, topic: str, upload_id: str) -> list[Any]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": uuid.uuid4().hex,
                         "enable.auto.commit": False})  # fmt: skip
    parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
    found, idle = [], 0
    while idle < 4:
        batch = consumer.consume(1000, timeout=0.5)
        idle = 0 if batch else idle + 1
        for msg in batch:
            if (
                msg.error() is None
                and env.headers_to_dict(msg.headers()).get(env.H_UPLOAD) == upload_id
            ):
                found.append(msg)
    consumer.close()
    return found


def test_a_batched_upload_is_stored_record_by_record(
    platform: dict[str, Any], catalog: Catalog, wait_fate: WaitFate
) -> None:
    rng = random.Random(41)
    codes = [random_uscc(rng) for _ in range(450)]
    bad = codes[17][:-1] + ("1" if codes[17][-1] != "1" else "2")  # wrong check character
    rows = [(n + 1, _row(bad if n == 17 else c, n)) for n, c in enumerate(codes)]
    publisher = Publisher({"bootstrap.servers": platform["bootstrap"]}, platform["registry_url"],
                          "水务集团", "sdk", batch_records=100, linger_s=30)  # fmt: skip
    upload_id = new_upload_id("sdk")
    result = publish_rows(publisher, catalog.get(CODE), catalog, rows, upload_id)
    assert (result.sent, publisher.report.delivered) == (450, 450)

    msgs = _messages_of(platform["bootstrap"], catalog.get(CODE).topic, upload_id)
    sizes = [int(env.headers_to_dict(m.headers())[env.H_BATCH]) for m in msgs]
    assert sum(sizes) == 450 and max(sizes) <= 100 and len(msgs) < 450 / 50
    for msg in msgs:  # a batch holds the rows of its own partition only
        listed = env.parse_rows(env.headers_to_dict(msg.headers())[env.H_ROWS])
        subjects = {codes[r - 1] if r != 18 else bad for r in listed if r is not None}
        assert {partition_for(s.encode(), 2) for s in subjects} == {msg.partition()}

    fate = wait_fate(upload_id)
    assert (fate["received"], fate["stored"], fate["rejected"]) == (450, 449, 1)


def test_one_record_per_message_is_plain_confluent_wire(
    platform: dict[str, Any], catalog: Catalog, wait_fate: WaitFate
) -> None:
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    rng = random.Random(42)
    rows = [(n + 1, _row(random_uscc(rng), n)) for n in range(5)]
    publisher = Publisher({"bootstrap.servers": platform["bootstrap"]}, platform["registry_url"],
                          "水务集团", "sdk", batch_records=1)  # fmt: skip
    upload_id = new_upload_id("sdk")
    publish_rows(publisher, catalog.get(CODE), catalog, rows, upload_id)
    topic = catalog.get(CODE).topic
    msgs = _messages_of(platform["bootstrap"], topic, upload_id)
    deserialize = AvroDeserializer(SchemaRegistryClient({"url": platform["registry_url"]}))
    ctx = SerializationContext(topic, MessageField.VALUE)
    decoded = [deserialize(m.value(), ctx) for m in msgs]
    assert Counter(d["ingest_upload_id"] for d in decoded) == {upload_id: 5}
    assert wait_fate(upload_id)["stored"] == 5
