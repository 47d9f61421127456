"""The durable intake on disk: accepted means fsync'd, damage is reported, pruning keeps
what the settings say (producers/durable_intake.py)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from producers.durable_intake import DECIDED, LEDGER, MESSAGES, SOURCE, DurableIntake, Frame
from producers.exceptions import IntakeError

frames = st.builds(
    Frame,
    topic=st.text(min_size=1, max_size=30),
    partition=st.integers(-1, 64),
    key=st.one_of(st.none(), st.binary(max_size=40)),
    headers=st.lists(st.tuples(st.text(max_size=20), st.binary(max_size=40)), max_size=5).map(
        tuple
    ),
    value=st.binary(max_size=2000),
)


@given(st.lists(frames, max_size=20))
def test_frames_come_back_exactly_as_recorded(tmp_path_factory: pytest.TempPathFactory,
                                              recorded: list[Frame]) -> None:  # fmt: skip
    intake = DurableIntake(tmp_path_factory.mktemp("intake"))
    recorder = intake.begin("u1")
    for f in recorded:
        recorder.append(f)
    recorder.commit({"upload_id": "u1", "received": len(recorded)})
    assert list(intake.frames("u1")) == recorded


def _accepted(intake: DurableIntake, upload_id: str, received: int = 3) -> None:
    recorder = intake.begin(upload_id)
    recorder.append(Frame("credit.in.x", -1, b"k", (("credit-upload", upload_id.encode()),), b"v"))
    recorder.commit({"upload_id": upload_id, "received": received, "class_code": "x"})


def test_an_upload_is_accepted_only_once_its_ledger_is_written(tmp_path: Path) -> None:
    intake = DurableIntake(tmp_path)
    recorder = intake.begin("half")
    recorder.append(Frame("t", 0, None, (), b"x"))
    assert intake.entry("half") is None and intake.undecided() == []  # not accepted yet
    _accepted(intake, "whole")
    entry = intake.entry("whole")
    assert entry is not None and entry.ledger["received"] == 3 and entry.decided is None
    assert [e.upload_id for e in intake.undecided()] == ["whole"]


def test_an_aborted_upload_leaves_nothing(tmp_path: Path) -> None:
    intake = DurableIntake(tmp_path)
    recorder = intake.begin("gone")
    recorder.append(Frame("t", 0, None, (), b"x"))
    recorder.abort()
    assert not (tmp_path / "gone").exists()


def test_a_cut_file_is_reported_not_read_as_fewer_rows(tmp_path: Path) -> None:
    intake = DurableIntake(tmp_path)
    _accepted(intake, "cut")
    data = (tmp_path / "cut" / MESSAGES).read_bytes()
    (tmp_path / "cut" / MESSAGES).write_bytes(data[:-2])
    with pytest.raises(IntakeError, match="cut short"):
        list(intake.frames("cut"))


def test_a_missing_file_is_an_intake_error(tmp_path: Path) -> None:
    intake = DurableIntake(tmp_path)
    _accepted(intake, "pruned")
    (tmp_path / "pruned" / MESSAGES).unlink()
    with pytest.raises(IntakeError, match="no longer holds"):
        list(intake.frames("pruned"))


def test_the_same_upload_id_cannot_be_taken_twice(tmp_path: Path) -> None:
    intake = DurableIntake(tmp_path)
    _accepted(intake, "once")
    with pytest.raises(IntakeError, match="already"):
        intake.begin("once")


def test_the_source_file_is_kept_as_provenance(tmp_path: Path) -> None:
    original = tmp_path / "水费.csv"
    original.write_text("a,b\n1,2\n", encoding="utf-8")
    intake = DurableIntake(tmp_path / "intake")
    recorder = intake.begin("file-1", original)
    recorder.commit({"upload_id": "file-1", "received": 1})
    assert (tmp_path / "intake" / "file-1" / SOURCE / "水费.csv").read_text() == "a,b\n1,2\n"


def _age(path: Path, seconds: float) -> None:
    data = json.loads(path.read_text())
    data["decided_ms"] = int((time.time() - seconds) * 1000)
    path.write_text(json.dumps(data))


def test_pruning_drops_messages_after_retention_and_the_folder_after_source_retention(
    tmp_path: Path,
) -> None:
    intake = DurableIntake(tmp_path)
    for name in ("fresh", "old", "ancient", "open"):
        _accepted(intake, name)
    for name, age in (("fresh", 10), ("old", 7200), ("ancient", 10**8)):
        intake.mark_decided(name, {"decided": 3})
        _age(tmp_path / "decided" / name / DECIDED, age)
    assert [e.upload_id for e in intake.entries()] == ["open"]  # decided ones moved aside
    old = intake.entry("old")
    assert old is not None and old.decided is not None
    (tmp_path / "decided" / "old" / SOURCE).mkdir()  # a file upload keeps its original
    _accepted(intake, "http")  # an HTTP request has none
    intake.mark_decided("http", {"decided": 3})
    _age(tmp_path / "decided" / "http" / DECIDED, 7200)
    intake.prune(messages_retention_s=3600, source_retention_s=10**7)
    done = tmp_path / "decided"
    assert (done / "fresh" / MESSAGES).exists()
    assert not (done / "old" / MESSAGES).exists() and (done / "old" / LEDGER).exists()
    assert not (done / "http").exists()
    assert not (done / "ancient").exists()
    assert (tmp_path / "open" / MESSAGES).exists()  # undecided: never pruned
    stats = intake.stats()
    assert (stats["uploads"], stats["undecided_uploads"], stats["oldest_undecided"]) == (
        1,
        1,
        "open",
    )
    with pytest.raises(IntakeError, match="already"):
        intake.begin("fresh")  # a decided upload's id is taken too


def test_unaccepted_folders_are_removed_once_their_writer_is_surely_gone(tmp_path: Path) -> None:
    intake = DurableIntake(tmp_path)
    intake.begin("dead-writer").append(Frame("t", 0, None, (), b"x"))
    intake.begin("live-writer")
    past = time.time() - 7200
    os.utime(tmp_path / "dead-writer", (past, past))
    assert intake.discard_unaccepted(older_than_s=3600) == 1
    assert not (tmp_path / "dead-writer").exists() and (tmp_path / "live-writer").exists()


def test_a_full_disk_refuses_the_upload_with_a_reason(tmp_path: Path) -> None:
    intake = DurableIntake(tmp_path)
    recorder = intake.begin("full")
    os.symlink("/dev/full", tmp_path / "full" / "dev-full")
    recorder._out = open(tmp_path / "full" / "dev-full", "wb")  # noqa: SIM115 - a disk that is full
    recorder.append(Frame("t", 0, None, (), b"x" * 100))
    with pytest.raises(IntakeError, match="not accepted"):
        recorder.commit({"upload_id": "full", "received": 1})
    assert not (tmp_path / "full").exists()
