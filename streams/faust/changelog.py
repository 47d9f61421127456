"""The worker's writes to its Faust tables: the table's store, and its changelog through
the worker's confluent-kafka producer.

Why not `table[key] = value`: Faust sends each changelog record through aiokafka's producer,
pure Python from encoding to socket (≈100–150 µs per record measured here, plus a RocksDB
write per record for the persisted offset, plus stalls while Faust waits for its producer
buffer to drain); the worker writes one record per touched subject per chunk, so this was
the largest part of its per-record cost outside the pipeline. librdkafka does the same
send in a few µs.

What stays Faust's: the tables, their changelog topics (created by Faust), recovery from the
changelog after a restart and the global tables' continuous reading of theirs. Only the
write path changes, and it writes what Faust would: key and value in the table's own
serializers (so the store and Faust's recovery decode them), a tombstone for a
delete, on the partition Faust's partitioner gives the key (murmur2,
`state_store.partition_of`). Records are acknowledged by the producer flush that precedes
the batch's acknowledgement (so the changelog is never behind the input offsets, which
Faust's own `send_soon` did not promise); `settle()` then stores the last offset per
changelog partition as Faust's `_on_changelog_sent` does, once per partition and batch.
"""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from faust.types import TP

from streams.exceptions import ChangelogError
from streams.faust.state_store import KeyPartitionedRocksDBStore, changelog_partitions, partition_of

FENCE_KEY = b'"__credit_fence__"'  # a table key in Faust's JSON encoding, used by no table


class Changelog:
    """Writes table entries to their store and produces them to the table's changelog."""

    def __init__(self, producer: Producer) -> None:
        self.producer = producer
        self._stores: dict[str, Any] = {}  # changelog topic → the store of its table
        self._topics: dict[int, tuple[str, int]] = {}  # id(table) → changelog, partitions
        self._offsets: dict[tuple[str, int], int] = {}  # delivered, not yet persisted
        self._failed: list[str] = []

    def write(self, table: Any, key: str, value: Any) -> None:
        """Set (or, for `None`, delete) `key` in the table's store and its changelog."""
        store = table.data
        topic, partitions = self._topic_of(table)
        if isinstance(store, KeyPartitionedRocksDBStore):
            key_bytes, data, partition = store.write(key, value)
        else:  # the memory store keeps Python objects
            key_bytes = store._encode_key(key)
            data = None if value is None else store._encode_value(value)
            partition = partition_of(key_bytes, partitions)
            if value is None:
                store.pop(key, None)
            else:
                store[key] = value
        self._produce(topic, partition, key_bytes, data)

    def _topic_of(self, table: Any) -> tuple[str, int]:
        found = self._topics.get(id(table))
        if found is None:
            found = (table.changelog_topic.get_topic_name(), changelog_partitions(table))
            self._topics[id(table)] = found
            self._stores[found[0]] = table.data
        return found

    def settle(self) -> None:
        """After the producer's flush: fail the batch if a record was lost, else persist the
        last changelog offset per partition (where a restarted worker resumes recovery)."""
        failed, self._failed = self._failed, []
        offsets, self._offsets = self._offsets, {}
        if failed:
            raise ChangelogError(
                f"{len(failed)} 条状态变更日志写入失败，批次将重新投递 / {len(failed)} changelog "
                f"records were not written (first: {failed[0]}); the batch will be redelivered"
            )
        self._fence(offsets)
        for (topic, partition), offset in offsets.items():
            self._stores[topic].set_persisted_offset(TP(topic, partition), offset)

    def _fence(self, written: dict[tuple[str, int], int]) -> None:
        """A one-record produce batch after the data of every changelog partition written.

        Tansu reports a partition's end as the first offset of its *last produce batch* + 1:
        after a batch of n records that is n − 1 short of the true end, below the offset this
        worker persisted, and a restarted worker died in Faust's ConsistencyError, again and
        again. A last batch of one record makes the reported end the true end. The fence is a
        tombstone for a key no table uses (recovery deletes nothing).
        """
        if not written:
            return
        failed: list[str] = []

        def delivered(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                failed.append(f"{msg.topic()}[{msg.partition()}]: {err}")

        for topic, partition in written:
            self.producer.produce(topic, None, FENCE_KEY, partition=partition,
                                  on_delivery=delivered)  # fmt: skip
        if self.producer.flush(30) or failed:
            raise ChangelogError(
                f"状态变更日志栅栏写入失败 / changelog fence not written ({failed[:1]}); "
                "the batch will be redelivered"
            )

    def _produce(self, topic: str, partition: int, key: bytes, value: bytes | None) -> None:
        while True:
            try:
                self.producer.produce(topic, value, key, partition=partition,
                                      on_delivery=self._delivered)  # fmt: skip
                return
            except BufferError:
                self.producer.poll(0.05)
            except KafkaException as exc:  # refused at once (e.g. a partition the topic lacks)
                raise ChangelogError(
                    f"状态变更日志无法写入 {topic}[{partition}] / changelog record for "
                    f"{topic}[{partition}] refused: {exc}; the batch will be redelivered"
                ) from exc

    def _delivered(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self._failed.append(f"{msg.topic()}[{msg.partition()}]: {err}")
            return
        where, offset = (msg.topic() or "", msg.partition() or 0), msg.offset() or 0
        if offset > self._offsets.get(where, -1):
            self._offsets[where] = offset
