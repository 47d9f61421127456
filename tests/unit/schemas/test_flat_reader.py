"""`schemas.flat_reader` against fastavro: the same record for every body it reads, and a
refusal (so fastavro decides) for every body it does not vouch for."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.avro import avro_schema
from schemas.catalog import Catalog, default_catalog
from schemas.codec import AvroDecoder, AvroEncoder
from schemas.exceptions import CodecError
from schemas.flat_reader import NotFlat, compile_reader

CATALOG = default_catalog()
SCHEMAS = {cls.code: avro_schema(cls) for cls in CATALOG}
PARSED = {code: fastavro.parse_schema(s) for code, s in SCHEMAS.items()}
READERS = {code: compile_reader(s) for code, s in SCHEMAS.items()}

_VALUES: dict[Any, st.SearchStrategy[Any]] = {
    "string": st.text(max_size=70),
    "long": st.integers(-(2**63), 2**63 - 1),
    "double": st.floats(allow_nan=False),  # NaN != NaN; NaN itself is checked below
    "boolean": st.booleans(),
    "date": st.dates(),
    "timestamp-millis": st.integers(-(2**40), 2**45).map(
        lambda ms: dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=ms)
    ),
}


def _strategy(avro_type: Any) -> st.SearchStrategy[Any]:
    if isinstance(avro_type, list):
        return st.one_of(st.none(), _strategy(avro_type[1]))
    if isinstance(avro_type, dict):
        return _VALUES[avro_type["logicalType"]]
    return _VALUES[avro_type]


@st.composite
def records(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    code = draw(st.sampled_from(sorted(SCHEMAS)))
    fields = SCHEMAS[code]["fields"]
    return code, {f["name"]: draw(_strategy(f["type"])) for f in fields}


def _fastavro(code: str, body: bytes) -> dict[str, Any]:
    buf = io.BytesIO(body)
    record = fastavro.schemaless_reader(buf, PARSED[code], None)
    assert buf.tell() == len(body)
    assert isinstance(record, dict)
    return record


def _body(code: str, record: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, PARSED[code], record)
    return buf.getvalue()


def test_every_class_schema_is_flat() -> None:
    assert all(reader is not None for reader in READERS.values())


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "record", "name": "R", "fields": [{"name": "a", "type": "bytes"}]},
        {"type": "record", "name": "R", "fields": [{"name": "a", "type": ["string", "null"]}]},
        {"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}]},
        {"type": "record", "name": "R", "fields": []},
        {"type": "array", "items": "string"},
    ],
)
def test_other_schemas_get_no_reader(schema: dict[str, Any]) -> None:
    assert compile_reader(schema) is None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records())
def test_reads_what_fastavro_reads(item: tuple[str, dict[str, Any]]) -> None:
    code, record = item
    body = _body(code, record)
    reader = READERS[code]
    assert reader is not None
    assert reader(body) == _fastavro(code, body)


def _empty(code: str) -> dict[str, Any]:
    """A record of `code` with every optional field empty."""
    record: dict[str, Any] = {f["name"]: None for f in SCHEMAS[code]["fields"]}
    ingest = {"provider": "p", "channel": "c", "upload_id": "u", "source_key": "k"}
    record.update({f"ingest_{k}": v for k, v in ingest.items()}, ingest_received_at=0)
    return record


def test_nan_reads_as_nan() -> None:
    code = "legal_utility_payment"
    record = _empty(code) | {"amount": float("nan")}
    reader = READERS[code]
    assert reader is not None
    value = reader(_body(code, record))["amount"]
    assert value != value


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records(), st.data())
def test_a_damaged_body_is_read_as_fastavro_reads_it_or_refused(
    item: tuple[str, dict[str, Any]], data: st.DataObject
) -> None:
    """Flipped, cut or added bytes: whenever the flat reader answers, fastavro agrees."""
    code, record = item
    body = bytearray(_body(code, record))
    for _ in range(data.draw(st.integers(1, 3))):
        how = data.draw(st.sampled_from(["flip", "cut", "add"]))
        at = data.draw(st.integers(0, max(len(body) - 1, 0)))
        if how == "flip" and body:
            body[at] = data.draw(st.integers(0, 255))
        elif how == "cut":
            del body[at:]
        else:
            body[at:at] = data.draw(st.binary(min_size=1, max_size=4))
    reader = READERS[code]
    assert reader is not None
    try:
        flat = reader(bytes(body))
    except NotFlat:
        return
    reference = _fastavro(code, bytes(body))
    assert flat == reference or repr(flat) == repr(reference)  # a damaged double may be NaN


def test_decoder_falls_back_to_fastavro_and_keeps_its_errors() -> None:
    code = "natural_arrears"
    text = json.dumps(SCHEMAS[code], ensure_ascii=False)
    decoder = AvroDecoder(lambda _: text)
    body = AvroEncoder(SCHEMAS[code], 1).body(_empty(code) | {"ingest_received_at": 5})
    assert decoder.decode_body(1, body)["ingest_received_at"] == dt.datetime(
        1970, 1, 1, 0, 0, 0, 5000, tzinfo=dt.UTC
    )
    with pytest.raises(CodecError) as cut:
        decoder.decode_body(1, body[:-3])
    assert cut.value.reason == "avro.truncated"
    with pytest.raises(CodecError) as extra:
        decoder.decode_body(1, body + b"\x00")
    assert extra.value.reason == "avro.malformed"


def test_catalog_fixture_matches(catalog: Catalog) -> None:
    assert {c.code for c in catalog} == set(SCHEMAS)
