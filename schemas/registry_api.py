"""The Confluent Schema Registry REST API, served from a `RegistryStore` by aiohttp.

Only the part that Confluent clients use (confluent-kafka's `SchemaRegistryClient`, its
Avro serializers, Kafka Connect, ksqlDB) is served, at the root of the host application as
the clients expect; the host keeps its own `/api/...` and `/metrics` routes. Responses use
Confluent's shapes and error codes so that an unchanged client can tell nothing apart:

    404 40401 subject not found      422 42201 invalid schema
    404 40402 version not found      422 42202 invalid version
    404 40403 schema not found       422 42203 invalid compatibility level
    404 40408 no subject-level level 409 409   incompatible schema
                                     500 50001 state file cannot be written

Schemas of type AVRO are returned without "schemaType", as Confluent does (clients default
it to AVRO). Request fields the registry does not use ("metadata", "ruleSet", the
"normalize" and "deleted" flags) are accepted and ignored; schema references are refused,
since the embedded registry cannot resolve them.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, TypeVar

from aiohttp import web

from schemas.compatibility import CompatibilityLevel
from schemas.errors import CreditError
from schemas.exceptions import (
    IncompatibleSchemaError,
    InvalidCompatibilityLevelError,
    InvalidSchemaError,
    InvalidVersionError,
    RegistryRequestError,
    RegistryStateError,
    SchemaNotFoundError,
    SchemaVersionNotFoundError,
    SubjectNotFoundError,
)
from schemas.registry_store import RegistryStore, SubjectVersion, VersionRef

CONTENT_TYPE: Final = "application/vnd.schemaregistry.v1+json"

_Handler = Callable[[web.Request], Awaitable[web.Response]]
_T = TypeVar("_T")


# Our errors → (HTTP status, Confluent error_code); first matching class wins.
_ERROR_CODES: Final[tuple[tuple[type[CreditError], int, int], ...]] = (
    (SubjectNotFoundError, 404, 40401),
    (SchemaVersionNotFoundError, 404, 40402),
    (SchemaNotFoundError, 404, 40403),
    (IncompatibleSchemaError, 409, 409),
    (InvalidSchemaError, 422, 42201),
    (InvalidVersionError, 422, 42202),
    (InvalidCompatibilityLevelError, 422, 42203),
    (RegistryStateError, 500, 50001),
)


def add_registry_routes(app: web.Application, store: RegistryStore) -> None:
    """Mount the registry's Confluent paths on `app` (before it starts)."""
    api = _RegistryApi(store)
    routes = [
        ("GET", "/schemas/types", api.schema_types),
        ("GET", "/schemas/ids/{schema_id}", api.schema_by_id),
        ("GET", "/schemas/ids/{schema_id}/versions", api.versions_of_id),
        ("GET", "/schemas/ids/{schema_id}/subjects", api.subjects_of_id),
        ("GET", "/subjects", api.list_subjects),
        ("POST", "/subjects/{subject}", api.lookup),
        ("DELETE", "/subjects/{subject}", api.delete_subject),
        ("GET", "/subjects/{subject}/versions", api.list_versions),
        ("POST", "/subjects/{subject}/versions", api.register),
        ("GET", "/subjects/{subject}/versions/{version}", api.get_version),
        ("POST", "/compatibility/subjects/{subject}/versions", api.test_compatibility),
        ("POST", "/compatibility/subjects/{subject}/versions/{version}", api.test_compatibility),
        ("GET", "/config", api.get_config),
        ("PUT", "/config", api.put_config),
        ("DELETE", "/config", api.delete_config),
        ("GET", "/config/{subject}", api.get_config),
        ("PUT", "/config/{subject}", api.put_config),
        ("DELETE", "/config/{subject}", api.delete_config),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, path, _confluent_errors(handler))


class _RegistryApi:
    """One method per route; each parses the request, asks the store, shapes the answer."""

    def __init__(self, store: RegistryStore) -> None:
        self._store = store

    async def schema_types(self, request: web.Request) -> web.Response:
        return _ok(["AVRO"])

    async def schema_by_id(self, request: web.Request) -> web.Response:
        stored = self._store.get_by_id(_schema_id(request))
        return _ok(_with_type({"schema": stored.schema}, stored.schema_type))

    async def versions_of_id(self, request: web.Request) -> web.Response:
        pairs = self._store.versions_of_id(_schema_id(request))
        return _ok([{"subject": subject, "version": version} for subject, version in pairs])

    async def subjects_of_id(self, request: web.Request) -> web.Response:
        pairs = self._store.versions_of_id(_schema_id(request))
        return _ok(sorted({subject for subject, _ in pairs}))

    async def list_subjects(self, request: web.Request) -> web.Response:
        prefix = request.query.get("subjectPrefix", "")
        subjects = [s for s in self._store.subjects() if s.startswith(prefix)]
        return _ok(_page(subjects, request))

    async def lookup(self, request: web.Request) -> web.Response:
        schema, schema_type = _schema_request(await _body(request))
        found = self._store.lookup(request.match_info["subject"], schema, schema_type)
        return _ok(_version_json(found))

    async def delete_subject(self, request: web.Request) -> web.Response:
        subject = request.match_info["subject"]
        return _ok(await _off_loop(self._store.delete_subject, subject))

    async def list_versions(self, request: web.Request) -> web.Response:
        return _ok(_page(self._store.versions(request.match_info["subject"]), request))

    async def register(self, request: web.Request) -> web.Response:
        schema, schema_type = _schema_request(await _body(request))
        subject = request.match_info["subject"]
        schema_id = await _off_loop(self._store.register, subject, schema, schema_type)
        return _ok({"id": schema_id})

    async def get_version(self, request: web.Request) -> web.Response:
        version = _version(request.match_info["version"])
        found = self._store.get_version(request.match_info["subject"], version)
        return _ok(_version_json(found))

    async def test_compatibility(self, request: web.Request) -> web.Response:
        """With a version: against that version; without: as registering would check."""
        raw_version = request.match_info.get("version")
        version = None if raw_version is None else _version(raw_version)
        schema, _ = _schema_request(await _body(request))
        ok, messages = self._store.test_compatibility(
            request.match_info["subject"], schema, version
        )
        answer: dict[str, Any] = {"is_compatible": ok}
        if _flag(request, "verbose"):
            answer["messages"] = messages
        return _ok(answer)

    async def get_config(self, request: web.Request) -> web.Response:
        subject = request.match_info.get("subject")
        if subject is None:
            return _ok({"compatibilityLevel": self._store.get_config().value})
        level = self._store.get_subject_config(subject)
        if level is None and _flag(request, "defaultToGlobal"):
            level = self._store.get_config()
        if level is None:
            raise RegistryRequestError(
                404,
                40408,
                f"Subject '{subject}' does not have subject-level compatibility configured",
            )
        return _ok({"compatibilityLevel": level.value})

    async def put_config(self, request: web.Request) -> web.Response:
        body = await _body(request)
        requested = body.get("compatibility") or body.get("compatibilityLevel")
        if not isinstance(requested, str):
            raise InvalidCompatibilityLevelError("Invalid compatibility level: none given")
        subject = request.match_info.get("subject")
        level = await _off_loop(self._store.set_config, requested, subject)
        return _ok({"compatibility": level.value})

    async def delete_config(self, request: web.Request) -> web.Response:
        """Subject: fall back to the global level. Global: back to the default, BACKWARD."""
        subject = request.match_info.get("subject")
        if subject is None:
            previous = self._store.get_config()
            await _off_loop(self._store.set_config, CompatibilityLevel.BACKWARD)
            return _ok({"compatibilityLevel": previous.value})
        deleted = await _off_loop(self._store.delete_config, subject)
        if deleted is None:
            raise SubjectNotFoundError(f"Subject '{subject}' not found.")
        return _ok({"compatibilityLevel": deleted.value})


# --- request parsing -----------------------------------------------------------------------


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise RegistryRequestError(400, 400, f"request body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise RegistryRequestError(400, 400, "request body must be a JSON object")
    return body


def _schema_request(body: dict[str, Any]) -> tuple[str, str]:
    """(schema text, schema type) from a register/lookup/compatibility body."""
    schema = body.get("schema")
    if not isinstance(schema, str) or not schema.strip():
        raise InvalidSchemaError("Empty schema")
    if body.get("references"):
        raise InvalidSchemaError(
            "schema references are not supported by the embedded registry; "
            "define the referenced types inline"
        )
    return schema, str(body.get("schemaType") or "AVRO")


def _schema_id(request: web.Request) -> int:
    raw = request.match_info["schema_id"]
    if not raw.isdigit():
        raise SchemaNotFoundError(f"Schema {raw} not found")
    return int(raw)


def _version(raw: str) -> VersionRef:
    """ "latest" or -1 mean the newest version; else a positive integer."""
    text = raw.strip().lower()
    if text in ("latest", "-1"):
        return "latest"
    if text.isdigit() and 1 <= int(text) < 2**31:
        return int(text)
    raise InvalidVersionError(
        f"The specified version '{raw}' is not a valid version id. "
        'Allowed values are between [1, 2^31-1] and the string "latest"'
    )


def _flag(request: web.Request, name: str) -> bool:
    """Query booleans as Python clients send them: "True", "true", "False"..."""
    return request.query.get(name, "false").strip().lower() == "true"


def _page(items: Sequence[_T], request: web.Request) -> list[_T]:
    """Confluent's offset/limit paging; a limit below 1 means everything."""
    offset = _int_query(request, "offset", 0)
    limit = _int_query(request, "limit", -1)
    selected = list(items[max(offset, 0) :])
    return selected[:limit] if limit > 0 else selected


def _int_query(request: web.Request, name: str, default: int) -> int:
    try:
        return int(request.query.get(name, default))
    except ValueError:
        return default


# --- responses -----------------------------------------------------------------------------


def _ok(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, content_type=CONTENT_TYPE)


def _error(status: int, error_code: int, message: str) -> web.Response:
    return _ok({"error_code": error_code, "message": message}, status=status)


def _with_type(answer: dict[str, Any], schema_type: str) -> dict[str, Any]:
    if schema_type != "AVRO":
        answer["schemaType"] = schema_type
    return answer


def _version_json(found: SubjectVersion) -> dict[str, Any]:
    answer = {
        "subject": found.subject,
        "version": found.version,
        "id": found.schema_id,
        "schema": found.schema,
    }
    return _with_type(answer, found.schema_type)


def _confluent_errors(handler: _Handler) -> _Handler:
    """Turn our errors into Confluent's error body, so clients raise SchemaRegistryError."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except RegistryRequestError as exc:
            return _error(exc.status, exc.error_code, str(exc))
        except CreditError as exc:
            for error_type, status, error_code in _ERROR_CODES:
                if isinstance(exc, error_type):
                    return _error(status, error_code, str(exc))
            raise

    return wrapped


async def _off_loop(call: Callable[..., _T], *args: Any) -> _T:
    """Run a store write in a thread: it fsyncs a file, which must not stall the host loop."""
    return await asyncio.to_thread(call, *args)
