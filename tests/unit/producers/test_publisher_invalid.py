"""The SDK encodes without validating first; a record Avro refuses still gets a field-level
reason (from `validate`, run only on that path) and is dead-lettered, not sent."""

from __future__ import annotations

import datetime as dt

from producers.publisher import Publisher
from schemas.avro import avro_schema
from schemas.catalog import Catalog
from schemas.codec import AvroEncoder


def _publisher(catalog: Catalog) -> Publisher:
    # nothing listens on port 9: produce() only queues, nothing is delivered or needed
    conf = {"bootstrap.servers": "127.0.0.1:9", "log_level": 0}
    pub = Publisher(conf, "http://127.0.0.1:9", "水务", "sdk")
    cls = catalog.get("legal_arrears")
    pub._encoders[cls.code] = AvroEncoder(avro_schema(cls), 1)
    return pub


def test_a_value_avro_refuses_is_dead_lettered_with_the_field(catalog: Catalog) -> None:
    pub = _publisher(catalog)
    cls = catalog.get("legal_arrears")
    record = {"org_name": "某公司", "uscc": "91320281MA1MXXXX00", "arrears_amount": "很多",
              "provide_date": dt.date(2026, 10, 20)}  # fmt: skip
    why = pub.send(cls, record, "u1", row=4)
    assert [v.code for v in why] == ["avro.invalid"]
    assert "arrears_amount" in why[0].message_en
    assert not pub._pending  # nothing queued for the class topic
    assert len(pub._producer) == 1  # the dead letter, waiting for a broker
    pub._producer.purge()


def test_good_records_wait_in_one_batch_per_partition(catalog: Catalog) -> None:
    pub = _publisher(catalog)
    pub._partitions[catalog.get("legal_arrears").topic] = 3
    cls = catalog.get("legal_arrears")
    for n in range(30):
        record = {"org_name": f"公司{n}", "uscc": f"9132028100000{n:05d}", "arrears_amount": 1.0,
                  "provide_date": dt.date(2026, 10, 20)}  # fmt: skip
        assert pub.send(cls, record, "u1", row=n) == []
    assert sum(len(p.bodies) for p in pub._pending.values()) == 30
    assert {slot[1] for slot in pub._pending} <= {0, 1, 2} and len(pub._pending) <= 3
