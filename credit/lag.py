"""Consumer lag per partition: a group's committed offset against the partition's end.

Lag is read from the broker, not from inside the consumers: a stuck or dead consumer commits
nothing, and that is exactly when its lag must keep growing on the dashboard. One monitor
covers both groups (the Faust workers over the class topics, the sink over the internal
topics); it runs in the process that owns the sink (`credit up`, `credit sink`), so a
deployment has as many copies of each series as it has sink replicas, whatever the number of
workers (queries take `max by (group, topic, partition)`).

Caveat (DESIGN, "More Tansu facts"): the embedded Tansu broker reports a partition's end as
the first offset of its last batch + 1, not the true end, so there the figure is a lower
bound (exact when the last batch held one message). On Apache Kafka it is exact.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import (
    ConsumerGroupTopicPartitions,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]
from prometheus_client import Gauge

from credit.exceptions import LagError
from schemas.catalog import Catalog
from sinks.write.writer import SINK_GROUP, SINK_TOPICS

log = logging.getLogger("credit.lag")
WORKER_GROUP = "credit-worker"  # streams.faust.worker.APP_ID: Faust's group id is its app id
NO_OFFSET = -1001  # librdkafka's OFFSET_INVALID: the group never committed this partition


@dataclass(frozen=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    committed: int  # NO_OFFSET when the group has not committed yet
    end: int
    lag: int


def behind(committed: int, start: int, end: int) -> int:
    """Messages a group has still to read in one partition.

    A group that never committed reads from the start (every group here resets to
    `earliest`). Never negative: on Tansu `end` can sit below a committed offset.
    """
    position = committed if committed >= 0 else start
    return max(end - position, 0)


def lag_groups(catalog: Catalog) -> dict[str, tuple[str, ...]]:
    """Consumer group → the topics it consumes."""
    return {WORKER_GROUP: tuple(c.topic for c in catalog), SINK_GROUP: tuple(SINK_TOPICS)}


class LagSampler:
    """Reads start, end and committed offsets of every partition of the groups' topics."""

    def __init__(
        self,
        admin_conf: Mapping[str, Any],
        groups: Mapping[str, Sequence[str]],
        timeout: float = 10.0,
    ) -> None:
        self.admin = AdminClient(dict(admin_conf))
        self.groups = groups
        self.timeout = timeout

    def sample(self) -> list[PartitionLag]:
        """One reading: two ListOffsets requests plus one OffsetFetch per group."""
        self.admin.poll(0)  # serves error_cb (broker errors are counted there)
        by_topic = self._partitions({t for topics in self.groups.values() for t in topics})
        every = [tp for tps in by_topic.values() for tp in tps]
        if not every:
            return []
        starts = self._offsets(every, OffsetSpec.earliest())  # type: ignore[no-untyped-call]
        ends = self._offsets(every, OffsetSpec.latest())  # type: ignore[no-untyped-call]
        out: list[PartitionLag] = []
        for group, topics in self.groups.items():
            tps = [tp for t in topics for tp in by_topic.get(t, [])]
            for (topic, part), committed in self._committed(group, tps).items():
                start, end = starts[(topic, part)], ends[(topic, part)]
                lag = behind(committed, start, end)
                out.append(PartitionLag(group, topic, part, committed, end, lag))
        return out

    def _partitions(self, topics: set[str]) -> dict[str, list[TopicPartition]]:
        try:
            meta = self.admin.list_topics(timeout=self.timeout)
        except KafkaException as exc:
            raise LagError(f"cannot read topic metadata: {exc}") from exc
        return {
            name: [TopicPartition(name, p) for p in sorted(t.partitions)]
            for name, t in meta.topics.items()
            if name in topics and t.error is None
        }

    def _offsets(self, tps: list[TopicPartition], spec: OffsetSpec) -> dict[tuple[str, int], int]:
        futures = self.admin.list_offsets({tp: spec for tp in tps}, request_timeout=self.timeout)
        try:
            return {(tp.topic, tp.partition): f.result().offset for tp, f in futures.items()}
        except KafkaException as exc:
            raise LagError(f"cannot list offsets: {exc}") from exc

    def _committed(self, group: str, tps: list[TopicPartition]) -> dict[tuple[str, int], int]:
        if not tps:
            return {}
        request = [ConsumerGroupTopicPartitions(group, tps)]
        futures = self.admin.list_consumer_group_offsets(request, request_timeout=self.timeout)
        try:
            result = futures[group].result()
        except KafkaException as exc:
            raise LagError(f"cannot read the offsets of group {group}: {exc}") from exc
        return {(tp.topic, tp.partition): tp.offset for tp in result.topic_partitions}


class LagMonitor:
    """Samples lag every `interval` seconds in a daemon thread into `credit_consumer_lag`."""

    def __init__(self, sampler: LagSampler, gauge: Gauge, interval: float = 10.0) -> None:
        self.sampler = sampler
        self.gauge = gauge
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lag", daemon=True)

    def sample_once(self) -> list[PartitionLag]:
        lags = self.sampler.sample()
        for item in lags:
            self.gauge.labels(item.group, item.topic, str(item.partition)).set(item.lag)
        return lags

    def start(self) -> LagMonitor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.sampler.timeout + 5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sample_once()
            except LagError as exc:
                # the previous figures stay; the broker-errors counter tells why
                log.warning("consumer lag not sampled: %s", exc)
            self._stop.wait(self.interval)
