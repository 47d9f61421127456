"""How consumed messages become inserts a restart re-forms identically (`sinks.write.batches`)."""

from __future__ import annotations

from confluent_kafka import Message

from sinks.write.batches import LEGACY, Batch, Intents, Range, describe, pieces, ranges_of


def msgs(topic: str, partition: int, offsets: range) -> list[Message]:
    return [Message(topic=topic, partition=partition, offset=o, value=b"{}") for o in offsets]


def offsets(batch: list[Message]) -> list[tuple[str | None, int | None, int | None]]:
    return [(m.topic(), m.partition(), m.offset()) for m in batch]


def test_pieces_group_by_partition_in_offset_order() -> None:
    mixed = msgs("v", 1, range(5, 8)) + msgs("v", 0, range(3, 5)) + msgs("d", 0, range(0, 1))
    got = pieces(list(reversed(mixed)))
    assert [(p.topic, p.partition, p.first, p.last) for p in got] == [
        ("d", 0, 0, 0), ("v", 0, 3, 4), ("v", 1, 5, 7),
    ]  # fmt: skip


def test_a_batch_has_one_token_per_table_whatever_the_order_of_its_messages() -> None:
    mixed = msgs("v.x", 1, range(5, 8)) + msgs("v.x", 0, range(3, 5)) + msgs("d", 0, range(1))
    batch, again = Batch.of(mixed), Batch.of(list(reversed(mixed)))
    assert batch.description == "d/0/0-0;v.x/0/3-4;v.x/1/5-7"
    assert batch.token("cls_x") == again.token("cls_x") != batch.token("outcomes")
    assert batch.token("cls_x") != Batch.of(mixed[:-1]).token("cls_x")
    assert ranges_of(batch.description) == [Range("d", 0, 0, 0), Range("v.x", 0, 3, 4),
                                            Range("v.x", 1, 5, 7)]  # fmt: skip


def test_an_older_sinks_intent_replays_with_its_per_piece_token() -> None:
    batch = Batch(pieces(msgs("v", 1, range(5, 8))), LEGACY + describe([Range("v", 1, 5, 7)]))
    assert batch.token("cls_x") == "cls_x/v/1/5-7"


def test_a_larger_consume_after_a_crash_replays_the_recorded_batch_first() -> None:
    recorded = describe([Range("v", 0, 10, 14), Range("v", 1, 0, 2)])
    intents = Intents({("v", 0): recorded, ("v", 1): recorded})
    split = intents.split(msgs("v", 0, range(10, 30)) + msgs("v", 1, range(0, 5)))
    assert split.replay == [recorded]
    assert offsets(split.rest) == offsets(msgs("v", 0, range(15, 30)) + msgs("v", 1, range(3, 5)))
    assert not intents.done_elsewhere(recorded)


def test_a_smaller_consume_after_a_crash_still_replays_the_whole_batch() -> None:
    recorded = describe([Range("v", 0, 10, 14), Range("v", 1, 0, 2)])
    intents = Intents({("v", 0): recorded, ("v", 1): recorded})
    split = intents.split(msgs("v", 0, range(10, 12)))
    assert split.replay == [recorded] and split.rest == []
    intents.replayed(recorded, [("v", 0), ("v", 1)])
    later = intents.split(msgs("v", 0, range(12, 16)) + msgs("v", 1, range(0, 4)))
    assert later.replay == []
    assert offsets(later.rest) == offsets(msgs("v", 0, range(15, 16)) + msgs("v", 1, range(3, 4)))


def test_a_batch_with_a_partition_moved_on_was_inserted_whole() -> None:
    recorded = describe([Range("v", 0, 10, 14), Range("v", 1, 0, 2)])
    newer = describe([Range("v", 1, 3, 9)])
    intents = Intents({("v", 0): recorded, ("v", 1): newer})
    assert intents.split(msgs("v", 0, range(10, 15))).replay == [recorded]
    assert intents.done_elsewhere(recorded)


def test_a_committed_intent_is_forgotten() -> None:
    recorded = describe([Range("v", 0, 10, 14)])
    intents = Intents({("v", 0): recorded})
    split = intents.split(msgs("v", 0, range(15, 20)))
    assert offsets(split.rest) == offsets(msgs("v", 0, range(15, 20))) and intents.batches == {}
