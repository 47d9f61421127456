"""The worker's state store settings: slot directories, RocksDB options, key partitions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from aiokafka.partitioner import DefaultPartitioner

from base.settings import Settings
from streams.faust.state_store import claim_datadir, partition_of, store_url, table_options


def test_second_worker_gets_its_own_slot_and_a_dead_workers_slot_is_reused(
    tmp_path: Path,
) -> None:
    assert claim_datadir(tmp_path) == tmp_path / "slot-0"
    assert claim_datadir(tmp_path) == tmp_path / "slot-1"  # slot-0 is held (by this process)
    child = "from streams.faust.state_store import claim_datadir; import sys; "
    child += f"print(claim_datadir(__import__('pathlib').Path({str(tmp_path)!r})).name)"
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True)
    assert out.stdout.strip() == "slot-2"
    again = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True)
    assert again.stdout.strip() == "slot-2"  # its previous holder exited: free again


def test_keys_go_to_the_partition_the_changelog_producer_picks() -> None:
    pick = DefaultPartitioner()
    for key in (b"91350100M000100Y43", b"110101199003077777", b"x", b""):
        assert partition_of(key, 2) == pick(key, [0, 1], [0, 1])
        assert partition_of(key, 12) == pick(key, list(range(12)), [])


def test_rocksdb_options_are_bounded_and_memory_store_has_none() -> None:
    disk = Settings(worker_store="rocksdb", worker_store_cache_mb=4)
    assert store_url(disk) == "credit-rocksdb://"
    opts = table_options(disk)
    assert opts["driver"] == "rocksdict" and opts["block_cache_size"] == 4 * 1024 * 1024
    assert table_options(disk) is not opts  # Faust pops from it: one dict per table
    memory = Settings(worker_store="memory")
    assert (store_url(memory), table_options(memory)) == ("memory://", {})


def test_fast_encoding_is_byte_for_byte_fausts(tmp_path: Path) -> None:
    """The worker's read/write path skips Faust's serializer registry; what it writes must
    still be what Faust's own store and changelog recovery decode."""
    import faust

    from streams.faust.state_store import KeyPartitionedRocksDBStore, encode_key, encode_value

    app = faust.App("enc-test", broker="kafka://127.0.0.1:1", store="credit-rocksdb://",
                    datadir=str(tmp_path), topic_partitions=2)  # fmt: skip
    schema: faust.Schema[str, Any] = faust.Schema(
        key_type=str, key_serializer="raw", value_serializer="json"
    )
    table = app.Table("t", default=None, schema=schema, use_partitioner=True,
                      options={"driver": "rocksdict"})  # fmt: skip
    store = table.data
    assert isinstance(store, KeyPartitionedRocksDBStore)
    values = [{"name": "江阴市某某有限公司", "registered": True, "n": 1.5},
              {"power": {"k": "power", "hw": 24310, "b": {"ab": [1, 2, 0.5]}, "a": {}}},
              {"1": [None, "x\"y\\z"]}]  # fmt: skip
    for key, value in zip(["91320281MA1X2Y3Z4Q", "护照:E123", 'q"uote'], values, strict=True):
        assert encode_key(key) == store._encode_key(key)
        assert encode_value(value) == store._encode_value(value)
        key_bytes, data, partition = store.write(key, value)
        assert data == encode_value(value)
        assert partition == partition_of(key_bytes, 2)
        assert store[key] == value == store.read(key)  # Faust's own read agrees
    store.write("护照:E123", None)
    assert store.read("护照:E123") is None and "护照:E123" not in store


def test_encoded_keys_are_exactly_sized() -> None:
    """orjson's bytes keep its ≈4 KB working buffer; the partition cache holds 65,536 keys,
    so keys must be built at their size (this was most of the worker's growth at 1M)."""
    import tracemalloc

    import orjson

    from streams.faust.state_store import encode_key

    for key in ["91320281MA1X2Y3Z4Q", "护照:E123", 'q"uote', "back\\slash", "tab\tkey", "\u2028"]:
        assert encode_key(key) == orjson.dumps(key)
    tracemalloc.start()
    try:
        keys = [encode_key(f"91320281MA{i:08d}") for i in range(1000)]
        per_key = tracemalloc.get_traced_memory()[0] / len(keys)
    finally:
        tracemalloc.stop()
    assert per_key < 200
