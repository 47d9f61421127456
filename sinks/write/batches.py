"""How the sink cuts consumed messages into inserts that a restart re-forms identically.

Insert deduplication (`insert_deduplication_token`, `sinks.ddl.tables`) only helps if the insert
repeated after a crash carries the same token as the one that went through. A restarted
consumer resumes at the committed offsets, but its first `consume` may return more or fewer
messages, in other proportions per partition, and after a rebalance another sink may own some
of the partitions. So:

* a batch is one or more pieces (the messages of one source partition, an offset range); each
  table gets one insert per batch, with the token `table/<digest of the batch's ranges>`
  (an insert costs chDB ~10-30 ms whatever its size: one per piece and table was most of the
  sink's CPU);
* before inserting, the sink records the batch in `sink_batches`: one intent row per piece,
  each naming the whole batch (`Batch.describe`);
* after a restart, a partition whose consumed messages fall inside its last intent belongs to
  a batch that may be half inserted: its recorded ranges are read again — all of them, also
  those of partitions another sink owns now (`Sink.read_ranges`) — and inserted whole with
  the recorded tokens, so ClickHouse drops whatever went through. Only then are its pieces
  committed, those of this sink's partitions; anything after them goes into a later batch.
  If one of its partitions already has a later intent (or was consumed past it), the batch
  was inserted whole by someone and is only committed.

Guarantee: a batch inserted but not committed is not stored twice, physically, as long as
its re-insert happens within the table's last `DEDUP_WINDOW` inserts (the next start) and
its intent was recorded (the intent is written before any of its rows).

Intents written by an older sink carry no batch description: each is replayed as a batch
of its one piece with the token that sink used (`table/topic/partition/first-last`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from confluent_kafka import Message

from sinks.ddl.tables import INTENT_TABLE
from sinks.store import Store

INTENT_COLUMNS = (
    "group_id", "topic", "partition", "first_offset", "last_offset", "written_at", "batch",
)  # fmt: skip
TopicPartitionKey = tuple[str, int]
LEGACY = "piece:"  # the description of an older sink's intent: one piece, per-piece tokens


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
        """The per-piece token of an older sink (still used to replay its intents)."""
        return f"{table}/{self.topic}/{self.partition}/{self.first}-{self.last}"


@dataclass(frozen=True)
class Range:
    """A recorded piece: offsets `first`..`last` of one source partition."""

    topic: str
    partition: int
    first: int
    last: int

    @property
    def key(self) -> TopicPartitionKey:
        return (self.topic, self.partition)


def pieces(msgs: Iterable[Message]) -> list[Piece]:
    """Messages grouped by source partition, each group sorted by offset, groups sorted by
    (topic, partition): the same messages always give the same pieces in the same order."""
    grouped: dict[TopicPartitionKey, Piece] = {}
    for msg in msgs:
        key = (msg.topic() or "", msg.partition() or 0)
        grouped.setdefault(key, Piece(*key)).msgs.append(msg)
    for piece in grouped.values():
        piece.msgs.sort(key=lambda m: m.offset() or 0)
    return [grouped[k] for k in sorted(grouped)]


@dataclass
class Batch:
    """The pieces inserted together, and the name every insert's token derives from."""

    pieces: list[Piece]
    description: str

    @classmethod
    def of(cls, msgs: Iterable[Message]) -> Batch:
        got = pieces(msgs)
        return cls(got, describe(Range(p.topic, p.partition, p.first, p.last) for p in got))

    @property
    def msgs(self) -> list[Message]:
        return [m for p in self.pieces for m in p.msgs]

    def token(self, table: str) -> str:
        """The insert deduplication token of this batch's rows in `table`."""
        if self.description.startswith(LEGACY):
            return self.pieces[0].token(table)
        digest = hashlib.blake2b(self.description.encode(), digest_size=12).hexdigest()
        return f"{table}/{digest}"


def describe(ranges: Iterable[Range]) -> str:
    """A batch's ranges as text (`topic/partition/first-last;…`, sorted), its identity."""
    return ";".join(sorted(f"{r.topic}/{r.partition}/{r.first}-{r.last}" for r in ranges))


def ranges_of(description: str) -> list[Range]:
    """The inverse of `describe` (also for a `LEGACY` one-piece description)."""
    out = []
    for part in description.removeprefix(LEGACY).split(";"):
        topic_partition, _, span = part.rpartition("/")
        topic, _, partition = topic_partition.rpartition("/")
        first, _, last = span.partition("-")
        out.append(Range(topic, int(partition), int(first), int(last)))
    return out


def intent_rows(group: str, batch: Batch, now: dt.datetime) -> list[list[object]]:
    return [[group, p.topic, p.partition, p.first, p.last, now, batch.description]
            for p in batch.pieces]  # fmt: skip


@dataclass
class Split:
    """One consume's messages: `replay` names recorded batches to insert again, whole (their
    messages are read again, not taken from here); `rest` is new."""

    replay: list[str] = field(default_factory=list)
    rest: list[Message] = field(default_factory=list)


class Intents:
    """The last recorded batch per source partition of one consumer group."""

    def __init__(self, batches: dict[TopicPartitionKey, str] | None = None) -> None:
        self.batches = dict(batches or {})
        # partition → last offset already replayed and committed: later copies are dropped
        self.through: dict[TopicPartitionKey, int] = {}

    @classmethod
    def load(cls, store: Store, group: str) -> Intents:
        rows = store.query(
            "SELECT topic, partition, argMax(first_offset, written_at) AS f, "
            "argMax(last_offset, written_at) AS l, argMax(batch, written_at) AS b "
            f"FROM {store.database}.{INTENT_TABLE} "
            "WHERE group_id = {g:String} GROUP BY topic, partition",
            {"g": group},
        )
        batches = {}
        for r in rows:
            own = describe([Range(str(r["topic"]), int(r["partition"]), int(r["f"]), int(r["l"]))])
            batches[(str(r["topic"]), int(r["partition"]))] = str(r["b"]) or LEGACY + own
        return cls(batches)

    def _range(self, key: TopicPartitionKey) -> Range | None:
        recorded = self.batches.get(key)
        if recorded is None:
            return None
        return next(r for r in ranges_of(recorded) if r.key == key)

    def split(self, msgs: Sequence[Message]) -> Split:
        """Sort consumed messages into replay / rest (see the module docstring). An intent
        the consumed messages are past (committed) is forgotten."""
        out = Split()
        for piece in pieces(msgs):
            key = (piece.topic, piece.partition)
            through = self.through.get(key, -1)
            fresh = [m for m in piece.msgs if (m.offset() or 0) > through]
            recorded = self._range(key)
            if recorded is None:
                out.rest += fresh
                continue
            if not any((m.offset() or 0) <= recorded.last for m in fresh):
                out.rest += fresh
                del self.batches[key]
                continue
            if self.batches[key] not in out.replay:
                out.replay.append(self.batches[key])
            # before the range: never in a batch (cannot happen: commits end where ranges start)
            out.rest += [
                m for m in fresh if not recorded.first <= (m.offset() or 0) <= recorded.last
            ]
        return out

    def done_elsewhere(self, description: str) -> bool:
        """Was the batch inserted whole already? Yes if one of its partitions has moved on
        (a later intent, or consumed past it): a piece is committed only after its whole
        batch is inserted."""
        return any(self.batches.get(r.key) != description for r in ranges_of(description))

    def replayed(self, description: str, owned: Iterable[TopicPartitionKey]) -> None:
        """The batch is inserted and its pieces in `owned` committed."""
        mine = set(owned)
        for r in ranges_of(description):
            if self.batches.get(r.key) == description:
                del self.batches[r.key]
            if r.key in mine:
                self.through[r.key] = max(self.through.get(r.key, -1), r.last)

    def forget(self, keys: Iterable[TopicPartitionKey]) -> None:
        for key in keys:
            self.batches.pop(key, None)
            self.through.pop(key, None)
