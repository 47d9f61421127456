"""Errors that leave the schemas package: catalog problems, unknown classes, codec failures."""

from __future__ import annotations

from credit.errors import CreditError


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
