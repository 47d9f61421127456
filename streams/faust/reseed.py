"""Re-seed the worker's changelog topics from its RocksDB databases after a broker loss.

Why: the embedded broker keeps topics in memory. After it restarts, the worker's tables
(the subject registry) survive on disk, but their changelog topics are empty
and the offsets Faust persisted in each database point past their end: Faust stopped with
`ConsistencyError`, again on every restart (issue 17). Before such a worker starts, the
platform copies every entry of every partition database into that partition of the table's
changelog (one record per key: the latest value) and removes the persisted offset, so
Faust recovers the same state from offset 0.

Where several slots hold a database of the same table partition (a worker restarted while
its old slot was still held), the most recently written one is the current one.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, Message, Producer
from rocksdict import AccessType, Options, Rdict

from streams.exceptions import ReseedError

log = logging.getLogger("credit.reseed")
OFFSET_KEY = b"__faust\0offset__"  # faust.stores.rocksdb.Store.offset_key
_DB_NAME = re.compile(r"^(?P<table>.+)-(?P<partition>\d+)\.db$")


def changelog_topic(app_id: str, table: str) -> str:
    return f"{app_id}-{table}-changelog"


def current_databases(worker_dir: Path) -> dict[tuple[str, int], Path]:
    """(table, partition) → the newest database of it under any `slot-N/*/tables/`."""
    found: dict[tuple[str, int], Path] = {}
    for path in worker_dir.glob("slot-*/*/tables/*.db"):
        m = _DB_NAME.match(path.name)
        if m is None or not path.is_dir():
            continue
        key = (m["table"], int(m["partition"]))
        if key not in found or _mtime(path) > _mtime(found[key]):
            found[key] = path
    return found


def _mtime(db: Path) -> float:
    return max((p.stat().st_mtime for p in db.iterdir()), default=db.stat().st_mtime)


def reseed(
    worker_dir: Path,
    producer_conf: dict[str, Any],
    app_id: str,
    ensure_topic: Callable[[str], object],
) -> dict[str, int]:
    """Copy each current database into its changelog partition; returns records per table.
    Stale copies in other slots are removed, so a worker never reads them first."""
    dbs = current_databases(worker_dir)
    producer = Producer({**producer_conf, "linger.ms": 20, "enable.idempotence": True})
    failed: list[str] = []

    def delivered(err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            failed.append(f"{msg.topic()}[{msg.partition()}]: {err}")

    counts: dict[str, int] = {}
    for (table, partition), path in sorted(dbs.items()):
        topic = changelog_topic(app_id, table)
        ensure_topic(topic)
        counts[table] = counts.get(table, 0) + _copy(path, producer, topic, partition, delivered)
    if producer.flush(120) or failed:
        raise ReseedError(f"worker state not re-seeded into its changelogs: {failed[:3]}")
    for (_table, _partition), path in dbs.items():
        _drop_offset(path)
    _remove_stale(worker_dir, set(dbs.values()))
    log.warning("broker lost its topics: worker state re-seeded from disk %s", counts)
    return counts


def _copy(path: Path, producer: Producer, topic: str, partition: int,
          delivered: Callable[[KafkaError | None, Message], None]) -> int:  # fmt: skip
    db = Rdict(str(path), Options(raw_mode=True), access_type=AccessType.read_only())
    n = 0
    try:
        for key, value in db.items():
            assert isinstance(key, bytes) and isinstance(value, bytes)  # raw mode
            if key == OFFSET_KEY:
                continue
            while True:
                try:
                    producer.produce(topic, value, key, partition=partition,
                                     on_delivery=delivered)  # fmt: skip
                    break
                except BufferError:
                    producer.poll(0.1)
            n += 1
    finally:
        db.close()
    return n


def _drop_offset(path: Path) -> None:
    db = Rdict(str(path), Options(raw_mode=True))
    try:
        if OFFSET_KEY in db:
            del db[OFFSET_KEY]
    finally:
        db.close()


def _remove_stale(worker_dir: Path, keep: set[Path]) -> None:
    for path in worker_dir.glob("slot-*/*/tables/*.db"):
        if path not in keep:
            shutil.rmtree(path, ignore_errors=True)
