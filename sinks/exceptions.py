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


class ClusterDdlError(CreditError, ValueError):
    """A name or statement the cluster variant cannot be generated for."""


class GovernanceError(QueryError):
    """An objection, authorization or audit request that cannot be carried out (and why)."""


class NotFoundError(GovernanceError):
    """The objection, authorization or record named does not exist."""


class ForbiddenError(GovernanceError):
    """The caller may not act on this objection or record (not its subject / provider)."""


class StageError(GovernanceError):
    """The step does not fit the objection's current stage (already resolved, not accepted …)."""


class CalendarRangeError(CreditError):
    """A date in a year the holiday calendar has no data for."""
