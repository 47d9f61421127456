"""Internal-topic messages in both shapes, and dead letters for rows the store refuses."""

from __future__ import annotations

import datetime as dt

from sinks.write.rows import (
    STORE_REJECTED,
    dead_letter_row,
    entries,
    store_dead_letter,
    valid_records,
)

NOW = dt.datetime(2025, 6, 10, 9, 0, tzinfo=dt.UTC)


def test_valid_messages_carry_one_record_or_a_list() -> None:
    one, two = {"record_key": "a"}, {"record_key": "b"}
    assert valid_records({"class_code": "c", "row": one}) == [one]
    assert valid_records({"class_code": "c", "rows": [one, two]}) == [one, two]
    assert valid_records({"class_code": "c", "rows": []}) == []


def test_aggregate_and_subject_messages_are_one_object_or_a_list() -> None:
    entry = {"subject_id": "s1", "kind": "legal"}
    assert entries(entry) == [entry]
    assert entries({"rows": [entry, entry]}) == [entry, entry]


def test_a_refused_record_keeps_its_provider_row_and_clickhouse_s_reason() -> None:
    record = {"ingest_upload_id": "u1", "ingest_row": 7, "ingest_provider": "供水公司",
              "ingest_channel": "file", "ingest_source_key": "k7", "ingest_received_at": 1000,
              "id_number": "11010519491231002X"}  # fmt: skip
    reason = "value 11010519491231002X out of range"
    letter = store_dead_letter("natural_arrears", record, reason, ("credit.valid", 1, 42), NOW)
    assert letter["dl_key"] == "u1:7" and letter["stage"] == "sink"
    assert letter["reasons"][0]["code"] == STORE_REJECTED
    assert "11010519491231002X" not in letter["reasons"][0]["message_en"]
    assert (letter["topic"], letter["partition"], letter["offset"]) == ("credit.valid", 1, 42)
    assert len(dead_letter_row(letter)) == 17


def test_a_refused_registry_entry_is_keyed_by_where_it_was_read() -> None:
    letter = store_dead_letter("", {"subject_id": "s1"}, "bad", ("credit.subjects", 0, 3), NOW)
    assert letter["dl_key"] == "sink:credit.subjects:0:3:s1" and letter["row"] is None
