"""Errors that leave the sinks package."""

from __future__ import annotations

from schemas.errors import CreditError


class StoreError(CreditError):
    """ClickHouse (server or embedded chDB) refused or could not be reached."""


class QueryError(CreditError):
    """An analyst query that is not allowed or failed; the message says which."""


class StoreRejectedError(StoreError):
    """ClickHouse refuses the data itself (a value a column type cannot hold): retrying the
    same rows cannot succeed, so the sink finds the offending rows and dead-letters them."""
