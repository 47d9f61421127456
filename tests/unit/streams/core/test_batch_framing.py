"""Record batches (many Avro records per Kafka message): framing, rows header, the pipeline.

A batch must add up like single messages do: every record it announced ends as a valid row
or a dead letter naming its row, however the batch is damaged.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas import envelope as env
from schemas.catalog import Catalog
from schemas.codec import AvroEncoder, frame_batch, is_batch, split_batch
from schemas.codes import random_uscc
from schemas.exceptions import BatchHeaderError, CodecError
from sinks.write.arrow_rows import records
from streams.core.pipeline import Outcome
from tests.unit.streams.core.test_pipeline import TODAY, Harness, arrears

CODE = "legal_arrears"


@given(st.lists(st.binary(max_size=300), max_size=40), st.integers(0, 2**31 - 1))
def test_split_batch_returns_exactly_the_bodies_framed(bodies: list[bytes], sid: int) -> None:
    data = frame_batch(sid, bodies)
    assert is_batch(data)
    assert split_batch(data) == (sid, bodies, None)


def test_split_batch_keeps_the_bodies_before_a_cut() -> None:
    data = frame_batch(9, [b"a" * 10, b"b" * 200, b"c" * 5])
    sid, bodies, err = split_batch(data[:-3])
    assert (sid, bodies) == (9, [b"a" * 10, b"b" * 200])
    assert err is not None and err.reason == "avro.truncated"


def test_a_confluent_frame_is_not_a_batch() -> None:
    with pytest.raises(CodecError, match="magic byte 0"):
        split_batch(b"\x00\x00\x00\x00\x07abc")


@given(st.lists(st.one_of(st.none(), st.integers(0, 10**6)), max_size=60))
def test_rows_header_round_trips(rows: list[int | None]) -> None:
    parsed = env.parse_rows(env.rows_header(rows))
    assert parsed + [None] * (len(rows) - len(parsed)) == rows


def test_consecutive_rows_collapse_to_a_range() -> None:
    assert env.rows_header([2, 3, 4, 5, 9, None, 11, 12]) == "2-5,9,,11-12"


class BatchHarness(Harness):
    def batch(self, records: list[dict[str, object]]) -> tuple[bytes, list[int | None]]:
        frames = [self.encode(CODE, r) for r in records]  # registers the schema
        encoder: AvroEncoder = self.encoders[CODE]
        bodies = [f[5:] for f in frames]
        return frame_batch(encoder.schema_id, bodies), [r.get("_row") for r in records]  # type: ignore[misc]

    def run_batch(
        self, value: bytes, rows: list[int | None], count: int | None = None
    ) -> list[Any]:
        self.offset += 1
        headers = {env.H_UPLOAD: "u1", env.H_PROVIDER: "水务", env.H_ROWS: env.rows_header(rows),
                   env.H_BATCH: str(len(rows) if count is None else count)}  # fmt: skip
        msg = env.Inbound(f"credit.in.{CODE}", 0, self.offset, None, value, headers, 0)
        return per_record(self.pipeline.process_message(msg, TODAY))


def per_record(outs: list[Outcome]) -> list[Outcome]:
    """One outcome per record: the rows of a columns outcome one by one."""
    return [
        one
        for o in outs
        for one in (
            [o]
            if o.columns is None
            else [Outcome(o.class_code, valid=r) for r in records(o.columns)]
        )
    ]


def _records(n: int, bad_rows: set[int] = frozenset()) -> list[dict[str, object]]:  # type: ignore[assignment]
    rng = random.Random(n)
    out = []
    for row in range(2, n + 2):
        uscc = random_uscc(rng)
        if row in bad_rows:
            uscc = uscc[:-1] + ("0" if uscc[-1] != "0" else "1")
        out.append(arrears(uscc, _row=row, _key=f"k{row}"))
    return out


def test_every_record_of_a_batch_is_decided_with_its_own_row(catalog: Catalog) -> None:
    h = BatchHarness(catalog)
    value, rows = h.batch(_records(50, bad_rows={7, 30}))
    outs = h.run_batch(value, rows)
    assert len(outs) == 50
    dead = sorted(o.dead["row"] for o in outs if o.dead is not None)
    assert dead == [7, 30]
    assert sorted(o.valid["ingest_row"] for o in outs if o.valid is not None) == [
        r for r in range(2, 52) if r not in (7, 30)
    ]


def test_a_corrupt_record_costs_only_that_record(catalog: Catalog) -> None:
    h = BatchHarness(catalog)
    frames = [h.encode(CODE, r)[5:] for r in _records(5)]
    frames[2] = b"\xff\xff\xff"  # announced length fits, body is garbage
    value = frame_batch(h.encoders[CODE].schema_id, frames)
    outs = h.run_batch(value, [2, 3, 4, 5, 6])
    assert sorted(o.valid["ingest_row"] for o in outs if o.valid is not None) == [2, 3, 5, 6]
    (dead,) = [o.dead for o in outs if o.dead is not None]
    assert dead["row"] == 4 and dead["stage"] == "decode" and dead["raw_b64"]


def test_a_truncated_batch_dead_letters_every_missing_row(catalog: Catalog) -> None:
    h = BatchHarness(catalog)
    value, rows = h.batch(_records(10))
    outs = h.run_batch(value[: len(value) // 2], rows)
    assert len(outs) == 10
    missing = [o.dead for o in outs if o.dead is not None]
    assert missing and {d["reasons"][0]["code"] for d in missing} == {"avro.truncated"}
    kept = [o.valid["ingest_row"] for o in outs if o.valid is not None]
    assert sorted(kept + [d["row"] for d in missing]) == rows
    assert sum(1 for d in missing if d["raw_b64"]) == 1  # the raw bytes once, not per row


def test_a_batch_shorter_than_announced_accounts_for_the_difference(catalog: Catalog) -> None:
    h = BatchHarness(catalog)
    value, rows = h.batch(_records(3))
    outs = h.run_batch(value, [*rows, 99, 100], count=5)
    assert [o.dead["row"] for o in outs if o.dead is not None] == [99, 100]


def test_a_batch_on_an_unknown_topic_is_refused_row_by_row(catalog: Catalog) -> None:
    h = BatchHarness(catalog)
    value, rows = h.batch(_records(4))
    headers = {env.H_UPLOAD: "u1", env.H_ROWS: env.rows_header(rows), env.H_BATCH: "4"}
    msg = env.Inbound("credit.in.nope", 0, 1, None, value, headers, 0)
    outs = h.pipeline.process_message(msg, TODAY)
    dead = [o.dead or {} for o in outs]
    assert [d.get("row") for d in dead] == rows
    assert {d["reasons"][0]["code"] for d in dead} == {"class.unknown"}


@pytest.mark.parametrize(
    ("count", "rows_header"),
    [(1_000_000_000, None), (None, "1-99999999"), (3, "1-2,5-400000000"), (10**18, "2-3")],
)
def test_headers_that_promise_more_than_the_body_cost_one_dead_letter(
    catalog: Catalog, count: int | None, rows_header: str | None
) -> None:
    """A hostile or damaged header is checked against the body before anything is built:
    the whole message becomes one dead letter with its position (issue 17)."""
    h = BatchHarness(catalog)
    value, rows = h.batch(_records(2))
    h.offset += 1
    headers = {env.H_UPLOAD: "u1", env.H_PROVIDER: "水务",
               env.H_ROWS: rows_header if rows_header is not None else env.rows_header(rows),
               env.H_BATCH: str(count if count is not None else len(rows))}  # fmt: skip
    msg = env.Inbound(f"credit.in.{CODE}", 3, 77, None, value, headers, 0)
    outs = h.pipeline.process_message(msg, TODAY)
    assert len(outs) == 1 and outs[0].dead is not None
    dead = outs[0].dead
    assert [r["code"] for r in dead["reasons"]] == ["batch.header"]
    assert (dead["topic"], dead["partition"], dead["offset"]) == (f"credit.in.{CODE}", 3, 77)


def test_parse_rows_refuses_more_rows_than_the_limit_without_building_them() -> None:
    with pytest.raises(BatchHeaderError):
        env.parse_rows("1-99999999999", limit=1000)
    assert env.parse_rows("2-4,,7", limit=5) == [2, 3, 4, None, 7]
