"""Create every topic of the platform with a real replication factor, before it starts.

Why this exists: `base.topics.ensure_topics` and the Faust worker create the topics they
miss with replication factor 1, which is right for the embedded single broker. On a cluster
with `min.insync.replicas=2` an `acks=all` producer (every producer of the platform is
idempotent, hence `acks=all`) cannot write to a topic with one replica: NOT_ENOUGH_REPLICAS.
So a real deployment runs this first; the platform then finds every topic in place and
creates nothing. Drop it once the platform takes its replication factor from a setting.

Reads the same `CREDIT_*` settings as the platform (bootstrap, security, partitions).
Idempotent: topics that exist are left exactly as they are (never re-partitioned here).

    python /opt/credit/create_topics.py --replication-factor 3
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

DAY_MS = 24 * 3600 * 1000

# The Faust worker's app id and its tables (streams/faust/worker.py: APP_ID, app.GlobalTable(...),
# app.Table(...)). Spelled out, not imported, because importing streams.faust.worker loads Faust; a
# unit test keeps them in step with the worker.
WORKER_APP_ID = "credit-worker"
WORKER_TABLES = ("subjects", "aliases")
DEAD_LETTER_TOPIC = "credit.deadletter"  # base.topics.DEAD_LETTER_TOPIC


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication: int
    config: dict[str, str] = field(default_factory=dict)


def plan(
    platform_topics: Iterable[str],
    partitions: int,
    replication: int,
    retention_days: float,
    dead_letter_retention_days: float,
) -> list[TopicSpec]:
    """The topics to exist: class + internal topics, then Faust's changelogs and leader topic."""
    specs = []
    for name in platform_topics:
        days = dead_letter_retention_days if name == DEAD_LETTER_TOPIC else retention_days
        specs.append(TopicSpec(name, partitions, replication,
                               {"retention.ms": str(int(days * DAY_MS))}))  # fmt: skip
    compacted = {"cleanup.policy": "compact"}
    # Faust: a table's changelog has the app's partition count and is compacted; the leader
    # topic has one partition.
    for table in WORKER_TABLES:
        specs.append(TopicSpec(f"{WORKER_APP_ID}-{table}-changelog", partitions, replication,
                               dict(compacted)))  # fmt: skip
    specs.append(TopicSpec(f"{WORKER_APP_ID}-__assignor-__leader", 1, replication))
    return specs


def create(admin: Any, specs: list[TopicSpec], timeout: float) -> list[str]:
    """Create the specs missing on the broker; returns the names created."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

    existing = set(admin.list_topics(timeout=timeout).topics)
    wanted = [s for s in specs if s.name not in existing]
    if not wanted:
        return []
    new = [NewTopic(s.name, num_partitions=s.partitions, replication_factor=s.replication,
                    config=s.config) for s in wanted]  # fmt: skip
    futures = admin.create_topics(new, operation_timeout=timeout)
    created = []
    for name, fut in futures.items():
        try:
            fut.result()
            created.append(name)
        except KafkaException as exc:
            # another replica of this job may have won the race
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise SystemExit(f"cannot create topic {name}: {exc}") from exc
    return created


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replication-factor", type=int, default=3)
    parser.add_argument("--retention-days", type=float, default=7.0,
                        help="class and internal topics (ClickHouse is the system of record)")  # fmt: skip
    parser.add_argument("--dead-letter-retention-days", type=float, default=30.0)
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args(argv)

    from confluent_kafka.admin import AdminClient  # type: ignore[attr-defined]

    from base.settings import Settings
    from base.topics import all_topics
    from schemas.catalog import default_catalog

    settings = Settings()
    if not settings.kafka_bootstrap:
        print("CREDIT_KAFKA_BOOTSTRAP is not set", file=sys.stderr)
        return 2
    specs = plan(all_topics(default_catalog()), settings.topic_partitions,
                 args.replication_factor, args.retention_days,
                 args.dead_letter_retention_days)  # fmt: skip
    admin = AdminClient(settings.kafka_config(settings.kafka_bootstrap))
    created = create(admin, specs, args.timeout)
    print(f"{len(specs)} topics wanted, {len(created)} created "
          f"(replication factor {args.replication_factor}, "
          f"{settings.topic_partitions} partitions)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
