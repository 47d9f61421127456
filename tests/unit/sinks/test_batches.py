"""How consumed messages become inserts a restart re-forms identically (`sinks.batches`)."""

from __future__ import annotations

from confluent_kafka import Message

from sinks.batches import Intents, pieces


def msgs(topic: str, partition: int, offsets: range) -> list[Message]:
    return [Message(topic=topic, partition=partition, offset=o, value=b"{}") for o in offsets]


def offsets(batch: list[Message]) -> list[tuple[str | None, int | None, int | None]]:
    return [(m.topic(), m.partition(), m.offset()) for m in batch]


def test_pieces_group_by_partition_in_offset_order_with_range_tokens() -> None:
    mixed = msgs("v", 1, range(5, 8)) + msgs("v", 0, range(3, 5)) + msgs("d", 0, range(0, 1))
    got = pieces(list(reversed(mixed)))
    assert [(p.topic, p.partition, p.first, p.last) for p in got] == [
        ("d", 0, 0, 0), ("v", 0, 3, 4), ("v", 1, 5, 7),
    ]  # fmt: skip
    assert got[2].token("cls_x") == "cls_x/v/1/5-7"


def test_a_larger_batch_after_a_crash_replays_the_recorded_range_first() -> None:
    intents = Intents({("v", 0): (10, 14)})
    split = intents.split(msgs("v", 0, range(10, 30)) + msgs("v", 1, range(0, 3)))
    assert offsets(split.replay) == offsets(msgs("v", 0, range(10, 15)))
    assert offsets(split.rest) == offsets(msgs("v", 0, range(15, 30)) + msgs("v", 1, range(0, 3)))
    assert split.held == [] and intents.ranges == {}
    assert pieces(split.replay)[0].token("t") == "t/v/0/10-14"


def test_a_smaller_batch_after_a_crash_waits_for_the_rest_of_the_range() -> None:
    intents = Intents({("v", 0): (10, 14)})
    first = intents.split(msgs("v", 0, range(10, 12)) + msgs("v", 1, range(0, 2)))
    assert first.replay == [] and offsets(first.rest) == offsets(msgs("v", 1, range(0, 2)))
    assert offsets(first.held) == offsets(msgs("v", 0, range(10, 12)))
    second = intents.split(first.held + msgs("v", 0, range(12, 16)))
    assert offsets(second.replay) == offsets(msgs("v", 0, range(10, 15)))
    assert offsets(second.rest) == offsets(msgs("v", 0, range(15, 16)))


def test_a_committed_intent_is_forgotten() -> None:
    intents = Intents({("v", 0): (10, 14)})
    split = intents.split(msgs("v", 0, range(15, 20)))
    assert offsets(split.rest) == offsets(msgs("v", 0, range(15, 20))) and intents.ranges == {}
