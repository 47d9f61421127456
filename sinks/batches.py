"""How the sink cuts consumed messages into inserts that a restart re-forms identically.

Insert deduplication (`insert_deduplication_token`, `sinks.ddl`) only helps if the insert
repeated after a crash carries the same token as the one that went through. A restarted
consumer resumes at the committed offsets, but its first `consume` may return more or fewer
messages, in other proportions per partition. So:

* every insert holds the messages of one source partition (a `Piece`), and its token is
  `table/topic/partition/first-last` — independent of what else was in the batch;
* before inserting, the sink records each piece's range in `sink_batches` (an intent);
* after a restart, a partition whose consumed messages fall inside its last intent is
  replayed as exactly that range — waiting for the rest of the range if the first consume
  returned only part of it — and anything after it goes into a later piece.

Guarantee: a batch inserted but not committed is not stored twice, physically, as long as
its re-insert happens within the table's last `DEDUP_WINDOW` inserts (the next start) and
its intent was recorded (the intent is written before any of its rows).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from confluent_kafka import Message

if TYPE_CHECKING:
    from sinks.store import Store

INTENT_TABLE = "sink_batches"
INTENT_COLUMNS = ("group_id", "topic", "partition", "first_offset", "last_offset", "written_at")
TopicPartitionKey = tuple[str, int]


@dataclass
class Piece:
    """The messages of one source partition in one batch, in offset order."""

    topic: str
    partition: int
    msgs: list[Message] = field(default_factory=list)

    @property
    def first(self) -> int:
        return int(self.msgs[0].offset() or 0)

    @property
    def last(self) -> int:
        return int(self.msgs[-1].offset() or 0)

    def token(self, table: str) -> str:
        """The insert deduplication token of this piece's rows in `table`."""
        return f"{table}/{self.topic}/{self.partition}/{self.first}-{self.last}"


def pieces(msgs: Iterable[Message]) -> list[Piece]:
    """Messages grouped by source partition, each group sorted by offset."""
    grouped: dict[TopicPartitionKey, Piece] = {}
    for msg in msgs:
        key = (msg.topic() or "", msg.partition() or 0)
        grouped.setdefault(key, Piece(*key)).msgs.append(msg)
    for piece in grouped.values():
        piece.msgs.sort(key=lambda m: m.offset() or 0)
    return list(grouped.values())


def intent_rows(group: str, batch: Sequence[Piece], now: dt.datetime) -> list[list[object]]:
    return [[group, p.topic, p.partition, p.first, p.last, now] for p in batch]


@dataclass
class Split:
    """One consume's messages: `replay` re-forms recorded intents, `rest` is new, `held`
    waits for the rest of an intent's range."""

    replay: list[Message] = field(default_factory=list)
    rest: list[Message] = field(default_factory=list)
    held: list[Message] = field(default_factory=list)


class Intents:
    """The last recorded range per source partition of one consumer group."""

    def __init__(self, ranges: dict[TopicPartitionKey, tuple[int, int]] | None = None) -> None:
        self.ranges = dict(ranges or {})

    @classmethod
    def load(cls, store: Store, group: str) -> Intents:
        rows = store.query(
            "SELECT topic, partition, argMax(first_offset, written_at) AS f, "
            f"argMax(last_offset, written_at) AS l FROM {store.database}.{INTENT_TABLE} "
            "WHERE group_id = {g:String} GROUP BY topic, partition",
            {"g": group},
        )
        return cls(
            {(str(r["topic"]), int(r["partition"])): (int(r["f"]), int(r["l"])) for r in rows}
        )

    def split(self, msgs: Sequence[Message]) -> Split:
        """Sort consumed messages into replay / rest / held (see the module docstring).

        An intent whose range the consumed messages are past (committed) is forgotten.
        """
        out = Split()
        for piece in pieces(msgs):
            key = (piece.topic, piece.partition)
            if key not in self.ranges:
                out.rest += piece.msgs
                continue
            first, last = self.ranges[key]
            inside = [m for m in piece.msgs if first <= (m.offset() or 0) <= last]
            if not inside:
                out.rest += piece.msgs
                del self.ranges[key]
            elif (inside[-1].offset() or 0) < last:
                out.held += piece.msgs
            else:
                out.replay += [m for m in piece.msgs if (m.offset() or 0) <= last]
                out.rest += [m for m in piece.msgs if (m.offset() or 0) > last]
                del self.ranges[key]
        return out

    def forget(self, keys: Iterable[TopicPartitionKey]) -> None:
        for key in keys:
            self.ranges.pop(key, None)
