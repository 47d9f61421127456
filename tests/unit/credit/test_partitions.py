"""A data dir keeps the partition count it was set up with (credit/partitions.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from base.settings import Settings
from credit.exceptions import PartitionCountError
from credit.partitions import RECORD_FILE, fixed_partitions


@pytest.fixture(autouse=True)
def _no_partitions_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CREDIT_TOPIC_PARTITIONS", raising=False)


def test_a_new_dir_takes_the_default_and_records_it(tmp_path: Path) -> None:
    assert fixed_partitions(tmp_path, Settings()) == 1
    assert (tmp_path / RECORD_FILE).read_text().strip() == "1"


def test_a_new_dir_takes_an_explicit_count(tmp_path: Path) -> None:
    assert fixed_partitions(tmp_path, Settings(topic_partitions=4)) == 4
    assert fixed_partitions(tmp_path, Settings()) == 4  # later starts keep it


def test_a_dir_with_worker_state_but_no_record_keeps_the_old_default(tmp_path: Path) -> None:
    (tmp_path / "worker" / "slot-0").mkdir(parents=True)
    assert fixed_partitions(tmp_path, Settings()) == 2
    assert (tmp_path / RECORD_FILE).read_text().strip() == "2"


def test_asking_for_another_count_is_refused_with_the_way_out(tmp_path: Path) -> None:
    fixed_partitions(tmp_path, Settings(topic_partitions=2))
    with pytest.raises(PartitionCountError) as err:
        fixed_partitions(tmp_path, Settings(topic_partitions=3))
    assert "set up with 2 partition(s)" in str(err.value)
    assert "CREDIT_TOPIC_PARTITIONS=3" in str(err.value)
    assert fixed_partitions(tmp_path, Settings(topic_partitions=2)) == 2


def test_a_damaged_record_is_named(tmp_path: Path) -> None:
    (tmp_path / RECORD_FILE).write_text("two\n")
    with pytest.raises(PartitionCountError, match="found 'two'"):
        fixed_partitions(tmp_path, Settings())


def test_an_older_dir_run_with_an_explicit_count_keeps_that_count(tmp_path: Path) -> None:
    (tmp_path / "worker" / "slot-0").mkdir(parents=True)
    assert fixed_partitions(tmp_path, Settings(topic_partitions=6)) == 6
    assert fixed_partitions(tmp_path, Settings()) == 6
