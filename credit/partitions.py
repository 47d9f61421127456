"""How many partitions a data dir's class topics have: fixed the first time the dir is used.

The embedded worker keeps its tables in RocksDB split by changelog partition
(`streams.faust.state_store`), and a key's partition depends on the count. A data dir started
again with another count would hide part of that state (until issue 20 this included every
subject's figures; now it is the subject registry, the figures being the sink's). So `credit
up` writes the count into the dir on first use and keeps to it afterwards; asking for
another one is refused.

The default is one partition per class topic because the embedded platform runs one worker,
and every partition costs CPU even when idle: Tansu answers each waiting fetch by scanning all
the partitions it names, about 20 times a second. See docs/benchmarks.md (session 4).
"""

from __future__ import annotations

from pathlib import Path

from base.settings import Settings
from credit.exceptions import PartitionCountError

RECORD_FILE = "topic-partitions"
# Dirs that have worker state but no record were made when the default was 2 (an explicit
# CREDIT_TOPIC_PARTITIONS is believed instead: the dir may have been run with it).
LEGACY_PARTITIONS = 2


def fixed_partitions(data_dir: Path, settings: Settings) -> int:
    """The dir's partition count: the recorded one, or (first use) the settings' one."""
    record = data_dir / RECORD_FILE
    asked = "topic_partitions" in settings.model_fields_set
    if record.exists():
        recorded = _read(record)
        if asked and settings.topic_partitions != recorded:
            raise PartitionCountError(
                f"{data_dir} was set up with {recorded} partition(s) per class topic and its "
                f"worker state is split that way; CREDIT_TOPIC_PARTITIONS="
                f"{settings.topic_partitions} would hide part of it. Unset "
                f"CREDIT_TOPIC_PARTITIONS, set it to {recorded}, or use another --data-dir."
            )
        return recorded
    older = (data_dir / "worker").exists() and not asked
    count = LEGACY_PARTITIONS if older else settings.topic_partitions
    record.write_text(f"{count}\n", encoding="utf-8")
    return count


def _read(record: Path) -> int:
    text = record.read_text(encoding="utf-8").strip()
    if not text.isdigit() or int(text) < 1:
        raise PartitionCountError(
            f"{record} should hold the number of partitions per class topic, "
            f"found {text!r}; write the number the dir was set up with"
        )
    return int(text)
