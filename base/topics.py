"""Topic names and their explicit creation (auto-created topics get the broker's default count)."""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from base.exceptions import TopicError
from schemas.catalog import Catalog

VALID_TOPIC = "credit.valid"
DEAD_LETTER_TOPIC = "credit.deadletter"
UPLOADS_TOPIC = "credit.uploads"
SUBJECTS_TOPIC = "credit.subjects"
INTERNAL_TOPICS = (VALID_TOPIC, DEAD_LETTER_TOPIC, UPLOADS_TOPIC, SUBJECTS_TOPIC)


def all_topics(catalog: Catalog) -> list[str]:
    return [cls.topic for cls in catalog] + list(INTERNAL_TOPICS)


def ensure_topics(
    conf: dict[str, Any], catalog: Catalog, partitions: int, replication: int = 1
) -> list[str]:
    """Create every class topic and internal topic that does not exist yet; returns the new ones."""
    return ensure_named_topics(conf, all_topics(catalog), partitions, replication)


def ensure_named_topics(
    conf: dict[str, Any], names: list[str], partitions: int, replication: int = 1
) -> list[str]:
    """Create those of `names` that do not exist yet (another client creating one meanwhile
    is fine); returns the new ones."""
    admin = AdminClient(conf)
    existing = set(admin.list_topics(timeout=10).topics)
    wanted = [t for t in names if t not in existing]
    if not wanted:
        return []
    futures = admin.create_topics(
        [NewTopic(t, num_partitions=partitions, replication_factor=replication) for t in wanted],
        operation_timeout=10,
    )
    for topic, fut in futures.items():
        try:
            fut.result()
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise TopicError(f"cannot create topic {topic}: {exc}") from exc
    return wanted
