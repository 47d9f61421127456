"""The worker's state store settings: slot directories, RocksDB options, key partitions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from aiokafka.partitioner import DefaultPartitioner

from credit.settings import Settings
from streams.state_store import claim_datadir, partition_of, store_url, table_options


def test_second_worker_gets_its_own_slot_and_a_dead_workers_slot_is_reused(
    tmp_path: Path,
) -> None:
    assert claim_datadir(tmp_path) == tmp_path / "slot-0"
    assert claim_datadir(tmp_path) == tmp_path / "slot-1"  # slot-0 is held (by this process)
    child = "from streams.state_store import claim_datadir; import sys; "
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
