"""The embedded registry over HTTP, driven by the real confluent-kafka client and serializers.

If these pass, any Confluent-compatible producer or consumer can point `schema.registry.url`
at the embedded registry unchanged.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from schemas.exceptions import RegistryStateError
from schemas.registry_api import add_registry_routes
from schemas.registry_store import RegistryStore

pytestmark = pytest.mark.integration

SUBJECT = "credit.legal_arrears-value"

ARREARS_V1: dict[str, Any] = {
    "type": "record",
    "name": "LegalArrears",
    "namespace": "credit.classes",
    "doc": "社会法人欠缴费用信息",
    "fields": [
        {"name": "uscc", "type": "string", "doc": "统一社会信用代码"},
        {"name": "arrears_amount", "type": "double", "doc": "欠缴金额"},
    ],
}
ARREARS_V2 = {
    **ARREARS_V1,
    "fields": [
        *ARREARS_V1["fields"],
        {"name": "severity", "type": ["null", "string"], "default": None, "doc": "失信严重程度"},
    ],
}
ARREARS_BROKEN = {
    **ARREARS_V1,
    "fields": [*ARREARS_V1["fields"], {"name": "severity", "type": "string"}],
}


MakeClient = Callable[[str], SchemaRegistryClient]


def avro(schema: dict[str, Any]) -> Schema:
    return Schema(json.dumps(schema, ensure_ascii=False), "AVRO")


async def metrics(request: web.Request) -> web.Response:
    return web.Response(text="up 1\n")


@contextmanager
def serve(store: RegistryStore) -> Iterator[str]:
    """Run the routes on a free loopback port in a background event loop; yield the URL.

    The app also serves `/metrics`, as the platform's host app does, to show the registry
    only adds its own paths.
    """
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    app = web.Application()
    app.router.add_get("/metrics", metrics)
    add_registry_routes(app, store)
    runner = web.AppRunner(app)

    async def start() -> str:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        return f"http://{host}:{port}"

    try:
        yield asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=5)
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    return tmp_path / "registry" / "state.json"


@pytest.fixture
def url(state_file: Path) -> Iterator[str]:
    with serve(RegistryStore(state_file)) as base_url:
        yield base_url


@pytest.fixture
def new_client() -> Iterator[MakeClient]:
    """Makes clients with empty caches (answers really come from the server); closes them."""
    made: list[SchemaRegistryClient] = []

    def make(url: str) -> SchemaRegistryClient:
        made.append(SchemaRegistryClient({"url": url}))
        return made[-1]

    yield make
    for registry in made:
        registry.close()


@pytest.fixture
def client(url: str, new_client: MakeClient) -> SchemaRegistryClient:
    return new_client(url)


def test_registered_schema_is_fetched_back_by_id(
    client: SchemaRegistryClient, url: str, new_client: MakeClient
) -> None:
    schema_id = client.register_schema(SUBJECT, avro(ARREARS_V1))
    fresh = new_client(url)  # no cache
    fetched = fresh.get_schema(schema_id)
    assert fetched.schema_type == "AVRO"
    assert json.loads(fetched.schema_str or "") == ARREARS_V1  # Chinese docs intact
    assert fresh.get_schema_versions(schema_id)[0].subject == SUBJECT


def test_latest_version_and_lookup_agree(client: SchemaRegistryClient) -> None:
    schema_id = client.register_schema(SUBJECT, avro(ARREARS_V1))
    latest = client.get_latest_version(SUBJECT)
    assert (latest.subject, latest.version, latest.schema_id) == (SUBJECT, 1, schema_id)
    # Same schema, different layout and key order: still found.
    reordered = json.dumps(dict(reversed(list(ARREARS_V1.items()))), indent=4)
    found = client.lookup_schema(SUBJECT, Schema(reordered, "AVRO"))
    assert (found.version, found.schema_id) == (1, schema_id)
    assert client.get_subjects() == [SUBJECT]
    assert client.get_versions(SUBJECT) == [1]


def test_registering_again_is_idempotent_and_ids_are_global(
    client: SchemaRegistryClient, url: str, new_client: MakeClient
) -> None:
    first = client.register_schema(SUBJECT, avro(ARREARS_V1))
    again = new_client(url)
    assert again.register_schema(SUBJECT, avro(ARREARS_V1)) == first
    assert client.get_versions(SUBJECT) == [1]
    assert client.register_schema("other-value", avro(ARREARS_V1)) == first


def test_compatible_change_becomes_version_2(client: SchemaRegistryClient) -> None:
    v1 = client.register_schema(SUBJECT, avro(ARREARS_V1))
    assert client.test_compatibility(SUBJECT, avro(ARREARS_V2)) is True
    v2 = client.register_schema(SUBJECT, avro(ARREARS_V2))
    assert v2 != v1
    assert client.get_version(SUBJECT, 2).schema_id == v2


def test_incompatible_change_is_refused_naming_the_field(client: SchemaRegistryClient) -> None:
    client.register_schema(SUBJECT, avro(ARREARS_V1))
    assert client.test_compatibility(SUBJECT, avro(ARREARS_BROKEN), verbose=True) is False
    with pytest.raises(SchemaRegistryError) as err:
        client.register_schema(SUBJECT, avro(ARREARS_BROKEN))
    assert err.value.http_status_code == 409
    assert "field 'severity' added without a default" in err.value.error_message
    assert client.get_versions(SUBJECT) == [1]


def test_level_none_lets_any_change_through(client: SchemaRegistryClient) -> None:
    client.register_schema(SUBJECT, avro(ARREARS_V1))
    assert client.get_compatibility() == "BACKWARD"
    client.set_compatibility(SUBJECT, "none")
    assert client.get_compatibility(SUBJECT) == "NONE"
    client.register_schema(SUBJECT, avro(ARREARS_BROKEN))
    assert client.get_versions(SUBJECT) == [1, 2]


@pytest.mark.parametrize(
    ("call", "status", "code"),
    [
        (lambda c: c.get_latest_version("nobody-value"), 404, 40401),
        (lambda c: c.get_version(SUBJECT, 9), 404, 40402),
        (lambda c: c.get_schema(999), 404, 40403),
        (lambda c: c.lookup_schema(SUBJECT, avro(ARREARS_V2)), 404, 40403),
        (lambda c: c.get_version(SUBJECT, 0), 422, 42202),
        (lambda c: c.register_schema(SUBJECT, Schema('{"type": "recrd"}', "AVRO")), 422, 42201),
        (lambda c: c.set_compatibility(SUBJECT, "SIDEWAYS"), 422, 42203),
        (lambda c: c.get_compatibility(SUBJECT), 404, 40408),
    ],
)
def test_errors_come_back_in_confluent_shape(
    client: SchemaRegistryClient, call: Any, status: int, code: int
) -> None:
    client.register_schema(SUBJECT, avro(ARREARS_V1))
    with pytest.raises(SchemaRegistryError) as err:
        call(client)
    assert (err.value.http_status_code, err.value.error_code) == (status, code)


def test_deleted_subject_is_gone_but_its_ids_still_resolve(
    client: SchemaRegistryClient, url: str, new_client: MakeClient
) -> None:
    schema_id = client.register_schema(SUBJECT, avro(ARREARS_V1))
    assert client.delete_subject(SUBJECT) == [1]
    assert client.get_subjects() == []
    fresh = new_client(url)
    assert json.loads(fresh.get_schema(schema_id).schema_str or "") == ARREARS_V1


def test_restarted_store_serves_the_same_ids(state_file: Path, new_client: MakeClient) -> None:
    with serve(RegistryStore(state_file)) as url:
        first = new_client(url)
        v1 = first.register_schema(SUBJECT, avro(ARREARS_V1))
        v2 = first.register_schema(SUBJECT, avro(ARREARS_V2))
        first.set_compatibility(SUBJECT, "BACKWARD_TRANSITIVE")
    with serve(RegistryStore(state_file)) as url:
        second = new_client(url)
        assert json.loads(second.get_schema(v1).schema_str or "") == ARREARS_V1
        assert second.get_latest_version(SUBJECT).schema_id == v2
        assert second.register_schema(SUBJECT, avro(ARREARS_V2)) == v2
        assert second.get_compatibility(SUBJECT) == "BACKWARD_TRANSITIVE"
        assert second.register_schema("new-value", avro({**ARREARS_V1, "doc": "x"})) == v2 + 1
    assert not [p for p in state_file.parent.iterdir() if p.name.endswith(".tmp")]


def test_avro_serializer_round_trips_through_the_embedded_registry(
    client: SchemaRegistryClient, url: str, new_client: MakeClient
) -> None:
    schema_str = json.dumps(ARREARS_V2, ensure_ascii=False)
    serializer = AvroSerializer(client, schema_str, conf={"auto.register.schemas": True})
    ctx = SerializationContext("credit.legal_arrears", MessageField.VALUE)
    record = {"uscc": "91350100M000100Y43", "arrears_amount": 1280.5, "severity": "严重"}

    data = serializer(record, ctx)

    assert data is not None and data[0] == 0  # Confluent framing: magic byte, then the id
    schema_id = int.from_bytes(data[1:5], "big")
    assert client.get_latest_version(SUBJECT).schema_id == schema_id
    reader = new_client(url)  # its own, cold cache
    assert AvroDeserializer(reader)(data, ctx) == record


def test_raw_http_shapes_match_confluent(client: SchemaRegistryClient, url: str) -> None:
    client.register_schema(SUBJECT, avro(ARREARS_V1))
    body = {"schema": json.dumps(ARREARS_BROKEN), "schemaType": "AVRO", "references": []}
    with httpx.Client(base_url=url) as http:
        answer = http.post(
            f"/compatibility/subjects/{SUBJECT}/versions/latest?verbose=true", json=body
        )
        assert answer.headers["content-type"].startswith("application/vnd.schemaregistry.v1+json")
        assert answer.json() == {
            "is_compatible": False,
            "messages": ["version 1: field 'severity' added without a default"],
        }
        by_id = http.get("/schemas/ids/1", params={"subject": SUBJECT}).json()
        assert set(by_id) == {"schema"}  # AVRO: no schemaType, as Confluent answers
        assert http.get(f"/subjects/{SUBJECT}/versions/1").json()["id"] == 1
        missing = http.get("/subjects/nobody-value/versions")
        assert (missing.status_code, missing.json()["error_code"]) == (404, 40401)
        level = http.put(f"/config/{SUBJECT}", json={"compatibility": "backward_transitive"})
        assert level.json() == {"compatibility": "BACKWARD_TRANSITIVE"}
        assert http.get("/metrics").text == "up 1\n"


def test_failed_write_leaves_the_registry_unchanged(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where the state directory should be")
    store = RegistryStore(tmp_path / "blocker" / "state.json")
    with pytest.raises(RegistryStateError, match="cannot write"):
        store.register(SUBJECT, json.dumps(ARREARS_V1))
    assert store.subjects() == []


def test_concurrent_registrations_share_one_id(state_file: Path) -> None:
    store = RegistryStore(state_file)
    text = json.dumps(ARREARS_V1)
    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = set(pool.map(lambda n: store.register(f"topic{n % 4}-value", text), range(32)))
    assert ids == {1}
    assert RegistryStore(state_file).subjects() == [f"topic{n}-value" for n in range(4)]
