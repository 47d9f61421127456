"""Errors that leave the schemas package: catalog problems, unknown classes, codec failures."""

from __future__ import annotations

from schemas.errors import CreditError


class CatalogError(CreditError):
    """The catalog data in the repo is inconsistent; fix the YAML named in the message."""


class UnknownClassError(CreditError):
    """A class code or Chinese name that the catalog does not know."""


class SchemaMismatchError(CreditError):
    """A checked-in `.avsc` disagrees with what the catalog generates."""


class IncompatibleSchemaError(CreditError):
    """A schema change that readers of released versions could not follow."""


class CodecError(CreditError):
    """Bytes that are not a Confluent-framed Avro record this platform can read."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class BlockError(CreditError):
    """A batch's bodies do not decode as one Avro block (a corrupt, truncated or foreign
    body): read them one by one instead."""


class InvalidSchemaError(CreditError):
    """Text that is not valid Avro, or a schema type the embedded registry does not keep."""


class InvalidCompatibilityLevelError(CreditError):
    """A compatibility level that is unknown, or known but not enforced by the embedded registry."""


class RegistryLookupError(CreditError):
    """Base of the registry's "not found" errors, so callers can treat them alike."""


class SubjectNotFoundError(RegistryLookupError):
    """No subject of that name is registered (Confluent error 40401)."""


class SchemaVersionNotFoundError(RegistryLookupError):
    """The subject exists but has no such version (Confluent error 40402)."""


class SchemaNotFoundError(RegistryLookupError):
    """No schema with that id, or the schema is not registered under the subject (40403)."""


class InvalidVersionError(CreditError):
    """A version that is neither a positive integer nor "latest" (Confluent error 42202)."""


class RegistryStateError(CreditError):
    """The registry's state file cannot be read or written; the message names the file."""


class PeriodError(CreditError):
    """A reporting period (报送期) that is not a month, quarter, year or span of days."""


class BatchHeaderError(CreditError):
    """A batch's headers promise more records than its body can hold."""


class RegistryRequestError(CreditError):
    """A request the registry refuses before reaching the store (bad body, unset config)."""

    def __init__(self, status: int, error_code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
