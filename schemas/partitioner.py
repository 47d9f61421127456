"""Kafka's default key partitioner (murmur2, as the Java client and librdkafka's
`murmur2_random` compute it), so the SDK can group records by the partition they will land in.

A record batch holds records of one partition only, and every record of a subject goes to
the same partition, so one worker decides a subject's records in the order they were sent.
"""

from __future__ import annotations

import struct

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """32-bit murmur2 of `data`, unsigned (Java's `Utils.murmur2` & 0xffffffff)."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    end = length - length % 4
    for k in struct.unpack_from(f"<{end // 4}I", data):  # the 4-byte words, little-endian
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = length % 4
    if tail == 3:
        h ^= data[end + 2] << 16
    if tail >= 2:
        h ^= data[end + 1] << 8
    if tail >= 1:
        h ^= data[end]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner picks for a non-null key."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions
