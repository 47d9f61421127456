"""Kafka's murmur2 key partitioner, checked against the Java client's own test vectors."""

from __future__ import annotations

import pytest

from schemas.partitioner import murmur2, partition_for


@pytest.mark.parametrize(
    ("key", "java_signed"),
    [
        ("21", -973932308),
        ("foobar", -790332482),
        ("a-little-bit-long-string", -985981536),
        ("a-little-bit-longer-string", -1486304829),
        ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        ("abc", 479470107),
    ],
)
def test_murmur2_matches_kafkas_utils_test(key: str, java_signed: int) -> None:
    assert murmur2(key.encode()) == java_signed & 0xFFFFFFFF


def test_partition_is_positive_hash_modulo_count() -> None:
    assert partition_for(b"foobar", 7) == (-790332482 & 0x7FFFFFFF) % 7
    assert {partition_for(str(i).encode(), 4) for i in range(200)} == {0, 1, 2, 3}
